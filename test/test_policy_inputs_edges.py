"""Edges of dp_ros/policy/inputs.py: the dtype and layout of batch_observations' tensors
(fp32 low-dim values whatever the input dtype; images permuted, not copied, with H and W
kept apart on a non-square frame) and distinct episode seeds.
"""
from __future__ import annotations

import numpy as np
import torch

from dp_ros.policy.inputs import batch_observations, episode_seed


def _episodes() -> list[dict[str, list[np.ndarray]]]:
    rng = np.random.default_rng(0)
    return [{'cam': [rng.integers(0, 256, (4, 6, 3), dtype=np.uint8) for _ in range(2)],
             'pos': [np.array([1.5, -2.0], dtype=np.float64) + t for t in range(2)]}
            for _ in range(3)]


def test_low_dim_values_become_fp32_whatever_their_dtype():
    """float64 (or int) samples become float32 (B, T, D), the policy's input dtype."""
    episodes = _episodes()
    out = batch_observations(episodes, ['cam'])
    assert out['pos'].dtype == torch.float32 and out['pos'].shape == (3, 2, 2)
    assert out['pos'][0, 1].tolist() == [2.5, -1.0]
    ints = batch_observations([{'pos': [np.array([1, 2]), np.array([3, 4])]}], [])
    assert ints['pos'].dtype == torch.float32


def test_images_are_b_t_c_h_w_in_0_1_as_a_channels_last_view():
    """A (H, W, 3) uint8 frame becomes (3, H, W) / 255 with the channel stride 1."""
    episodes = _episodes()
    out = batch_observations(episodes, ['cam'])
    image = out['cam']
    assert image.shape == (3, 2, 3, 4, 6) and image.dtype == torch.float32
    frame = episodes[1]['cam'][0]
    assert torch.equal(image[1, 0], torch.from_numpy(frame).permute(2, 0, 1).float() / 255.0)
    assert image.stride()[2] == 1  # permuted, not copied: channels-last memory


def test_episode_seeds_differ_for_swapped_and_neighbouring_seeds():
    """(sample, env) pairs that a plain sum would merge give different seeds."""
    pairs = [(0, 1), (1, 0), (1, 1), (0, 2), (2, 0)]
    assert len({episode_seed(s, e) for s, e in pairs}) == len(pairs)
    assert episode_seed(3, 5) == 3 * 1_000_003 + 5
