"""dp_ros.policy.fingerprint: the key that says whether recorded closed-loop scores can replay
to the bit here (test_shipped_policy.py). It must be a pure function of the weights and the
machine's arithmetic: the same twice, and another for a weight one float step away."""
from __future__ import annotations

import numpy as np
import torch
from support import make_tiny_checkpoint

from dp_ros.policy.checkpoint import load_policy
from dp_ros.policy.fingerprint import checkpoint_fingerprint, chunk_fingerprint


def test_the_same_policy_gives_the_same_fingerprint_and_one_ulp_another(tmp_path):
    path = make_tiny_checkpoint(tmp_path / 'tiny')
    first = checkpoint_fingerprint(path, threads=1, torchscript=False)
    assert len(first) == 16 and int(first, 16) >= 0
    assert checkpoint_fingerprint(path, threads=1, torchscript=False) == first
    policy = load_policy(path, device='cpu', dtype=None)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert chunk_fingerprint(policy) == first
        with torch.no_grad():
            weight = next(p for p in policy.parameters() if p.numel() > 1)
            weight.view(-1)[0] = torch.from_numpy(np.nextafter(
                weight.view(-1)[:1].numpy(), np.float32(np.inf)))[0]
        assert chunk_fingerprint(policy) != first
    finally:
        torch.set_num_threads(before)
