"""What goes into predict_action, made the same way wherever the policy runs.

The in-process evaluation and the ROS node must hand the model bit-identical inputs and
noise, or the same checkpoint scores differently through ROS: a different memory layout
alone changes a convolution's floating-point sums. Both use these functions.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

EPISODE_SEED_FACTOR = 1_000_003


def episode_seed(sample_seed: int, env_seed: int) -> int:
    """The sampling seed of one episode: independent of which episodes share a batch."""
    return int(sample_seed) * EPISODE_SEED_FACTOR + int(env_seed)


def episode_generator(sample_seed: int, env_seed: int,
                      device: str | torch.device = 'cpu') -> torch.Generator:
    """The generator an episode draws all its chunks' noise from, in order."""
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(episode_seed(sample_seed, env_seed))
    return gen


def frames_as_fed(images: torch.Tensor) -> torch.Tensor:
    """(B, T, C, H, W) frames, same values, with the strides batch_observations gives them
    (channels last): the layout the node and evaluation feed the encoder, whose kernels (and
    so whose float sums) depend on it; a CUDA graph's frame buffers and tests use it too."""
    return images.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)


def batch_observations(episodes: Sequence[Mapping[str, Sequence[np.ndarray]]],
                       rgb_keys: Sequence[str],
                       device: torch.device | str = 'cpu') -> dict[str, torch.Tensor]:
    """Per episode, per key, n_obs_steps samples (oldest first) -> the policy's batch.

    Images (H, W, 3) uint8 become (B, T, 3, H, W) float32 in [0, 1], permuted rather than
    copied (channels-last strides); low-dim samples become (B, T, D) float32.
    """
    if len(episodes) == 0:
        raise ValueError('batch_observations: no episodes (a batch needs at least one)')
    keys = list(episodes[0])
    for index, episode in enumerate(episodes[1:], 1):
        if set(episode) != set(keys):  # a missing key was a bare KeyError
            raise ValueError(f'batch_observations: episode {index} has keys {sorted(episode)}, '
                             f'episode 0 {sorted(keys)}')
    out = {}
    for key in keys:
        if key in rgb_keys:
            images = np.stack([np.stack(ep[key]) for ep in episodes])  # B T H W C uint8
            if images.dtype != np.uint8 or images.ndim != 5 or images.shape[-1] != 3:
                # a float frame in [0, 1] became [0, 0.004], a uint16 one up to 257, unnoticed
                raise ValueError(f'camera {key!r}: frames must be (H, W, 3) uint8, got '
                                 f'{images.shape[2:]} {images.dtype}')
            out[key] = torch.from_numpy(images).to(device).permute(0, 1, 4, 2, 3).float() \
                .div_(255.0)
        else:
            values = np.stack([np.stack([np.asarray(s) for s in ep[key]]) for ep in episodes])
            out[key] = torch.from_numpy(values.astype(np.float32)).to(device)
    return out
