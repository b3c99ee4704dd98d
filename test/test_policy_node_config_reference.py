"""The policy node anchors its observation on the stream the training grid sat on.

Pinned (resolve_setup's reference_stream, which the planning loop gives ObservationHistory):
the camera or state stream whose recorded sources say `reference: true`; none where no
source says it (every checkpoint before it was recorded: the newest time every stream has,
as before), where the recorded reference topic is no input here (renamed), or in lockstep
(each stream stamped at the sim's step).
"""
from __future__ import annotations

from test_policy_node_config import cfg, metadata
from test_policy_node_config_edges import checkpoint, state

from dp_ros.runtime.planning_loop import PlanningLoop
from dp_ros.runtime.policy_node_config import describe_setup, resolve_setup

CAMERA = {'kind': 'image', 'topic': '/pusht/image_raw', 'width': None}
JOINTS = {'kind': 'joint_state', 'topic': '/pusht/joint_states', 'width': 2}


def recorded(camera_reference: bool, joints_reference: bool) -> dict:
    return checkpoint({
        'image': {'shape': [3, 96, 96], 'type': 'rgb',
                  'sources': [{**CAMERA, **({'reference': True} if camera_reference else {})}]},
        **state(2, sources=[{**JOINTS, **({'reference': True} if joints_reference else {})}])})


def test_the_recorded_reference_camera_anchors_the_observation():
    setup = resolve_setup(cfg(), recorded(True, False))
    assert setup.reference_stream == 'image'
    assert 'observation anchored on image' in describe_setup(cfg(), setup, 'cpu', None)


def test_the_recorded_reference_joint_states_anchor_the_observation():
    assert resolve_setup(cfg(), recorded(False, True)).reference_stream == 'agent_pos'


def test_no_recorded_reference_keeps_the_newest_common_time():
    assert resolve_setup(cfg(), recorded(False, False)).reference_stream is None
    assert resolve_setup(cfg(), metadata()).reference_stream is None  # Push-T: no sources


def test_a_renamed_reference_topic_or_lockstep_anchors_nothing():
    meta = recorded(False, True)
    assert resolve_setup(cfg(joint_state_topic='/robot/joint_states'),
                         meta).reference_stream is None
    assert resolve_setup(cfg(lockstep=True), meta).reference_stream is None


def test_the_planning_loop_assembles_at_the_reference_cameras_newest_stamp():
    """A 30 Hz reference camera beside 10 Hz joint states: the plan's observation is at the
    camera's newest stamp with the joint state at or before it (training's pairs), not at
    the joint states' newest stamp with an older frame."""
    ms = 1_000_000
    t0 = 10_000 * ms
    loops = {ref: PlanningLoop(cfg(max_input_age_s=0.4), resolve_setup(
        cfg(max_input_age_s=0.4), recorded(ref, False)), device='cpu') for ref in (True, False)}
    for loop in loops.values():
        for i in range(9):  # camera every 33 ms, joints every 100 ms, from t0
            loop.add('image', t0 + i * 33 * ms, ('image', i))
            if i % 3 == 0:
                loop.add('agent_pos', t0 + i * 33 * ms + 10 * ms, ('agent_pos', i))
    # joints' newest at t0 + 208 ms; camera's at t0 + 264 ms
    assert loops[True].history.t_last() == t0 + 264 * ms
    assert loops[False].history.t_last() == t0 + 208 * ms
    obs = loops[True].history.assemble(t0 + 270 * ms)
    assert obs and obs.values['image'][-1] == ('image', 8)
    assert obs.values['agent_pos'][-1] == ('agent_pos', 6)
