"""`dp-ros convert`'s feature names: two keys that would get one name, and names with '/'
(which lerobot's writer refuses and its load_stats misfiles), are refused before anything is
written; a (N,) zarr array comes back (N, 1)."""
from __future__ import annotations

import numpy as np
import pytest

from training.lerobot_convert import ConvertError, lerobot_to_zarr, main, zarr_to_lerobot
from training.lerobot_format import LeRobotFormatError, LeRobotWriter, numeric_feature
from training.replay_buffer import ReplayBuffer


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """A numeric-only store (no video: fast): Push-T's keypoint and n_contacts layout, a state,
    and a (N,) reward."""
    rng = np.random.default_rng(0)
    n = 30
    data = {'keypoint': rng.random((n, 9, 2)).astype(np.float32),
            'n_contacts': np.zeros((n, 1), np.float32),
            'state': rng.random((n, 2)).astype(np.float32),
            'reward': np.arange(n, dtype=np.float32)}
    path = tmp_path_factory.mktemp('names') / 'src.zarr'
    ReplayBuffer.from_arrays(data, np.array([12, n])).save_to(path, progress=False)
    return path


def written(directory):
    return sorted(p.name for p in directory.iterdir())


def test_a_map_onto_another_keys_name_is_refused_naming_both(source, tmp_path):
    out = tmp_path / 'lr'
    with pytest.raises(ConvertError) as failure:
        main([str(source), str(out), '--fps', '10', '--no-progress',
              '--map', 'keypoint=n_contacts'])
    message = str(failure.value)
    assert "'keypoint'" in message and "'n_contacts'" in message and '\n' not in message
    assert not out.exists() and written(tmp_path) == []
    # the default map too: state -> observation.state, which a key already is
    both = tmp_path / 'both.zarr'
    ReplayBuffer.from_arrays({'state': np.zeros((4, 2), np.float32),
                              'observation.state': np.ones((4, 2), np.float32)},
                             np.array([4])).save_to(both, progress=False)
    with pytest.raises(ConvertError, match="'observation.state' and 'state' would both become "
                                           "LeRobot feature 'observation.state'"):
        zarr_to_lerobot(both, out, fps=10, progress=False)
    assert not out.exists()
    # the keys left out with --keys do not collide
    main([str(source), str(out), '--fps', '10', '--no-progress', '--keys', 'keypoint',
          '--map', 'keypoint=n_contacts'])
    assert out.is_dir()


def test_two_features_onto_one_zarr_key_are_refused(tmp_path):
    """LeRobot -> zarr: 'observation.state' maps back to 'state', which a feature already is."""
    root = tmp_path / 'lr'
    state = np.zeros((5, 2), np.float32)
    with LeRobotWriter(root, 10, {'observation.state': numeric_feature(state),
                                  'state': numeric_feature(state)}) as writer:
        writer.add_episode({'observation.state': state, 'state': state + 1})
    with pytest.raises(ConvertError) as failure:
        lerobot_to_zarr(root, tmp_path / 'back.zarr', progress=False)
    message = str(failure.value)
    assert "'observation.state'" in message and "'state'" in message
    assert not (tmp_path / 'back.zarr').exists()
    lerobot_to_zarr(root, tmp_path / 'back.zarr', keys=['state'], progress=False)
    assert np.array_equal(ReplayBuffer.open(tmp_path / 'back.zarr').data['state'][:], state + 1)


def test_the_writer_refuses_a_slash_in_a_feature_name(tmp_path):
    with pytest.raises(LeRobotFormatError, match="'observation/state' contains '/'"):
        LeRobotWriter(tmp_path / 'lr', 10, {'observation/state': numeric_feature(np.zeros((1, 2)))})
    assert not (tmp_path / 'lr').exists()


def test_a_1d_array_comes_back_with_a_unit_step_dimension(source, tmp_path):
    """LeRobot's shape [1] holds both (N,) and (N, 1) arrays (the module docstring says so)."""
    zarr_to_lerobot(source, tmp_path / 'lr', fps=10, keys=['reward', 'state'], progress=False)
    lerobot_to_zarr(tmp_path / 'lr', tmp_path / 'back.zarr', progress=False)
    back = ReplayBuffer.open(tmp_path / 'back.zarr')
    assert back.data['reward'].shape == (30, 1) and back.data['state'].shape == (30, 2)
    assert np.array_equal(back.data['reward'][:, 0], np.arange(30, dtype=np.float32))
