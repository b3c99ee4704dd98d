"""A store records whether its bags ran on a sim's time, and the drafted node parameters say
use_sim_time: true alike.

Pinned: a robot in a sim (Gazebo, the arm twin) stamps on the sim's /clock, and a policy node
on the wall clock would take every input as hours old; the store alone could not say which
clock the data was on, so `--draft-params` left use_sim_time commented out. bag2zarr now marks
every source `sim_time: true` where each bag's grid stamps were a sim's (its /clock recorded
and matching them, or stamps before any wall clock's); an append of wall-clock bags leaves it
unsaid; training carries it into the checkpoint (check_sources) and recorded_topics says
use_sim_time, which the draft writes.
"""
from __future__ import annotations

import numpy as np
import pytest
from bag_support import CAMERA, JOINT_STATES, T0
from support import MS, make_tiny_checkpoint

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from dp_ros.policy.config import PolicyConfig
from dp_ros.recorded_sources import SIM_TIME, check_sources, on_sim_time
from dp_ros.runtime.policy_node_config import recorded_topics
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.dataset_meta import dataset_shape_meta
from training.inspect_policy import draft_params, summarize_policy
from training.replay_buffer import ReplayBuffer

CONFIG = {'control_period_s': 0.1, 'image_dtype': 'uint8',
          'keys': {'img': {'image': CAMERA},
                   'state': {'joint_state': JOINT_STATES, 'joints': ['j1'], 'tolerance': 0.2}}}


def _bag(path, stamp0: int, clock: bool) -> None:
    """1 s of a 10 Hz camera and 50 Hz joints stamped from stamp0 (received on the wall clock
    from T0), with the sim's /clock where `clock`."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for i in range(100 if clock else 0):
            t = stamp0 + i * 10 * MS
            sec, nsec = divmod(t, 10**9)
            rec.write('/clock', 'rosgraph_msgs/msg/Clock', T0 + i * 10 * MS - MS,
                      ts.types['rosgraph_msgs/msg/Clock'](
                          clock=ts.types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nsec)))
        for i in range(10):
            rec.write(CAMERA, 'sensor_msgs/msg/Image', T0 + i * 100 * MS + MS,
                      image_message(ts, np.full((4, 4, 3), i, np.uint8),
                                    stamp0 + i * 100 * MS))
        for i in range(50):
            rec.write(JOINT_STATES, 'sensor_msgs/msg/JointState', T0 + i * 20 * MS + MS,
                      joint_state_message(ts, ['j1'], [i], stamp0 + i * 20 * MS))


def _convert(tmp_path, name: str, stamp0: int, clock: bool) -> ReplayBuffer:
    _bag(tmp_path / name, stamp0, clock)
    summary = bag2zarr.convert([tmp_path / name], config_from_dict(CONFIG),
                               tmp_path / 'out.zarr', progress=False)
    assert summary.episodes_added == 1
    return ReplayBuffer.open(tmp_path / 'out.zarr')


@pytest.mark.parametrize(('stamp0', 'clock', 'sim'), [
    (1_000_000 * MS, True, True),  # a sim 1000 s in, its /clock recorded
    (5_000 * MS, False, True),  # sim stamps from its start, no /clock: before any wall clock
    (T0, False, False),  # a robot stamping on the recorder's wall clock
    (T0 + 50 * MS, True, False),  # a /clock beside wall-clock stamps: not the stamps' clock
])
def test_the_store_records_a_sim_time_and_training_keeps_it(tmp_path, stamp0, clock, sim):
    store = _convert(tmp_path, 'bag', stamp0, clock)
    assert [on_sim_time(store.attrs(k)['sources']) for k in ('img', 'state')] == [sim, sim]
    meta = dataset_shape_meta(tmp_path / 'out.zarr', action_key='state',
                              rgb_keys={'img': 'img'}, low_dim_keys={'state': 'state'})
    config = PolicyConfig(shape_meta=meta, crop_shape=None)
    assert recorded_topics(config, ['state'])['use_sim_time'] == (True if sim else None)


def test_an_append_of_wall_clock_bags_leaves_the_clock_unsaid(tmp_path):
    assert on_sim_time(_convert(tmp_path, 'sim', 5_000 * MS, False).attrs('state')['sources'])
    store = _convert(tmp_path, 'wall', T0, False)
    assert store.n_episodes == 2
    assert not on_sim_time(store.attrs('state')['sources'])
    assert not on_sim_time(store.attrs('img')['sources'])


def test_check_sources_keeps_sim_time_and_refuses_a_non_bool():
    camera = {'kind': 'image', 'topic': '/cam', 'width': None}
    assert check_sources([{**camera, SIM_TIME: True}], None, 'x') == [{**camera,
                                                                       SIM_TIME: True}]
    assert check_sources([{**camera, SIM_TIME: False}], None, 'x') == [camera]
    with pytest.raises(ValueError, match='sources must be a list'):
        check_sources([{**camera, SIM_TIME: 'yes'}], None, 'x')


def test_the_draft_sets_use_sim_time_only_for_sim_data(tmp_path):
    summary = summarize_policy(make_tiny_checkpoint(tmp_path / 'p'))
    assert '    # use_sim_time: true' in draft_params(summary)
    summary.topics['use_sim_time'] = True
    text = draft_params(summary)
    assert "    use_sim_time: true   # the training bags were stamped on a sim's time" in text
    assert '# use_sim_time' not in text
