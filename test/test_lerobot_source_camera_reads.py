"""A LeRobot camera (training/lerobot_source._Camera) is decoded where it is read.

Pinned: a read decodes only the episodes its steps fall in (open-loop on chosen episodes,
training on some episodes: those alone are decoded), each episode once over read_array's
blocks, and the camera keeps no decoded frames once a read is over (training's load holds
one copy of the frames, not two). The frames are the very values of the whole-camera decode
(LeRobotReader.camera_frames), bit for bit, for every way read_array and the tools slice it.
"""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from support import write_random_walk_store

from training.lerobot_convert import zarr_to_lerobot
from training.lerobot_source import LeRobotStore
from training.replay_buffer import read_array

LENGTHS = [40, 25, 40, 33, 40, 12]  # uneven: blocks straddle episode boundaries


def lerobot_set(root: Path, lengths: list[int], name: str) -> Path:
    """A LeRobot set (96x96 random frames at 10 fps) converted from a Push-T-like store."""
    write_random_walk_store(root / f'{name}.zarr', lengths)
    zarr_to_lerobot(root / f'{name}.zarr', root / name, fps=10, progress=False)
    return root / name


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    return lerobot_set(tmp_path_factory.mktemp('camera_reads'), LENGTHS, 'uneven')


@pytest.fixture(scope='module')
def whole(dataset) -> np.ndarray:
    """The whole-camera decode: every frame, as the reader gives it."""
    store = LeRobotStore(dataset)
    return store.reader.camera_frames('observation.image',
                                      timestamps=store._columns['timestamp'].reshape(-1))


def spy_decodes(store: LeRobotStore, monkeypatch) -> list[list[int] | None]:
    """The `episodes` of each LeRobotReader.video_episodes call the store makes."""
    calls: list[list[int] | None] = []
    original = store.reader.video_episodes

    def video_episodes(*args, episodes=None, **kwargs):
        calls.append(None if episodes is None else list(episodes))
        return original(*args, episodes=episodes, **kwargs)

    monkeypatch.setattr(store.reader, 'video_episodes', video_episodes)
    return calls


def test_block_reads_equal_the_whole_camera_decode(dataset, whole):
    """read_array in its default blocks, in 7-step blocks (across episode boundaries) and
    over some episodes' ranges gives the whole decode's frames, bit for bit."""
    store = LeRobotStore(dataset)
    camera = store.data['img']
    assert camera.shape == whole.shape
    assert np.array_equal(read_array(camera, progress=False), whole)
    assert np.array_equal(read_array(camera, block_steps=7, progress=False), whole)
    ranges = store.step_ranges([1, 2, 4])
    expected = np.concatenate([whole[a:b] for a, b in ranges])
    assert np.array_equal(read_array(camera, ranges=ranges, block_steps=9, progress=False),
                          expected)


def test_indexing_equals_the_whole_camera_decode(dataset, whole):
    """Steps, slices (empty, negative, across episodes), a tuple with pixels, fancy and
    strided steps and np.asarray: the whole decode's values and shapes."""
    camera = LeRobotStore(dataset).data['img']
    n = len(whole)
    for i in (0, 39, 40, 64, 65, n - 1, -1, -n):
        assert np.array_equal(camera[i], whole[i])
    for item in (slice(0, 0), slice(10, 5), slice(38, 70), slice(-20, None), slice(None),
                 slice(60, 200)):
        assert np.array_equal(camera[item], whole[item])
    assert np.array_equal(camera[30:50, 4:8, :, 1], whole[30:50, 4:8, :, 1])
    assert np.array_equal(camera[41, 2], whole[41, 2])
    assert np.array_equal(camera[[3, 90, 5]], whole[[3, 90, 5]])
    assert np.array_equal(camera[::7], whole[::7])
    assert np.array_equal(np.asarray(camera), whole)
    with pytest.raises(IndexError):
        camera[n]


def test_a_read_of_one_episode_decodes_that_episode_alone(dataset, whole, monkeypatch):
    """Reading episode 3's steps (open-loop --episodes 3, a load of that episode) decodes
    episode 3 only, not the whole camera."""
    store = LeRobotStore(dataset)
    calls = spy_decodes(store, monkeypatch)
    got = read_array(store.data['img'], ranges=store.step_ranges([3]), progress=False)
    assert calls and all(c is not None for c in calls), calls
    assert {e for c in calls for e in c} == {3}
    start, stop = store.step_ranges([3])[0]
    assert np.array_equal(got, whole[start:stop])


def test_each_episode_is_decoded_once_and_none_is_kept_after_the_read(dataset, monkeypatch):
    """Over read_array's blocks (7 steps: several per episode, some across two) each episode
    is decoded once, and after the read the camera keeps no decoded frames."""
    store = LeRobotStore(dataset)
    calls = spy_decodes(store, monkeypatch)
    camera = store.data['img']
    read_array(camera, block_steps=7, progress=False)
    decoded = [e for c in calls for e in (range(len(LENGTHS)) if c is None else c)]
    assert sorted(decoded) == list(range(len(LENGTHS))), calls
    assert camera._frames is None


def load_peak(path: Path) -> int:
    """tracemalloc peak (bytes) of read_array over a LeRobot camera, as training loads it."""
    camera = LeRobotStore(path).data['img']
    tracemalloc.start()
    try:
        read_array(camera, progress=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_loading_a_camera_holds_one_copy_of_its_frames(tmp_path):
    """12 more episodes (13 MB of uint8 frames) add about those frames to the load's peak,
    not twice them (a decoded copy kept in the camera besides the loaded one)."""
    small = lerobot_set(tmp_path, [40] * 8, 'small')
    large = lerobot_set(tmp_path, [40] * 20, 'large')
    load_peak(small)  # the first decode imports PyAV: not measured
    extra_frames = 12 * 40 * 96 * 96 * 3
    growth = load_peak(large) - load_peak(small)
    assert growth < 1.5 * extra_frames, (growth, extra_frames)
