"""bag2zarr's joint_renames: bags recorded before a driver update renamed the joints (joint1,
joint2) and after it (shoulder, elbow) make one store under the new names, joint states and
commanded trajectories alike; before, the old bags' joint states gave 'none of the joints'.
Real mcap bags, the real command line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from test_bag2zarr import error_line, leftovers, run

from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    trajectory_message,
)
from dp_ros.bags.typestore import shared_typestore
from dp_ros.dimension_names import NAMES
from training.bag2zarr_config import ConfigError, config_from_dict, load_config
from training.inspect_dataset import main as inspect
from training.replay_buffer import ReplayBuffer

T0 = 10**9
MS = 1_000_000
OLD, NEW = ['joint1', 'joint2'], ['shoulder', 'elbow']
RENAMES = dict(zip(OLD, NEW, strict=True))


def arm_value(k: int, bag: int) -> list[float]:
    return [0.01 * k + bag, -0.01 * k - bag]


def write_bag(path: Path, names: list[str], bag: int) -> None:
    """2 s: a 10 Hz camera, the arm's joint states at 100 Hz and its commands at 10 Hz."""
    ts = shared_typestore()
    with BagRecorder(path) as rec:
        for k in range(20):
            t = T0 + k * 100 * MS
            rec.write('/cam', 'sensor_msgs/msg/Image', t + 1000,
                      image_message(ts, np.full((8, 8, 3), k, np.uint8), t))
            rec.write('/cmd', 'trajectory_msgs/msg/JointTrajectory', t + 2000,
                      trajectory_message(ts, names, np.array([arm_value(10 * k, bag)]), t,
                                         100 * MS))
        for k in range(200):
            t = T0 + k * 10 * MS
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + 500,
                      joint_state_message(ts, names, arm_value(k, bag), t))


def config_dict(**extra) -> dict:
    return {'control_period_s': 0.1, 'tolerance': 0.05, 'reference_topic': '/cam',
            'keys': {'img': {'image': '/cam'},
                     'state': {'joint_state': '/joint_states', 'joints': NEW},
                     'action': {'joint_trajectory': '/cmd', 'joints': NEW}}, **extra}


def write_config(tmp_path: Path, **extra) -> Path:
    path = tmp_path / 'config.yaml'
    path.write_text(yaml.safe_dump(config_dict(**extra)))
    return path


def test_bags_before_and_after_a_rename_make_one_store_under_the_new_names(tmp_path):
    write_bag(tmp_path / 'before', OLD, bag=0)
    write_bag(tmp_path / 'after', NEW, bag=1)
    out = tmp_path / 'arm.zarr'
    cfg = write_config(tmp_path, joint_renames=RENAMES)
    assert run([tmp_path / 'before', tmp_path / 'after'], cfg, out) == 0
    store = ReplayBuffer.open(out)
    assert store.n_episodes == 2
    assert store.data['state'].attrs[NAMES] == NEW == store.data['action'].attrs[NAMES]
    for bag in range(2):
        episode = store.get_episode(bag)
        steps = len(episode['state'])
        want = np.array([arm_value(10 * k, bag) for k in range(steps)])
        np.testing.assert_allclose(episode['state'], want, rtol=1e-6)
        np.testing.assert_allclose(episode['action'], want, rtol=1e-6)


def test_without_the_renames_the_old_bag_is_refused_naming_the_joints(tmp_path, capsys):
    write_bag(tmp_path / 'before', OLD, bag=0)
    out = tmp_path / 'arm.zarr'
    assert run([tmp_path / 'before'], write_config(tmp_path), out) == 2
    line = error_line(capsys)
    assert "it has ['joint1', 'joint2'] (a driver update renamed joints? joint_renames: " \
        in line, line
    assert not out.exists() and leftovers(out) == []


@pytest.mark.parametrize('renames, match', [
    ({'joint1': 'shoulderr'}, "source reads 'shoulderr'"),
    ({'elbow': 'shoulder'}, "a source reads 'elbow' itself"),
    (['joint1', 'shoulder'], 'joint_renames must map old joint names to names'),
    ({'joint1': ''}, 'joint_renames must map old joint names to names'),
])
def test_a_rename_that_cannot_be_meant_is_refused(renames, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(config_dict(joint_renames=renames))


def test_two_old_names_of_one_joint_and_a_message_with_both_names():
    """Renamed twice (j1 -> joint1 -> shoulder): either old name is read; a message that gives
    the new name and an old one is read by the new."""
    config = config_from_dict(config_dict(joint_renames={'j1': 'shoulder', **RENAMES}))
    assert config.names_in(['joint1', 'joint2'], NEW) == OLD
    assert config.names_in(['j1', 'joint2'], NEW) == ['j1', 'joint2']
    assert config.names_in(['joint1', 'shoulder', 'elbow'], NEW) == NEW
    assert config.names_in(['wrist'], NEW) == NEW  # neither: the decoder names what lacks


def test_a_draft_from_bags_before_and_after_the_rename_converts_under_the_new_names(tmp_path,
                                                                                    capsys):
    """`inspect --draft-config` on both bags (dated folders: the later one last) drafts the
    new names and the renames that read the old bag; bag2zarr then takes both bags."""
    bags = tmp_path / 'bags'
    write_bag(bags / 'rosbag2_2024_01_01-10_00_00', OLD, bag=0)
    write_bag(bags / 'rosbag2_2025_06_01-10_00_00', NEW, bag=1)
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(bags), '--draft-config', str(draft), '--no-progress']) == 0
    config = load_config(draft)
    assert config.joint_renames == RENAMES
    assert config.keys['state'].sources[0].joints == NEW
    assert 'rosbag2_2024_01_01-10_00_00: /joint_states gives' in draft.read_text()
    out = tmp_path / 'arm.zarr'
    assert run([bags], draft, out) == 0, capsys.readouterr().err
    assert ReplayBuffer.open(out).n_episodes == 2
    assert ReplayBuffer.open(out).data['state'].attrs[NAMES] == NEW


def test_a_rename_of_a_float_array_joint_is_refused():
    """A float array's values go by position: a rename could not reach them."""
    raw = config_dict(joint_renames={'old_b': 'b'})
    raw['keys']['action'] = {'float_array': '/cmd', 'joints': ['b', 'c']}
    with pytest.raises(ConfigError, match="no joint_state or joint_trajectory source reads 'b'"):
        config_from_dict(raw)
