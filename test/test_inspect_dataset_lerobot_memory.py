"""`dp-ros inspect` checks a LeRobot camera in blocks, as on a zarr store, with no float64 copy.

A LeRobot camera is decoded once into uint8 frames (by design: training reads it so), but
its statistics must not be taken over a float64 copy of every frame at once (6 GB of memory
for 331 MB of frames, 8x and more): they are taken a few MB of frames at a time, and give
the same numbers, bit for bit, as one block over all frames."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from support import write_random_walk_store

from training.inspect_dataset import _summarize_image
from training.inspect_dataset import main as inspect
from training.lerobot_convert import zarr_to_lerobot
from training.lerobot_source import LeRobotStore


def lerobot_set(tmp_path: Path, n_episodes: int) -> Path:
    """A LeRobot set of n_episodes episodes of 40 96x96 frames (zarr_to_lerobot)."""
    store = tmp_path / f'demos_{n_episodes}.zarr'
    write_random_walk_store(store, [40] * n_episodes)
    lerobot = tmp_path / f'demos_{n_episodes}_lerobot'
    zarr_to_lerobot(store, lerobot, fps=10, progress=False)
    return lerobot


@pytest.fixture(scope='module')
def sets(tmp_path_factory) -> dict[int, Path]:
    """LeRobot sets of 8 and 20 episodes, made once for this module's tests."""
    root = tmp_path_factory.mktemp('lerobot_sets')
    return {n: lerobot_set(root, n) for n in (8, 20)}


def inspect_peak(lerobot: Path) -> int:
    """tracemalloc peak (bytes) of `dp-ros inspect` on a LeRobot set."""
    tracemalloc.start()
    try:
        inspect([str(lerobot), '--no-progress'])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_inspect_of_a_lerobot_set_grows_by_its_frames_not_a_float64_copy_of_them(sets):
    """12 more episodes (13 MB of uint8 frames, decoded once by design) may add about those
    frames to the peak, not a float64 copy of every frame at once (8x and more)."""
    inspect_peak(sets[8])  # the first run imports (torch, for RANGE_EPS): not measured
    eight = inspect_peak(sets[8])
    many = inspect_peak(sets[20])
    extra_frames = 12 * 40 * 96 * 96 * 3
    assert many - eight < 3 * extra_frames, (eight, many, extra_frames)


def test_a_lerobot_camera_summary_in_blocks_is_that_of_all_frames_at_once(sets):
    """The block-wise statistics of a LeRobot camera (several blocks: 20 episodes of 40
    frames) equal, bit for bit, those taken over all its frames in one block (a numpy
    array has no chunks: read_array reads it whole)."""
    store = LeRobotStore(sets[20])
    ends = np.asarray(store.episode_ends, dtype=np.int64)
    camera = store.data['img']
    assert camera.chunks[0] < camera.shape[0] // 2  # read in several blocks
    blocks = _summarize_image('img', camera, ends, progress=False)
    whole = _summarize_image('img', np.asarray(camera), ends, progress=False)
    assert blocks == whole


def test_camera_frame_statistics_take_no_float64_copy_and_equal_the_float_path():
    """uint8 and uint16 frames (cameras, on zarr and LeRobot alike) are checked without a
    float64 copy of the block (8x it): the peak stays under 3x the block, and the statistics
    equal those of the float path (the same values as float32), bit for bit, also for a
    frame of one colour and one at the dtype's top."""
    from training.inspect_dataset import _image_frame_stats

    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.uint16):
        top = np.iinfo(dtype).max
        block = rng.integers(0, top, (40, 96, 96, 3), endpoint=True).astype(dtype)
        block[3], block[4] = 7, top
        assert np.array_equal(_image_frame_stats(block),
                              _image_frame_stats(block.astype(np.float32)))
        tracemalloc.start()
        try:
            _image_frame_stats(block)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 3 * block.nbytes, (dtype, peak, block.nbytes)
