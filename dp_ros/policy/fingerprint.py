"""A fingerprint of the arithmetic a machine does for a policy: the bytes of the chunk the
policy samples for a fixed synthetic observation and noise seed.

Closed-loop scores recorded on one machine replay to the bit on another only where this
matches: the float sums inside a convolution depend on the CPU's kernels and torch's thread
count, and a long contact-rich episode turns the last bit into another score. Two machines
that both report torch's cpu capability 'AVX512' (2026-12) sampled different chunks, and the
shipped policy scored 0.955 on one and 0.904 on the other for seed 100001.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch


def chunk_fingerprint(policy: Any) -> str:
    """16 hex digits of sha256 over the fp32 action_pred of `policy` (loaded, on its device,
    with its dtype and TorchScript setting) for one fixed observation history: images and
    low-dim values drawn from numpy's generator 0 (in [0, 1)), noise from a torch generator
    seeded 0. The caller sets the thread count it wants fingerprinted."""
    cfg = policy.config
    device = next(policy.parameters()).device
    rng = np.random.default_rng(0)
    obs = {key: torch.from_numpy(rng.random((1, cfg.n_obs_steps, *cfg.obs_shape(key)),
                                            dtype=np.float32)).to(device)
           for key in cfg.obs_keys}
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        pred = policy.predict_action(obs, generator=generator)['action_pred']
    data = pred.detach().to('cpu', torch.float32).numpy().astype('<f4').tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def checkpoint_fingerprint(checkpoint: Any, threads: int, torchscript: bool = True) -> str:
    """chunk_fingerprint of a policy directory as `dp-ros eval --via inprocess --threads N`
    runs it on the CPU (fp32; TorchScript unless --eager); torch's thread count restored."""
    from dp_ros.policy.checkpoint import load_policy

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        policy = load_policy(checkpoint, device='cpu', dtype=None)
        policy.use_torchscript(torchscript)
        return chunk_fingerprint(policy)
    finally:
        torch.set_num_threads(before)
