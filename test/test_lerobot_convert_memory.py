"""`dp-ros convert` LeRobot -> zarr streams the decoded frames episode by episode.

A LeRobot dataset of a lab (two 640x480 cameras at 30 fps, 100 episodes of 30 s: 166 GB of
frames once decoded) must convert back without holding every decoded frame. Pinned: the
peak memory does not grow with the episodes, the store written is byte for byte the one the
whole-array write (ReplayBuffer.save_to) gives, and a conversion that fails midway still
leaves nothing behind."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from support import write_random_walk_store

from training.lerobot_convert import lerobot_to_zarr, zarr_to_lerobot
from training.lerobot_format import LeRobotFormatError, LeRobotReader
from training.replay_buffer import ReplayBuffer


def back_to_zarr_peak(tmp_path: Path, n_episodes: int) -> int:
    """tracemalloc peak (bytes) of converting a LeRobot set of n_episodes episodes of 40
    96x96 frames back into a zarr store."""
    store = tmp_path / f'demos_{n_episodes}.zarr'
    write_random_walk_store(store, [40] * n_episodes)
    lerobot = tmp_path / f'demos_{n_episodes}_lerobot'
    zarr_to_lerobot(store, lerobot, fps=10, progress=False)
    tracemalloc.start()
    try:
        report = lerobot_to_zarr(lerobot, tmp_path / f'back_{n_episodes}.zarr', progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report['episodes'] == n_episodes
    return peak


def test_lerobot_to_zarr_holds_about_one_episode_not_every_decoded_frame(tmp_path):
    """LeRobot -> zarr of 32 episodes needs about the memory of 8: the 24 more episodes'
    decoded frames (26 MB) are not all held at once (they were)."""
    eight = back_to_zarr_peak(tmp_path, 8)
    many = back_to_zarr_peak(tmp_path, 32)
    extra_frames = 24 * 40 * 96 * 96 * 3
    assert many - eight < 0.4 * extra_frames, (eight, many, extra_frames)


@pytest.fixture
def lerobot_set(tmp_path) -> Path:
    """Two cameras of other sizes, float, int and 1-D columns, episodes of uneven lengths
    (one shorter than a chunk of either camera)."""
    rng = np.random.default_rng(0)
    buf = ReplayBuffer.create(tmp_path / 'src.zarr')
    for n in (37, 52, 9, 80, 41):
        buf.add_episode({'img': rng.integers(0, 256, (n, 96, 96, 3)).astype(np.uint8),
                         'wrist': rng.integers(0, 256, (n, 48, 64, 3)).astype(np.uint8),
                         'state': rng.normal(size=(n, 5)).astype(np.float32),
                         'flag': rng.integers(0, 3, (n,)).astype(np.int64),
                         'action': rng.normal(size=(n, 2)).astype(np.float32)})
    root = tmp_path / 'src_lerobot'
    zarr_to_lerobot(tmp_path / 'src.zarr', root, fps=10, progress=False)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file()}


def test_the_streamed_store_is_byte_for_byte_the_whole_array_write(lerobot_set, tmp_path):
    """Every file of the store (chunks, array and group metadata) is what saving the whole
    decoded arrays at once writes."""
    reader = LeRobotReader(lerobot_set)
    keys = {'img': 'observation.image', 'wrist': 'wrist', 'state': 'observation.state',
            'flag': 'flag', 'action': 'action'}
    table = reader.read_columns(['observation.state', 'flag', 'action'])
    data = {name: (reader.camera_frames(f) if f in reader.camera_keys else table[f])
            for name, f in keys.items()}
    whole = tmp_path / 'whole.zarr'
    ReplayBuffer.from_arrays(data, reader.episode_ends()).save_to(whole, progress=False)
    store = ReplayBuffer.open(whole, mode='r+')
    store.set_root_attrs(fps=reader.fps)
    for name in ('img', 'wrist'):  # the conversion records each camera's frame size
        store.data[name].attrs['frame_size'] = list(data[name].shape[1:3])
    streamed = tmp_path / 'streamed.zarr'
    lerobot_to_zarr(lerobot_set, streamed, progress=False)
    assert _files(streamed) == _files(whole)


def test_a_conversion_failing_midway_leaves_nothing(lerobot_set, tmp_path):
    """The second camera's video is missing: its error comes after the first camera and the
    columns are written, and neither the output nor a temporary store is left."""
    next((lerobot_set / 'videos' / 'wrist').rglob('*.mp4')).unlink()
    with pytest.raises(LeRobotFormatError, match='missing'):
        lerobot_to_zarr(lerobot_set, tmp_path / 'out.zarr', progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['src.zarr', 'src_lerobot']


def test_video_episodes_hands_over_each_episode_as_the_whole_decode_has_it(lerobot_set):
    """Every episode, in order, or the chosen ones alone: the frames the whole-camera decode
    gives for their rows (the same nearest-frame rule)."""
    reader = LeRobotReader(lerobot_set)
    ts = reader.read_columns(['timestamp'])['timestamp'].reshape(-1)
    ends = reader.episode_ends()
    for key in ('observation.image', 'wrist'):
        whole = reader.video_frames(key, ts)
        for chosen in (None, [3, 1], [4]):
            got = list(reader.video_episodes(key, ts, episodes=chosen))
            assert [i for i, _ in got] == (list(range(5)) if chosen is None else sorted(chosen))
            for i, frames in got:
                assert np.array_equal(frames, whole[ends[i] - len(frames):ends[i]])
                assert len(frames) == reader.episodes[i]['length']
