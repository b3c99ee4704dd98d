"""The managed policy node in its own process, driven through lifecycle_msgs services:
configure loads (inputs filed, nothing published), activate publishes, deactivate holds and
goes quiet, cleanup releases, shutdown ends the process. Order and counts, no time margins."""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState
from ros.test_policy_node import RELIABLE, Feeder, is_hold, node_cmd, wait_diag
from ros.tiny_checkpoint import make_tiny_checkpoint
from ros_harness import ProcessGroup, own_domain
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros


def lifecycle_cmd(checkpoint, **params):
    cmd = node_cmd(checkpoint, **params)
    return [*cmd[:2], 'dp_ros.ros.policy_lifecycle_node', *cmd[3:]]


@pytest.fixture(scope='module', autouse=True)
def bad_start(tmp_path_factory, checkpoint):
    """test_bad_parameter_exits_before_any_transition's node, started with the module's first
    test (its own test is the last) so that it runs beside the others, in a ROS domain of its
    own (ros_harness.own_domain: beside the probe it kept /dp_policy/change_state from ever
    matching)."""
    group = ProcessGroup(tmp_path_factory.mktemp('bad') / 'proc_logs')
    try:
        yield group.start('bad', [*lifecycle_cmd(checkpoint, image_topics='[/a,/b]'),
                                  '-r', '__node:=dp_policy_bad'], env=own_domain())
    finally:
        group.stop_all()


def test_transitions_load_publish_hold_release_and_end(ros_processes, ros_probe, checkpoint):
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('lifecycle', lifecycle_cmd(checkpoint))
    feeder = Feeder(ros_probe)

    state = ros_probe.lifecycle_state

    def transition(transition_id: int) -> None:
        assert ros_probe.change_lifecycle_state(transition_id), (transition_id,
                                                                 node.log()[-3000:])

    def quiet_for_two_diagnostics() -> None:
        n_trajs = len(trajs)
        ros_probe.wait_for_more(diags, '/diagnostics', 2, 20.0)
        assert len(trajs) == n_trajs

    try:
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        assert not diags  # nothing runs before configure

        transition(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        assert 'warm-up' in node.log()
        values = wait_diag(ros_probe, diags, lambda d: int(d['input_image_filed']) > 2, 30.0,
                           'inputs filed while inactive')
        assert values['state'] == 'disabled' and values['chunks_published'] == '0'
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=True))
        assert not reply.success and 'not active' in reply.message
        quiet_for_two_diagnostics()
        assert not trajs

        transition(Transition.TRANSITION_ACTIVATE)
        assert state() == State.PRIMARY_STATE_ACTIVE
        ros_probe.wait_for_messages(trajs, 2, 30.0, 'chunks once active')

        transition(Transition.TRANSITION_DEACTIVATE)
        values = wait_diag(ros_probe, diags, lambda d: d.get('holds_deactivated') == '1', 20.0,
                           'the hold of the deactivation')
        # the counts are final: an inactive node publishes nothing. A feeder starved on a busy
        # machine may have let the inputs go stale while active: each such stop is a hold too
        # (holds_stale), and the node plans again once they are fresh
        holds = int(values['holds_published'])
        assert holds == 1 + int(values.get('holds_stale', '0')), values
        total = int(values['chunks_published']) + holds
        msgs = ros_probe.wait_for_messages(trajs, total, 10.0, 'every chunk and the holds')
        assert len(msgs) == total and is_hold(msgs[-1])
        assert sum(map(is_hold, msgs)) == holds
        hold = cv.joint_trajectory_to_chunk(msgs[-1])
        assert hold.times_from_start_ns.tolist() == [100_000_000]  # due one period later
        quiet_for_two_diagnostics()

        transition(Transition.TRANSITION_CLEANUP)
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert node.popen.wait(30) == 0, node.log()[-3000:]
        assert 'Traceback' not in node.log()
        assert sum(map(is_hold, trajs)) == holds  # cleanup and shutdown when inactive: none
    finally:
        feeder.close()


def test_a_checkpoint_replaced_before_a_new_configure_is_taken_whole(ros_processes, ros_probe,
                                                                    tmp_path):
    """Defect: configure loaded the replaced weights but kept the checkpoint settings read at
    start (control period, crop, shapes): a policy trained at 0.05 s ran at 0.1 s."""
    import shutil

    path = make_tiny_checkpoint(tmp_path / 'best', control_period_s=0.1)
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    node = ros_processes.start('lifecycle', lifecycle_cmd(path))
    feeder = Feeder(ros_probe)

    def transition(transition_id: int) -> None:
        request = ChangeState.Request(transition=Transition(id=transition_id))
        reply = ros_probe.call(ChangeState, '/dp_policy/change_state', request, timeout=120.0)
        assert reply.success, (transition_id, node.log()[-3000:])

    def spacing_of_a_new_chunk() -> float:
        # of two points at least: a chunk that landed late keeps only the points still due
        # (at 0.05 s, one where it landed 0.30-0.35 s after its observation: under load)
        def spaced(m) -> bool:
            return not is_hold(m) and len(m.points) >= 2

        n = len(trajs)
        ros_probe.wait_for(lambda: any(map(spaced, trajs[n:])), 60.0, 'a chunk of 2 points')
        chunk = cv.joint_trajectory_to_chunk(next(m for m in trajs[n:] if spaced(m)))
        return round(float(chunk.times_from_start_ns[1] - chunk.times_from_start_ns[0]) / 1e9, 3)

    try:
        transition(Transition.TRANSITION_CONFIGURE)
        transition(Transition.TRANSITION_ACTIVATE)
        assert spacing_of_a_new_chunk() == 0.1
        transition(Transition.TRANSITION_DEACTIVATE)
        transition(Transition.TRANSITION_CLEANUP)
        shutil.rmtree(path)  # a training run replaces best/ with a policy of another period
        shutil.copytree(make_tiny_checkpoint(tmp_path / 'new', control_period_s=0.05), path)
        transition(Transition.TRANSITION_CONFIGURE)
        transition(Transition.TRANSITION_ACTIVATE)
        assert spacing_of_a_new_chunk() == 0.05
    finally:
        feeder.close()


def test_bad_parameter_exits_before_any_transition(bad_start):
    proc = bad_start  # started with the module: it has run beside the tests above
    assert proc.popen.wait(60) == 2, proc.log()
    assert 'invalid configuration: parameter image_topics' in proc.log()
