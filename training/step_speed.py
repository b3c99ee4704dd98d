"""The training step's speed switches (issue 15): train.torch_compile and train.tf32.

Kept apart from the loop so that bench/bench_gpu.py measures the step as `dp-ros train`
takes it.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def compile_convolutions(policy: nn.Module, mode: str = 'default') -> None:
    """train.torch_compile: each camera's ResNet trunk and the UNet compiled in place, so the
    parameter names (checkpoints, train states, the EMA's order) stay those of eager. `mode`:
    one of training.config.COMPILE_MODES."""
    kwargs = {'backend': 'aot_eager'} if mode == 'aot_eager' else {'mode': mode}
    for camera in policy.obs_encoder.cameras.values():
        camera.backbone.compile(**kwargs)
    policy.model.compile(**kwargs)


@contextlib.contextmanager
def tf32_matmuls(enabled: bool) -> Iterator[None]:
    """train.tf32 for the run, the process's setting restored after it (a notebook or a test
    that trains goes on with its own)."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
