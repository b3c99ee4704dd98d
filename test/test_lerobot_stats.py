"""meta/stats.json and the episodes' stats/* as lerobot 0.4.4 computes them
(src/lerobot/datasets/compute_stats.py), so that lerobot's normalizer can use them.

A numeric feature's stats are per value of its last dimension (RunningQuantileStats.update:
batch.reshape(-1, batch.shape[-1])), with quantiles read off a 5000-bin histogram; a camera's
are per channel over sampled, downsampled frames (sample_indices, auto_downsample_height_width).
lerobot itself does not install here: `lerobot_quantiles` below restates its histogram rule,
and the writer's numbers were compared with lerobot 0.4.4's own compute_stats in a separate
environment (equal bit for bit for numeric features).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from training.lerobot_format import (
    LeRobotWriter,
    _image_sample,
    feature_stats,
    numeric_feature,
    video_feature,
)

QUANTILES = {'q01': 0.01, 'q10': 0.10, 'q50': 0.50, 'q90': 0.90, 'q99': 0.99}


def lerobot_quantiles(rows):
    """lerobot 0.4.4 RunningQuantileStats after one update(rows) (rows: (N, d) float32):
    5000 bins between each column's min - 1e-10 and max + 1e-10, the quantile interpolated
    inside the bin where the cumulative count reaches q * N."""
    out = {k: [] for k in QUANTILES}
    for column in rows.T:
        edges = np.linspace(column.min() - 1e-10, column.max() + 1e-10, 5001)
        cumsum = np.cumsum(np.histogram(column, bins=edges)[0])
        for key, q in QUANTILES.items():
            target = q * len(column)
            i = int(np.searchsorted(cumsum, target))
            if i == 0 or i >= len(cumsum):
                out[key].append(edges[0] if i == 0 else edges[-1])
                continue
            before = cumsum[i - 1]
            out[key].append(edges[i] + (target - before) / (cumsum[i] - before)
                            * (edges[i + 1] - edges[i]))
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope='module')
def keypoint_dataset(tmp_path_factory):
    """Two episodes of a Push-T-like keypoint (n, 9, 2), a (n,) reward and a (n, 3) state."""
    rng = np.random.default_rng(3)
    eps = [{'keypoint': rng.normal(250, 60, (n, 9, 2)).astype(np.float32),
            'reward': rng.random(n).astype(np.float32),
            'observation.state': rng.normal(0, 1, (n, 3)).astype(np.float32)}
           for n in (31, 47)]
    root = tmp_path_factory.mktemp('stats') / 'ds'
    with LeRobotWriter(root, 10, {k: numeric_feature(v) for k, v in eps[0].items()}) as writer:
        for ep in eps:
            writer.add_episode(ep)
    return root, eps


def test_a_2d_feature_has_stats_per_last_dimension_that_normalize_its_batches(keypoint_dataset):
    root, eps = keypoint_dataset
    stats = json.loads((root / 'meta/stats.json').read_text())
    kp = np.concatenate([ep['keypoint'] for ep in eps])
    for name in ('min', 'max', 'mean', 'std', *QUANTILES):
        assert np.asarray(stats['keypoint'][name]).shape == (2,), name
    assert stats['keypoint']['count'] == [len(kp)]  # frames, not frames x 9
    assert np.allclose(stats['keypoint']['mean'], kp.reshape(-1, 2).mean(0), rtol=1e-5)
    assert np.allclose(stats['keypoint']['std'], kp.reshape(-1, 2).std(0), rtol=1e-4)
    assert np.array_equal(stats['keypoint']['min'], kp.reshape(-1, 2).min(0))
    # lerobot's normalizer: (x - mean) / (std + eps) on a (B, 9, 2) batch
    batch = kp[:8]
    mean, std = np.asarray(stats['keypoint']['mean']), np.asarray(stats['keypoint']['std'])
    assert ((batch - mean) / (std + 1e-8)).shape == (8, 9, 2)
    # a (n,) feature: shape [1], stats (1,), as lerobot's keepdims for 1-D data gives
    assert np.asarray(stats['reward']['mean']).shape == (1,)
    assert np.asarray(stats['observation.state']['q50']).shape == (3,)


def test_an_episodes_stats_are_lerobots_including_its_histogram_quantiles():
    rng = np.random.default_rng(4)
    keypoint = rng.normal(250, 60, (40, 9, 2)).astype(np.float32)
    keypoint[0, 0] = 900.0  # an outlier, where np.quantile and the histogram differ most
    stats = feature_stats(keypoint)
    rows = keypoint.reshape(-1, 2)
    expected = lerobot_quantiles(rows)
    for key in QUANTILES:
        assert np.allclose(stats[key], expected[key], rtol=0, atol=1e-9), key
    # the histogram's q01 is not numpy's (the old stats' np.quantile)
    assert not np.allclose(stats['q01'], np.quantile(rows, 0.01, axis=0), rtol=0, atol=1e-3)
    mean = rows.mean(0)
    assert np.array_equal(stats['std'], np.sqrt(np.maximum(0, (rows ** 2).mean(0) - mean ** 2)))
    reward = rng.random(25).astype(np.float32)
    for values in (reward, reward[:, None]):
        got = feature_stats(values)
        assert got['mean'].shape == (1,) and got['count'].tolist() == [25]
        assert np.allclose(got['q90'], lerobot_quantiles(reward[:, None])['q90'], atol=1e-9)


def test_a_one_frame_episode_gets_basic_stats_of_the_same_shape():
    one = feature_stats(np.arange(18, dtype=np.float32).reshape(1, 9, 2))
    assert one['mean'].shape == (2,) and one['count'].tolist() == [1]
    assert np.array_equal(one['q50'], one['mean'])  # lerobot: quantiles = mean below 2 frames


def test_image_stats_of_a_large_frame_are_those_of_its_lerobot_subsampled_frame():
    rng = np.random.default_rng(5)
    big = rng.integers(0, 256, (3, 600, 800, 3), dtype=np.uint8)
    big[..., 1] //= 4  # channels of different ranges
    small = big[:, ::5, ::5]  # lerobot: max side 800 >= 300 -> every int(800 / 150) = 5th px
    got, expected = feature_stats(big, image=True), feature_stats(small, image=True)
    for key in got:
        assert np.allclose(got[key], expected[key], rtol=0, atol=1e-12), key
    assert got['mean'].shape == (3, 1, 1) and got['count'].tolist() == [3]
    pixels = small.reshape(-1, 3).astype(np.float64) / 255
    assert np.allclose(got['mean'].ravel(), pixels.mean(0), atol=1e-12)
    assert np.allclose(got['std'].ravel(), pixels.std(0), atol=1e-12)  # no uint8 overflow
    assert np.allclose(got['max'].ravel(), pixels.max(0))
    # below 300 px on both sides: every pixel
    mid = big[:, :290, :298]
    pixels = mid.reshape(-1, 3).astype(np.float64) / 255
    assert np.allclose(feature_stats(mid, image=True)['mean'].ravel(), pixels.mean(0), atol=1e-12)


@pytest.mark.parametrize(('n', 'count'), [(1, 1), (60, 60), (100, 100), (400, 100),
                                           (1000, 177), (20000, 1681)])
def test_image_stats_sample_lerobots_number_of_frames(n, count):
    """compute_stats.sample_indices: estimate_num_samples(n) evenly spaced frames."""
    sample = _image_sample(n)
    assert len(sample) == count and sample[0] == 0 and sample[-1] == n - 1
    assert np.array_equal(sample, np.round(np.linspace(0, n - 1, count)).astype(int))


def test_the_writer_takes_a_cameras_stats_from_the_sampled_downsampled_frames(tmp_path):
    rng = np.random.default_rng(6)
    frames = rng.integers(0, 256, (120, 320, 240, 3), dtype=np.uint8)  # 120 frames -> 100
    root = tmp_path / 'cam'
    with LeRobotWriter(root, 10, {'cam': video_feature(320, 240)}) as writer:
        writer.add_episode({'cam': frames})
    stats = json.loads((root / 'meta/stats.json').read_text())['cam']
    sample = frames[_image_sample(120)][:, ::2, ::2]  # 320 >= 300: every int(320 / 150) = 2nd
    pixels = sample.reshape(-1, 3).astype(np.float64) / 255
    assert stats['count'] == [100]
    assert np.allclose(np.ravel(stats['mean']), pixels.mean(0), atol=1e-12)
    assert np.allclose(np.ravel(stats['std']), pixels.std(0), atol=1e-12)
