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


def gpu_settings_on_cpu(device_type: str, cuda_available: bool, train_cpu: bool,
                        device_batches: bool, torch_compile: str | None) -> str | None:
    """The warning for settings meant for a GPU in a run on the CPU, or None: the CPU
    recipes pin `train.cpu: true`, so a GPU recipe's overrides on one of them would otherwise
    train for hours on the CPU of a machine with a GPU."""
    if device_type != 'cpu':
        return None
    asked = [name for name, on in (('data.device_batches', device_batches),
                                   ('train.torch_compile', bool(torch_compile))) if on]
    if asked and cuda_available and train_cpu:
        return (f"{' and '.join(asked)} {'is' if len(asked) == 1 else 'are'} meant for a GPU, "
                'but train.cpu is true (the CPU recipes set it): this run trains on the CPU '
                'although CUDA is present; add train.cpu=false to train on the GPU')
    if torch_compile and torch_compile != 'aot_eager':
        return (f'train.torch_compile {torch_compile} on the CPU: the first step compiles for '
                'minutes and the step is barely faster (the README measured 0.588 s -> 0.566 '
                's a step); it is meant for a GPU')
    return None
