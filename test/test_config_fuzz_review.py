"""Fuzz review of what the policy node and the sim node are configured with, and of the sim's
trajectory input, without ROS: a configuration a node cannot run with is refused at start with
one short line (a ValueError: node_main.run_node's CONFIG_ERRORS), never a traceback; a value
it takes never makes it misbehave later; a bad trajectory is counted and skipped, never a
crash.

The review's findings, each failing before its fix: list parameters written whole into
their refusal (20,000 names from a file: a 190 KB line; dp_ros.params.shown cuts them), a
debug path joint named twice, a sim camera rate whose period overflowed (a traceback) or
that rounded to no frame a step for the arm, a long out-of-order trajectory logged whole.
The seeded sweeps that guard what the review found robust are in
test/test_config_fuzz_sweeps.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from support import make_tiny_arm_checkpoint, make_tiny_pose_checkpoint
from test_episode_stepper import Recorder

from dp_ros.params import config_from_dict
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, load_setup
from sim_bridge.episode_stepper import EpisodeStepper, make_env
from sim_bridge.sim_node_config import config_from_values

DT = 100_000_000
ARM = ['shoulder', 'elbow', 'wrist']
# a refusal is one line on stderr: a list parameter read from a file may hold 10^5 entries
SHORT_LINE = 2000


@pytest.fixture(scope='module')
def arm_checkpoint(tmp_path_factory):
    return make_tiny_arm_checkpoint(tmp_path_factory.mktemp('arm_policy') / 'tiny')


def pusht_values(checkpoint, **values) -> dict:
    return {'checkpoint': str(checkpoint), 'device': 'cpu', 'warmup': False, **values}


def arm_values(checkpoint, **values) -> dict:
    return {'checkpoint': str(checkpoint), 'device': 'cpu', 'warmup': False,
            'image_topics': ['/cam/image_raw'], 'joint_state_topic': '/joint_states',
            'state_joint_names': ARM, 'action_topic': '/arm/joint_trajectory',
            'action_joint_names': ARM, 'max_step_delta': [0.1, 0.1, 0.1], **values}


def pose_values(checkpoint, **values) -> dict:
    return {'checkpoint': str(checkpoint), 'device': 'cpu', 'warmup': False,
            'image_topics': ['/cam/image_raw'], 'joint_state_topic': '/ee_pose',
            'state_joint_names': ['x', 'y', 'z', 'yaw'], 'state_pose_topics': ['/ee_pose'],
            'action_topic': '/servo/twist', 'action_joint_names': ['x', 'y', 'z', 'yaw'],
            'action_twist_topics': ['/servo/twist'], 'frame_id': 'base_link', **values}


def refusal(values: dict) -> str:
    """The message the node prints after 'invalid configuration: ' for these parameters."""
    with pytest.raises(ValueError) as info:
        load_setup(config_from_dict(PolicyNodeConfig, values))
    return str(info.value)


def stepper(**values) -> tuple[EpisodeStepper, Recorder]:
    """The sim's stepper as the node builds it at start (config, env, stepper)."""
    cfg = config_from_values({'autostart': False, **values}, warn=lambda _: None)
    rec = Recorder()
    return EpisodeStepper(cfg, make_env(cfg), rec), rec


# --- findings -----------------------------------------------------------------------------------

N_LONG = 20_000
LONG_LISTS = {
    'image_topics': {'image_topics': [f'/cam{i}' for i in range(N_LONG)]},
    'state_joint_names': {'state_joint_names': [f'j{i}' for i in range(N_LONG)]},
    'action_joint_names': {'action_joint_names': [f'j{i}' for i in range(N_LONG)]},
    'action_lower': {'action_lower': [0.0] * N_LONG, 'action_upper': [1.0] * N_LONG},
    'state_fields': {'state_fields': ['position'] * N_LONG},
    'debug_path_joints': {'debug_path_joints': ['agent_x'] * N_LONG},
    'state_pose_topics': {'state_pose_topics': [f'/pose{i}' for i in range(N_LONG)]},
    'topic_frame_ids': {'topic_frame_ids': [f'/t{i}=f' for i in range(N_LONG)]},
}


@pytest.mark.parametrize('name', list(LONG_LISTS))
def test_a_huge_list_parameter_is_refused_in_a_short_line(checkpoint, name):
    text = refusal(pusht_values(checkpoint, **LONG_LISTS[name]))
    assert name in text and len(text) < SHORT_LINE, (len(text), text[:200])


def test_a_debug_path_joint_named_twice_is_refused(checkpoint):
    text = refusal(pusht_values(checkpoint, debug_path_joints=['agent_x', 'agent_x']))
    assert 'debug_path_joints' in text


@pytest.mark.parametrize('values', [{'max_step_delta': [1e308] * 3},
                                    {'max_step_delta': [], 'max_velocity': [1e308] * 3,
                                     'stop_deceleration': [1.0] * 3}],
                         ids=['max_step_delta', 'max_velocity'])
def test_a_step_limit_too_large_for_a_speed_starts_without_a_numpy_warning(arm_checkpoint,
                                                                            values):
    """A step of 1e308 a period is a top speed over the float range: the start-up's stop
    check printed numpy's 'RuntimeWarning: overflow encountered in multiply' on stderr. It is
    no bound (inf), as a limit left out."""
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        setup = load_setup(config_from_dict(PolicyNodeConfig, arm_values(arm_checkpoint,
                                                                         **values)))
        assert np.all(np.isinf(setup.limits.max_speed(setup.dt_ns)))


def test_a_twist_servo_held_still_by_a_zero_limit_is_warned_of_at_start(tmp_path):
    """twist_max_linear 0 (its range's floor) started a twist-driven servo that never moved
    the end effector, without a word (a max_step_delta of 0 is refused as a frozen joint)."""
    checkpoint = make_tiny_pose_checkpoint(tmp_path / 'tiny', state='pose')

    def twist_warnings(**values) -> list[str]:
        setup = load_setup(config_from_dict(PolicyNodeConfig, pose_values(checkpoint,
                                                                          **values)))
        assert setup.start_warnings == setup.warnings + setup.safety_warnings
        return [w for w in setup.safety_warnings if 'action_twist_topics' in w]

    assert not twist_warnings()
    assert twist_warnings(twist_max_linear=0.0) == [
        'action_twist_topics with twist_max_linear 0 (no linear speed is sent: the position '
        'stays)']
    said = twist_warnings(twist_max_angular=0.0, twist_gain=0.0)
    assert len(said) == 1 and 'twist_max_angular 0' in said[0] and \
        'twist_gain 0' in said[0] and 'twist_max_linear' not in said[0], said
    assert not twist_warnings(twist_max_linear=0.0, dry_run=True)
    assert not twist_warnings(twist_max_linear=1e-9)  # slow, not still


@pytest.mark.parametrize('values', [{'mode': 'realtime', 'camera_rate_hz': 1e-300},
                                    {'mode': 'realtime', 'camera_rate_hz': 5e-324},
                                    {'robot': 'arm', 'camera_rate_hz': 1e-300}],
                         ids=['point-realtime', 'point-denormal', 'arm-lockstep'])
def test_a_vanishing_sim_camera_rate_is_refused_not_a_traceback(values):
    """camera_rate_hz 1e-300 passed validate(), then EpisodeStepper computed
    seconds_to_ns(1 / rate) = int(inf): OverflowError, a traceback and exit 1 from pusht_sim
    (confirmed with -p mode:=realtime -p camera_rate_hz:=1.0e-300)."""
    with pytest.raises(ValueError, match='camera_rate_hz must be at least'):
        stepper(**values)


def test_an_arm_camera_rate_under_the_control_rate_is_refused():
    """The arm's check that camera_rate_hz is a whole multiple of the 10 Hz control rate took
    1e-9 Hz (1e-10 per step rounds to the multiple 0): one camera frame per episode, the
    policy node's camera stale for good."""
    with pytest.raises(ValueError, match='camera_rate_hz must be a whole multiple'):
        config_from_values({'robot': 'arm', 'mode': 'realtime', 'camera_rate_hz': 0.01},
                           warn=lambda _: None)
    config_from_values({'robot': 'arm', 'mode': 'realtime', 'camera_rate_hz': 10.0},
                       warn=lambda _: None)


def test_a_long_trajectory_out_of_order_is_logged_in_a_short_line():
    """check_trajectory's out_of_order refusal wrote every time_from_start into its message:
    one 100,000-point trajectory out of order logged a 1.4 MB warning; now the first point
    out of order and the time before it."""
    st, rec = stepper(mode='realtime')
    st.start_episode(10**12)
    times = np.arange(N_LONG, 0, -1, dtype=np.int64) * 10_000_000
    assert not st.receive(['agent_x', 'agent_y'], 0, times, np.full((N_LONG, 2), 100.0), 10**12)
    assert st.rejections.counts['out_of_order'] == 1
    (line,) = rec.warnings()
    assert 'out_of_order' in line and len(line) < SHORT_LINE, len(line)
    assert f'point 1 of {N_LONG} is not ([200000000000, 199990000000] ns)' in line, line
