"""Review tests of training/lerobot_source.py on a tiny LeRobotDataset v3.0 written by
zarr_to_lerobot (3 episodes of 3, 4 and 5 steps, 15 fps; one with a small camera): episode
boundaries, columns by zarr or LeRobot name, the bookkeeping columns kept out, the recorded
rate, and the data.format check."""
from __future__ import annotations

import numpy as np
import pytest

from training.lerobot_convert import zarr_to_lerobot
from training.lerobot_format import LeRobotFormatError
from training.lerobot_source import LeRobotStore, check_format, open_training_store
from training.replay_buffer import ReplayBuffer

ENDS = np.array([3, 7, 12])


@pytest.fixture(scope='module')
def lerobot(tmp_path_factory):
    """A LeRobotDataset of states and actions only (no camera)."""
    root = tmp_path_factory.mktemp('lerobot_review')
    state = np.arange(24, dtype=np.float32).reshape(12, 2)
    ReplayBuffer.from_arrays({'state': state, 'action': state * 10}, ENDS).save_to(
        root / 'src.zarr', progress=False)
    zarr_to_lerobot(root / 'src.zarr', root / 'lr', fps=15, progress=False)
    return root / 'lr'


@pytest.fixture(scope='module')
def lerobot_camera(tmp_path_factory):
    """A LeRobotDataset with a 16x16 camera (flat grey frames, codec-safe)."""
    root = tmp_path_factory.mktemp('lerobot_review_cam')
    n = int(ENDS[-1])
    img = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None] * 10 + 40, 16, 1)
    img = np.repeat(np.repeat(img, 16, 2), 3, 3)
    state = np.zeros((n, 2), np.float32)
    ReplayBuffer.from_arrays({'img': img, 'state': state, 'action': state}, ENDS).save_to(
        root / 'src.zarr', progress=False)
    zarr_to_lerobot(root / 'src.zarr', root / 'lr', fps=10, progress=False)
    return root / 'lr'


def test_episode_boundaries_and_counts_are_the_sources(lerobot):
    """episode_ends [3, 7, 12]: 3 episodes, 12 steps."""
    store = open_training_store(lerobot)
    assert isinstance(store, LeRobotStore)
    assert np.array_equal(store.episode_ends, ENDS)
    assert (store.n_episodes, store.n_steps) == (3, 12)


def test_zarr_names_map_to_the_lerobot_columns(lerobot):
    """'state' and 'action' (the Push-T config names) read observation.state and action."""
    store = LeRobotStore(lerobot)
    assert 'state' in store.data and 'action' in store.data
    assert np.array_equal(np.asarray(store.data['state'])[:2], [[0, 1], [2, 3]])
    assert np.array_equal(np.asarray(store.data['action'])[-1], [220, 230])
    assert np.array_equal(np.asarray(store.data['observation.state']),
                          np.asarray(store.data['state']))


def test_bookkeeping_columns_are_no_data_keys(lerobot):
    """timestamp, index, episode_index... are LeRobot's bookkeeping, not training arrays."""
    store = LeRobotStore(lerobot)
    assert store.keys() == ['action', 'observation.state']
    for key in ('timestamp', 'index', 'episode_index', 'frame_index', 'task_index'):
        assert key not in store.data
        with pytest.raises(KeyError):
            store.data[key]


def test_a_mapped_name_the_dataset_lacks_is_absent(lerobot):
    """'img' maps to observation.image, which this dataset has none of: not a key."""
    store = LeRobotStore(lerobot)
    assert 'img' not in store.data
    with pytest.raises(KeyError):
        store.data['img']


def test_the_recorded_rate_is_the_datasets_fps(lerobot):
    """root_attrs()['fps'] is meta/info.json's fps (15), as ReplayBuffer.root_attrs gives it."""
    assert LeRobotStore(lerobot).root_attrs() == {'fps': 15}


def test_a_missing_path_with_format_lerobot_is_not_a_format_mismatch(tmp_path):
    """data.format lerobot and a path that does not exist: no format contradiction is
    claimed (the missing path is reported where it is opened)."""
    assert check_format(tmp_path / 'absent', 'lerobot') == 'zarr'
    with pytest.raises(LeRobotFormatError, match='no LeRobotDataset'):
        check_format(tmp_path, 'lerobot')  # exists, no meta/info.json


def test_a_camera_has_one_frame_per_step_and_converts_dtype(lerobot_camera):
    """The camera's shape has every frame before decoding; np.asarray(cam, dtype) converts."""
    cam = LeRobotStore(lerobot_camera).data['img']
    assert cam.shape == (12, 16, 16, 3) and len(cam) == 12
    frames = np.asarray(cam, dtype=np.float32)
    assert frames.dtype == np.float32 and frames.shape == (12, 16, 16, 3)
    assert abs(float(frames[5].mean()) - 90.0) < 4.0  # frame 5 of the source: grey 90


def test_the_stores_tolerance_reaches_the_camera_decode(lerobot_camera, tmp_path):
    """A frame's timestamp 2 ms off its video frame: LeRobotStore(tolerance_s=0.001) refuses
    it naming tolerance_s=0.001 (not the default 1e-4), tolerance_s=0.01 reads it. (A
    tolerance of 0 no longer refuses k / fps: each frame is allowed its float32 timestamp's
    rounding besides.)"""
    from test_lerobot_convert_edges import shifted_timestamp

    shifted = shifted_timestamp(lerobot_camera, tmp_path / 'shifted', 4, 0.002)
    cam = LeRobotStore(shifted, tolerance_s=0.001).data['img']
    with pytest.raises(LeRobotFormatError, match=r'tolerance_s=0\.001 '):
        np.asarray(cam)
    assert np.asarray(LeRobotStore(shifted, tolerance_s=0.01).data['img']).shape == \
        (12, 16, 16, 3)
