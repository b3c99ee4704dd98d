"""The policy node in its own process, over real topics: its wiring only.

The planning rules (stale inputs, lockstep, late points, discarded chunks, clamping, episode
generators, stamps against the clock, stops) are unit-tested without ROS in
test/test_planning_loop.py, the parameter checks in test/test_policy_node_config.py, the
safety envelope over topics in test_policy_safety.py. Here: messages in, trajectories out,
services, diagnostics, a configuration error's exit. Assertions are on what the node
controls (order, counts, stamps), never on wall-clock margins. A tiny random checkpoint is
enough.
"""
from __future__ import annotations

import json
import re
import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros.tiny_checkpoint import make_tiny_checkpoint
from ros_harness import module_cmd
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv
from dp_ros.ros.policy_node import BAD_LINE_PERIOD_S

pytestmark = pytest.mark.ros

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
DT_NS = 100_000_000
LOWER, UPPER = [100.0, 120.0], [400.0, 380.0]
EPISODE_TOPIC = '/arm/episode_start'
DRY_TOPIC = '/dp_policy/dry_run/joint_trajectory'
SPLIT = '[/arm/joint_trajectory,/gripper/joint_trajectory]'  # jx: the arm's; jy: the gripper's


def node_cmd(checkpoint, **params):
    base = dict(checkpoint=str(checkpoint), device='cpu', cpu_threads=1,
                image_topics='[/cam/image_raw]', joint_state_topic='/arm/joint_states',
                state_joint_names='[jx,jy]', action_topic='/arm/joint_trajectory',
                action_joint_names='[jx,jy]', action_lower=f'[{LOWER[0]},{LOWER[1]}]',
                action_upper=f'[{UPPER[0]},{UPPER[1]}]', max_input_age_s=0.4,
                replan_threshold=4, diagnostics_period_s=0.25)
    base.update(params)
    args = []
    for k, v in base.items():
        args += ['-p', f'{k}:={str(v).lower() if isinstance(v, bool) else v}']
    return module_cmd('dp_ros.ros.policy_node', '--ros-args', *args)


class Feeder:
    """Publishes a 96x96 camera and joint states at 10 Hz, both stamped now; keeps the stamps.

    gripper_topic: the second joint's states on a topic of their own (the first alone on the
    arm's; `joints` may name both alike: two arms).
    pose_topic: an end effector's PoseStamped (x and yaw about z, or x, y, z and yaw, or
    x, y, z and `quaternion`) instead of joint states.
    unstamped: every message's header stamp left 0 (a driver that never stamps)."""

    def __init__(self, probe, position: tuple[float, ...] | None = None,
                 gripper_topic: str = '', pose_topic: str = '',
                 joints: tuple[str, ...] = ('jx', 'jy'),
                 quaternion: tuple[float, float, float, float] | None = None,
                 unstamped: bool = False):
        self.probe = probe
        self.unstamped = unstamped
        self.position = position  # the joints stand here (else random positions)
        self.quaternion = quaternion
        self.joints = list(joints)
        self.image_pub = probe.publisher(Image, '/cam/image_raw', qos_profile_sensor_data)
        self.joint_pub = probe.publisher(JointState, '/arm/joint_states', qos_profile_sensor_data)
        self.gripper_pub = gripper_topic and probe.publisher(JointState, gripper_topic,
                                                             qos_profile_sensor_data)
        self.pose_pub = pose_topic and probe.publisher(PoseStamped, pose_topic,
                                                       qos_profile_sensor_data)
        self.stamps: set[int] = set()
        self.rng = np.random.default_rng(0)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            now = self.probe.node.get_clock().now().nanoseconds
            self.stamps.add(now)
            stamp = cv.ns_to_time(0 if self.unstamped else now)
            img = self.rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
            self.image_pub.publish(cv.numpy_to_image(img, 'rgb8', stamp=stamp))
            position = (self.rng.uniform(50, 450, len(self.joints)) if self.position is None
                        else self.position)
            if self.pose_pub:
                pose = PoseStamped()
                pose.header.stamp = stamp
                x, y, z, yaw = (position if len(position) == 4
                                else (*position, 0.0) if len(position) == 3
                                else (position[0], 0.0, 0.0, position[1]))
                p, q = pose.pose.position, pose.pose.orientation
                p.x, p.y, p.z, yaw = float(x), float(y), float(z), float(yaw)
                q.x, q.y, q.z, q.w = (self.quaternion if self.quaternion is not None
                                      else (0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)))
                self.pose_pub.publish(pose)
            elif self.gripper_pub:
                self.joint_pub.publish(cv.numpy_to_joint_state(
                    np.asarray(position[:1]), self.joints[:1], stamp=stamp))
                self.gripper_pub.publish(cv.numpy_to_joint_state(
                    np.asarray(position[1:]), self.joints[1:], stamp=stamp))
            else:
                self.joint_pub.publish(cv.numpy_to_joint_state(np.asarray(position),
                                                               self.joints, stamp=stamp))
            time.sleep(0.1)

    def close(self):
        self._stop = True
        self._thread.join(2.0)


def latest_diagnostics(diags: list) -> dict[str, str]:
    return {kv.key: kv.value for kv in diags[-1].status[0].values}


def wait_diag(probe, diags, predicate, timeout, what):
    probe.wait_for(lambda: diags and predicate(latest_diagnostics(diags)), timeout, what)
    return latest_diagnostics(diags)


def announce(publisher, probe, episode: int, seed: int) -> int:
    start_ns = probe.node.get_clock().now().nanoseconds
    publisher.publish(String(data=json.dumps({'episode': episode, 'seed': seed,
                                              'start_ns': start_ns})))
    return start_ns


def bad_messages(probe):
    """One of each kind of broken input the node must survive."""
    now = probe.node.get_clock().now().nanoseconds
    stamp = cv.ns_to_time(now)
    depth = cv.numpy_to_image(np.zeros((96, 96), np.uint16), '16UC1', stamp=stamp)
    short = cv.numpy_to_image(np.zeros((96, 96, 3), np.uint8), 'rgb8', stamp=stamp)
    short.data = bytes(short.data[:-10])
    # the tiny checkpoint records no training frame size: the camera is held to its first
    # frame's (96x96), and a frame of another aspect refused
    other = cv.numpy_to_image(np.zeros((48, 64, 3), np.uint8), 'rgb8', stamp=stamp)
    nan = cv.numpy_to_joint_state(np.array([np.nan, 1.0]), ['jx', 'jy'], stamp=stamp)
    unknown = cv.numpy_to_joint_state(np.array([1.0, 2.0]), ['jx', 'jz'], stamp=stamp)
    uneven = cv.numpy_to_joint_state(np.array([1.0, 2.0]), ['jx', 'jy'], stamp=stamp)
    uneven.position = [1.0]
    huge = cv.numpy_to_joint_state(np.array([1e300, 1.0]), ['jx', 'jy'], stamp=stamp)
    hour = 3600 * cv.NS_PER_S  # a joint state an hour ahead used to stall the node for good
    future = cv.numpy_to_joint_state(np.array([200.0, 200.0]), ['jx', 'jy'],
                                     stamp=cv.ns_to_time(now + hour))
    past = cv.numpy_to_image(np.zeros((96, 96, 3), np.uint8), 'rgb8',
                             stamp=cv.ns_to_time(now - hour))
    return [('image_encoding', depth), ('image_size', short), ('camera_size', other),
            ('non_finite', nan),
            ('joint_unknown', unknown), ('joint_size', uneven), ('float32_overflow', huge),
            ('stamp_future', future), ('stamp_past', past)]


def is_hold(msg) -> bool:
    """The stop: one point due a period after it arrives (stamp 0; a plan's first point is
    due at its stamp)."""
    tfs, stamp = msg.points[0].time_from_start, msg.header.stamp
    return (len(msg.points) == 1 and (tfs.sec, tfs.nanosec) != (0, 0)
            and (stamp.sec, stamp.nanosec) == (0, 0))


def stop_reasons(log: str) -> list[str]:
    """The reasons of the stops the node published, in order: its 'stop (reason): ...' log
    lines (one per hold: _publish_hold)."""
    return re.findall(r': stop \((\w+)\): ', log)


def wait_for_a_new_chunk(probe, msgs: list, what: str, timeout: float = 30.0) -> None:
    """Until the newest of `msgs` is a chunk the node finished after this call began (its
    first point due over a period after it): the node is moving, on fresh inputs, and a
    stop for stale inputs needs them max_input_age_s old. Before a stop a test checks (a
    shutdown): one that finds the arm stopped already, by inputs gone stale while the
    probe's feeder starved on a busy machine, sends nothing; and a chunk seen right after a
    pause of the test process may be older than the stop that followed it."""
    since = probe.node.get_clock().now().nanoseconds + DT_NS
    probe.wait_for(lambda: msgs and not is_hold(msgs[-1])
                   and cv.time_to_ns(msgs[-1].header.stamp) > since, timeout, what)


def holds_of_a_disable(probe, diags, log, *collected: list) -> list:
    """disable_while_moving, then the disable's hold as each of the `collected` command
    topics received it: the last of the node's holds_published (a stop on stale inputs
    before it, the probe's feeder starved on a busy machine, holds at the commanded
    position, not at the measured one a disable holds at)."""
    holds = int(disable_while_moving(probe, diags, log)['holds_published'])
    out = []
    for msgs in collected:
        probe.wait_for(lambda msgs=msgs: sum(map(is_hold, msgs)) >= holds, 10.0, 'the stop')
        out.append([m for m in msgs if is_hold(m)][-1])
    return out


def disable_while_moving(probe, diags, log) -> dict[str, str]:
    """~/enable false, answered by the stop of the running plan (holds_disabled 1); the
    diagnostics values once disabled. A disable that found the arm stopped already, by
    inputs gone stale just before it (the probe's feeder starved on a busy machine: its
    stop, the last one logged, is the stale one), stops nothing: enabled again, and once a
    new chunk is out, disabled again (three tries). `log`: the node's log, read anew."""
    for _ in range(3):
        reply = probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=False))
        assert reply.success and reply.message == 'disabled (was enabled)', reply.message
        values = wait_diag(probe, diags, lambda d: d['state'] == 'disabled', 20.0, 'disabled')
        if values.get('holds_disabled') == '1':  # its line may reach the log a little later
            probe.wait_for(lambda: stop_reasons(log())[-1:] == ['disabled'], 10.0,
                           'the disable\'s stop logged')
            return values
        assert 'holds_disabled' not in values, values
        probe.wait_for(lambda: stop_reasons(log())[-1:] == ['stale'], 10.0,
                       'the stale stop logged')
        assert probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=True)).success
        chunks = int(values['chunks_published'])
        wait_diag(probe, diags, lambda d, n=chunks: int(d['chunks_published']) > n, 30.0,
                  'a chunk once enabled again')
    raise AssertionError(f'three disables found the arm stopped by stale inputs: {log()}')


def check_chunks(msgs: list, stamps: set[int], since_ns: int) -> None:
    """Each chunk: the executed slice of a plan on a fed observation's stamp, stamped for its
    first kept point (the late ones skipped), clamped, dt apart."""
    chunks = [cv.joint_trajectory_to_chunk(m) for m in msgs if not is_hold(m)]
    t_obs = []
    for chunk in chunks:
        assert chunk.joint_names == ['jx', 'jy']
        skipped = 8 - len(chunk.positions)  # n_action_steps 8, the late points dropped
        t_obs.append(chunk.stamp_ns - skipped * DT_NS)
        assert t_obs[-1] in stamps and t_obs[-1] >= since_ns
        assert np.all(np.isfinite(chunk.positions))
        assert np.all(chunk.positions >= LOWER) and np.all(chunk.positions <= UPPER)
        assert chunk.times_from_start_ns.tolist() == [i * DT_NS for i in range(8 - skipped)]
    assert t_obs == sorted(set(t_obs)), 'each chunk on a newer observation, in order'


def test_invalid_configuration_exits_2_with_one_line(ros_processes, checkpoint):
    proc = ros_processes.start('bad_cameras', node_cmd(checkpoint, image_topics='[/a,/b]'))
    assert proc.popen.wait(60) == 2, proc.log()
    lines = [line for line in proc.log().splitlines() if 'invalid configuration' in line]
    assert lines == [lines[0]] and lines[0].startswith(
        'dp_policy: invalid configuration: parameter image_topics has 2 topic(s)'), proc.log()
    assert 'Traceback' not in proc.log()


def test_messages_in_trajectories_out_services_and_diagnostics(ros_processes, ros_probe,
                                                                 checkpoint):
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    episodes = ros_probe.publisher(String, EPISODE_TOPIC, LATCHED)
    node = ros_processes.start('policy', node_cmd(checkpoint, episode_start_topic=EPISODE_TOPIC))
    feeder = Feeder(ros_probe)

    def published() -> int:
        """Chunks and holds the node says it published, once the probe has every one."""
        values = latest_diagnostics(diags)
        total = int(values['chunks_published']) + int(values['holds_published'])
        ros_probe.wait_for(lambda: len(trajs) >= total, 10.0, 'the published chunks')
        assert len(trajs) == total
        assert sum(map(is_hold, trajs)) == int(values['holds_published'])
        return len(trajs)

    def stays_quiet(state: str) -> None:
        """In `state` nothing is published, over the next diagnostics messages."""
        values = wait_diag(ros_probe, diags, lambda d: d['state'] == state, 20.0, state)
        ros_probe.wait_for_more(diags, '/diagnostics', 2, 10.0)
        assert latest_diagnostics(diags)['state'] == state
        assert latest_diagnostics(diags)['chunks_published'] == values['chunks_published']

    try:
        # inputs arrive, filed by header stamp; no chunk before an episode is announced
        wait_diag(ros_probe, diags, lambda d: int(d['input_image_filed']) > 1
                  and int(d['input_agent_pos_filed']) > 1, 60.0, 'filed inputs')
        stays_quiet('waiting for an episode start')
        assert not trajs

        start = announce(episodes, ros_probe, 1, 5)
        ros_probe.wait_for_messages(trajs, 3, 30.0, 'chunks of episode 1')
        wait_diag(ros_probe, diags, lambda d: d['env_seed'] == '5', 5.0, 'seed 5')

        # broken messages: counted per kind, logged (at once, then at most every 10 s per
        # kind), skipped; planning goes on. Every kind at once (each a message of its own),
        # repeated until each is counted
        kinds = bad_messages(ros_probe)
        since = time.monotonic()
        deadline = time.monotonic() + 20.0
        while missing := [kind for kind, _ in kinds
                          if not (diags and f'bad_{kind}' in latest_diagnostics(diags))]:
            assert time.monotonic() < deadline, f'no bad_{missing} in diagnostics'
            for kind, msg in kinds:
                if kind in missing:  # best effort: repeat until the node has seen one
                    pub = feeder.image_pub if isinstance(msg, Image) else feeder.joint_pub
                    pub.publish(msg)
            time.sleep(0.1)
        episodes.publish(String(data='{"seed": "x"}'))
        wait_diag(ros_probe, diags, lambda d: d.get('bad_episode_start') == '1', 10.0,
                  'bad_episode_start')
        assert diags[-1].status[0].level == DiagnosticStatus.WARN
        lines = 1 + (time.monotonic() - since) // BAD_LINE_PERIOD_S  # not one per message
        for kind in ('non_finite', 'stamp_future'):
            assert 1 <= node.log().count(f'skipped a bad message ({kind})') <= lines
        assert latest_diagnostics(diags)['last_bad_message'].startswith('episode_start: ')
        # an older stamp than the stream's newest: counted and logged, not a silent duplicate
        deadline = time.monotonic() + 20.0
        while int(latest_diagnostics(diags)['input_agent_pos_older']) < 1:
            assert time.monotonic() < deadline, 'no input_agent_pos_older on /diagnostics'
            older = ros_probe.node.get_clock().now().nanoseconds - 600_000_000
            feeder.joint_pub.publish(cv.numpy_to_joint_state(
                np.array([200.0, 200.0]), ['jx', 'jy'], stamp=cv.ns_to_time(older)))
            time.sleep(0.1)
        assert 'before the newest sample of its stream' in node.log()
        n = len(trajs)  # and planning goes on after all of it (the future stamp stalled it)
        ros_probe.wait_for_messages(trajs, n + 2, 20.0, 'chunks after the bad messages')
        assert node.alive(), node.log()

        # ~/enable false: one hold, then nothing while disabled; true: chunks again
        disable_while_moving(ros_probe, diags, node.log)
        stays_quiet('disabled')
        values = latest_diagnostics(diags)
        assert values['enabled'] == 'False'
        n = published()
        assert is_hold(trajs[-1]) and values['holds_disabled'] == '1'
        assert stop_reasons(node.log())[-1] == 'disabled'  # the last message: its stop
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=True))
        assert reply.success and reply.message == 'enabled (was disabled)'
        ros_probe.wait_for_messages(trajs, n + 1, 20.0, 'chunks after ~/enable true')
        check_chunks(list(trajs), feeder.stamps, start)

        # ~/reset: the generator re-seeded with the episode rule, then the next episode waited for
        reply = ros_probe.call(Trigger, '/dp_policy/reset', Trigger.Request())
        assert reply.success and '0 * 1000003 + 5; waiting for the next episode start' in \
            reply.message, reply.message
        stays_quiet('waiting for an episode start')
        n = published()
        start = announce(episodes, ros_probe, 2, 6)
        msgs = ros_probe.wait_for_messages(trajs, n + 2, 30.0, 'chunks of episode 2')
        check_chunks(msgs[n:], feeder.stamps, start)

        values = wait_diag(ros_probe, diags, lambda d: d['env_seed'] == '6', 5.0, 'seed 6')
        for key in ('latency_p50_ms', 'latency_p95_ms', 'latency_last_ms', 'actions_dropped',
                    'actions_clamped', 'input_image_rate_hz', 'input_agent_pos_age_ms',
                    'node_overhead_p95_ms', 'warmup_ms'):
            assert values.get(key) not in (None, ''), key
        assert values['device'] == 'cpu' and values['mode'] == 'realtime'
        assert values['sampling'] == 'TorchScript'  # the node's default on the CPU
        assert values['sampling_errors'] == '0'
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_a_dry_run_publishes_on_its_own_topic_and_never_on_the_controllers(
        ros_processes, ros_probe, checkpoint, tmp_path):
    """dry_run: chunks and the stop go to ~/dry_run/joint_trajectory; the action topic, where
    the controller listens, gets nothing; split across two controllers, neither does. Recorded
    with the joint states (sim_bridge.record_demo), `dp-ros dry-run-report` reads it."""
    controller = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    gripper = ros_probe.collect(JointTrajectory, '/gripper/joint_trajectory', RELIABLE)
    dry = ros_probe.collect(JointTrajectory, DRY_TOPIC, RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint, dry_run=True,
                                                  action_joint_topics=SPLIT))
    feeder = Feeder(ros_probe)
    bag = tmp_path / 'dry_run_bag'
    rec = ros_processes.start('record', module_cmd(
        'sim_bridge.record_demo', '-o', str(bag), '--topics', DRY_TOPIC, '/arm/joint_states'))
    try:
        ros_probe.wait_for_messages(dry, 2, 60.0, 'dry-run chunks')
        check_chunks(list(dry), feeder.stamps, 0)
        rec.wait_for_log('ready:', 60)
        # ready means subscribed, not matched: the recording starts once the feeder's joint
        # states reach the recorder (matched at this writer) and its reader of the dry topic
        # is in the graph
        ros_probe.wait_for(lambda: feeder.joint_pub.get_subscription_count() >= 2, 30.0,
                           'the policy node and the recorder on the joint states')
        ros_probe.wait_for(lambda: any(i.node_name == 'record_demo' for i in
                                       ros_probe.node.get_subscriptions_info_by_topic(DRY_TOPIC)),
                           30.0, 'the recorder on the dry-run topic')
        # 15 joint states (1.5 s) and 3 chunks recorded: the report compares >= 8 steps
        fed = len(feeder.stamps)
        ros_probe.wait_for_messages(dry, len(dry) + 3, 60.0, 'dry-run chunks, recorded')
        ros_probe.wait_for(lambda: len(feeder.stamps) >= fed + 15, 60.0,
                           '15 joint states, recorded')
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=False))
        assert reply.success
        ros_probe.wait_for(lambda: any(map(is_hold, dry)), 10.0, 'the stop, on the dry topic')
        values = wait_diag(ros_probe, diags, lambda d: d['state'] == 'disabled', 20.0,
                           'disabled')
        assert values['dry_run'] == 'True'
        assert int(values['chunks_published']) >= 2
        assert 'DRY RUN: nothing to /arm/joint_trajectory, /gripper/joint_trajectory' in node.log()
        assert len(controller) == len(gripper) == 0
        assert node.alive(), node.log()
    finally:
        feeder.close()
    ros_processes.stop(rec)
    assert (bag / 'metadata.yaml').exists(), rec.log()[-3000:]
    from training.dry_run_report import main as dry_run_report

    out = tmp_path / 'dry_run_report.json'
    assert dry_run_report([str(bag), '--output', str(out), '--reference', '/arm/joint_states',
                           '--no-progress', '--no-plot']) == 0
    report = json.loads(out.read_text())
    assert report['joints'] == ['jx', 'jy'] and report['reference_kind'] == 'joint_state'
    assert report['period_s'] == pytest.approx(DT_NS / 1e9)
    assert report['metrics']['n_steps'] >= 8 and 0 < report['metrics']['coverage'] <= 1


def test_joints_split_across_two_controllers_get_the_same_plan_and_stop_each_in_its_frame(
        ros_processes, ros_probe, checkpoint):
    """action_joint_topics: each controller topic gets a trajectory of its own joints, with
    the stamp and point times of the other's; the stop holds both.

    The same run: topic_frame_ids names the frame of any command topic's messages (README),
    trajectories included: the gripper's chunks and stop in gripper_base, the arm's in
    frame_id (from test_policy_node_review.py, which started a node of its own for it)."""
    arm = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    gripper = ros_probe.collect(JointTrajectory, '/gripper/joint_trajectory', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        checkpoint, action_joint_topics=SPLIT, frame_id='base',
        topic_frame_ids='[/gripper/joint_trajectory=gripper_base]'))
    feeder = Feeder(ros_probe)
    try:
        ros_probe.wait_for_messages(arm, 2, 60.0, 'chunks on the arm topic')
        ros_probe.wait_for_messages(gripper, 2, 60.0, 'chunks on the gripper topic')
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=False))
        assert reply.success
        ros_probe.wait_for(lambda: any(map(is_hold, arm)) and any(map(is_hold, gripper)),
                           10.0, 'the stop on both topics')
        arm_msgs, gripper_msgs = list(arm), list(gripper)
        assert len(arm_msgs) == len(gripper_msgs) >= 3
        assert sum(not is_hold(m) for m in gripper_msgs) >= 2
        assert {m.header.frame_id for m in arm_msgs} == {'base'}
        assert {m.header.frame_id for m in gripper_msgs} == {'gripper_base'}
        for a, g in zip(arm_msgs, gripper_msgs, strict=True):
            assert (list(a.joint_names), list(g.joint_names)) == (['jx'], ['jy'])
            assert (a.header.stamp.sec, a.header.stamp.nanosec) == \
                (g.header.stamp.sec, g.header.stamp.nanosec)
            assert [(p.time_from_start.sec, p.time_from_start.nanosec) for p in a.points] == \
                [(p.time_from_start.sec, p.time_from_start.nanosec) for p in g.points]
            if not is_hold(a):  # a plan: clamped to the bounds (a hold: where the feed is)
                assert all(LOWER[0] <= p.positions[0] <= UPPER[0] for p in a.points)
                assert all(LOWER[1] <= p.positions[0] <= UPPER[1] for p in g.points)
        assert is_hold(arm_msgs[-1]) and is_hold(gripper_msgs[-1])
        assert '/arm/joint_trajectory [\'jx\'], /gripper/joint_trajectory [\'jy\']' in node.log()
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_a_forward_controller_gets_each_point_as_it_falls_due_and_the_stop(
        ros_processes, ros_probe, checkpoint):
    """action_stream_topics: the gripper's forward_command_controller topic gets one clamped
    position per point (Float64MultiArray), the arm its trajectories; with stop_deceleration
    the stop reaches both as a deceleration: the arm's as one trajectory (stamped 0), the
    gripper's point by point as they fall due (where it was commanded at the stop, then the
    path), ending at the rest position the log names, then nothing (the one-point hold on
    streamed topics: the pose controller's test). The disable's stop is the last one: inputs
    gone stale while the feeder starved on a busy machine stop the arm too (holds_stale),
    each stop streaming its own path."""
    arm = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    gripper = ros_probe.collect(Float64MultiArray, '/gripper/commands', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    # the random policy moves up to ~3000/s: a stop of at most 0.3 s (3 points)
    node = ros_processes.start('policy', node_cmd(
        checkpoint, action_joint_topics='[/arm/joint_trajectory,/gripper/commands]',
        action_stream_topics='[/gripper/commands]', stop_deceleration='[10000.0]'))
    feeder = Feeder(ros_probe)
    try:
        ros_probe.wait_for_messages(gripper, 5, 60.0, 'streamed gripper points')
        ros_probe.wait_for_messages(arm, 1, 10.0, 'an arm trajectory')
        streamed = list(gripper)
        assert all(len(m.data) == 1 and LOWER[1] <= m.data[0] <= UPPER[1] for m in streamed)
        assert all(list(m.joint_names) == ['jx'] for m in arm)
        values = disable_while_moving(ros_probe, diags, node.log)
        holds = int(values['holds_published'])
        assert holds == 1 + int(values.get('holds_stale', '0')), values
        assert stop_reasons(node.log())[-1] == 'disabled', node.log()
        line = next(x for x in node.log().splitlines() if 'stop (disabled)' in x)
        assert 'trajectory and forward controllers decelerate' in line, line
        rest = json.loads(line.split('to rest at ')[1].split(']')[0] + ']')

        def stops_of(msgs):
            return [m for m in msgs if (m.header.stamp.sec, m.header.stamp.nanosec) == (0, 0)]

        ros_probe.wait_for(lambda: len(stops_of(arm)) >= holds, 10.0, 'the stops on the arm')
        stops = stops_of(arm)
        assert len(stops) == holds and [p.positions[0] for p in stops[-1].points][-1] == \
            pytest.approx(rest[0], abs=1e-4)
        n = int(values['points_streamed'])
        # each point once at most: no more than the plans held (later plans replace tails)
        assert 5 <= n <= sum(len(m.points) for m in arm if m not in stops)
        ros_probe.wait_for(lambda: gripper and len(gripper) > n and
                           gripper[-1].data[0] == pytest.approx(rest[1], abs=1e-4),
                           10.0, 'the gripper at the rest position')
        # the stream ended: nothing more while disabled; read the count from a status the
        # node published after it sent the rest point (the third one received from here on:
        # the first two may have been on their way; the period is 0.25 s)
        seen = len(diags)
        ros_probe.wait_for(lambda: len(diags) >= seen + 3, 20.0, 'three more statuses')
        values = latest_diagnostics(diags)
        sent = int(values['stop_points_streamed'])
        # the newest point that fell due per 5 ms check: per stop at most the start and every
        # point of its path (a stale stop's cut short by the next plan)
        assert 1 <= sent <= sum(len(stop.points) + 1 for stop in stops), (sent, stops)
        assert len(gripper) == n + sent
        assert "/gripper/commands ['jy'] (streamed)" in node.log()
        assert node.alive(), node.log()
    finally:
        feeder.close()


@pytest.mark.parametrize('two_keys', [False, True], ids=['one_key', 'two_keys'])
def test_joint_states_on_two_topics_make_one_observation_and_the_stop_holds_both(
        ros_processes, ros_probe, request, tmp_path, two_keys):
    """state_joint_topics: jx from the arm's driver, jy from the gripper's; the node plans on
    both (each stream's own samples, joined in joint order) and a stop holds both joints at
    their measured positions, each measured on its own topic. two_keys: the checkpoint's
    state is two low-dim keys ('arm': jx, 'gripper': jy), state_joint_names naming their
    values in key order; the streams are named by both."""
    from support import make_tiny_two_key_checkpoint

    from dp_ros.runtime.observation_log import read_observation_log

    policy = (make_tiny_two_key_checkpoint(tmp_path / 'two_keys') if two_keys
              else request.getfixturevalue('checkpoint'))
    label, keys = ('arm+gripper', "'arm' + 'gripper'") if two_keys else ('agent_pos',
                                                                         "'agent_pos'")
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    log = tmp_path / 'observations.jsonl'
    node = ros_processes.start('policy', node_cmd(
        policy, state_joint_topics='[/arm/joint_states,/gripper/joint_states]',
        observation_log_path=str(log)))
    feeder = Feeder(ros_probe, position=(200.0, 300.0), gripper_topic='/gripper/joint_states')
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'chunks planned on both joint-state topics')
        [hold] = holds_of_a_disable(ros_probe, diags, node.log, trajs)
        assert list(hold.joint_names) == ['jx', 'jy']
        assert list(hold.points[0].positions) == [200.0, 300.0]  # measured, on two topics
        records = read_observation_log(log)
        assert records
        for record in records:
            arm = record['streams'][f'{label}:/arm/joint_states']
            gripper = record['streams'][f'{label}:/gripper/joint_states']
            assert arm['values'] == [[200.0]] * 2 and gripper['values'] == [[300.0]] * 2
            for stamps in (arm['stamps_ns'], gripper['stamps_ns']):
                assert all(s <= t + 1_000 for s, t in zip(stamps, record['times_ns'],
                                                          strict=True))
        assert (f"{keys} <- /arm/joint_states ['jx'] + /gripper/joint_states ['jy']"
                in node.log())
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_two_arms_whose_drivers_name_their_joints_alike_are_read_and_commanded_apart(
        ros_processes, ros_probe, checkpoint, tmp_path):
    """topic_name_prefixes: both drivers publish and take a joint named 'waist'; the node
    reads /arm/joint_states' as left_waist and /right/joint_states' as right_waist, sends
    each arm's controller its own trajectory of 'waist', and the stop holds each arm at its
    own measured position."""
    from dp_ros.runtime.observation_log import read_observation_log

    left_cmd, right_cmd = '/arm/joint_trajectory', '/right/joint_trajectory'
    trajs = {t: ros_probe.collect(JointTrajectory, t, RELIABLE) for t in (left_cmd, right_cmd)}
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    log = tmp_path / 'observations.jsonl'
    node = ros_processes.start('policy', node_cmd(
        checkpoint, state_joint_names='[left_waist,right_waist]',
        state_joint_topics='[/arm/joint_states,/right/joint_states]',
        action_joint_names='[left_waist,right_waist]',
        action_joint_topics=f'[{left_cmd},{right_cmd}]',
        topic_name_prefixes=f'[/arm/joint_states=left_,/right/joint_states=right_,'
                            f'{left_cmd}=left_,{right_cmd}=right_]',
        observation_log_path=str(log)))
    feeder = Feeder(ros_probe, position=(200.0, 300.0), gripper_topic='/right/joint_states',
                    joints=('waist', 'waist'))
    try:
        for topic, got in trajs.items():
            ros_probe.wait_for_messages(got, 2, 60.0, f'chunks on {topic}')
        holds = holds_of_a_disable(ros_probe, diags, node.log, trajs[left_cmd], trajs[right_cmd])
        for topic, measured, hold in zip((left_cmd, right_cmd), (200.0, 300.0), holds,
                                         strict=True):
            assert all(list(m.joint_names) == ['waist'] for m in trajs[topic])
            assert list(hold.points[0].positions) == [measured]  # each arm's own
        records = read_observation_log(log)
        assert records
        for record in records:
            left = record['streams']['agent_pos:/arm/joint_states']
            right = record['streams']['agent_pos:/right/joint_states']
            assert left['values'] == [[200.0]] * 2 and right['values'] == [[300.0]] * 2
        assert ("/arm/joint_states ['left_waist'] (messages without 'left_') + "
                "/right/joint_states ['right_waist'] (messages without 'right_')" in node.log())
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_an_end_effector_pose_topic_is_read_as_the_state(ros_processes, ros_probe, checkpoint,
                                                         tmp_path):
    """state_pose_topics: the state is an end effector's x and yaw from a PoseStamped, the
    yaw wrapped from state_yaw_min (0: -1 rad reads 2 pi - 1) as bag2zarr wraps it."""
    from dp_ros.runtime.observation_log import read_observation_log

    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    log = tmp_path / 'observations.jsonl'
    node = ros_processes.start('policy', node_cmd(
        checkpoint, joint_state_topic='/arm/ee_pose', state_joint_names='[x,yaw]',
        state_pose_topics='[/arm/ee_pose]', state_yaw_min=0.0, observation_log_path=str(log)))
    feeder = Feeder(ros_probe, position=(0.25, -1.0), pose_topic='/arm/ee_pose')
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'chunks planned on the pose')
        records = read_observation_log(log)
        assert records
        for record in records:
            values = np.array(record['streams']['agent_pos']['values'])
            np.testing.assert_allclose(values, [[0.25, 2 * np.pi - 1.0]] * 2, rtol=1e-6)
        assert "'agent_pos' <- /arm/ee_pose ['x', 'yaw'] (pose)" in node.log()
        assert node.alive(), node.log()
    finally:
        feeder.close()


def disable_until_the_stop_is_sent(ros_probe, diags, sent, log) -> dict[str, str]:
    """~/enable false (disable_while_moving), then wait for each stop's one message among
    the points streamed on the collected topic `sent` (the disable's, the last; and one per
    time the inputs went stale: a feeder starved on a busy machine); the diagnostics
    values."""
    values = disable_while_moving(ros_probe, diags, log)
    assert int(values['holds_published']) == 1 + int(values.get('holds_stale', '0')), values
    n = int(values['points_streamed']) + int(values['holds_published'])
    ros_probe.wait_for(lambda: len(sent) >= n, 10.0, 'the stops\' messages')
    return values


def test_a_cartesian_controller_gets_each_point_as_a_pose_target_and_the_stop(
        ros_processes, ros_probe, tmp_path):
    """action_pose_topics: a policy whose actions are an end effector's x, y, z and yaw sends
    each point as it falls due as a PoseStamped in frame_id, clamped to the workspace box
    (action_lower/upper), under a step limit that starts from the measured pose (the state's
    pose topic gives the same fields), its yaw a turn about z; the stop holds the measured
    pose, once (after one such hold per time the inputs went stale, if the feeder starved)."""
    from support import make_tiny_pose_checkpoint

    lower, upper = [0.3, -0.1, 0.1, -1.0], [0.5, 0.1, 0.3, 1.0]
    here = (0.4, 0.05, 0.2, 0.5)  # the end effector stands here
    policy = make_tiny_pose_checkpoint(tmp_path / 'pose_policy', state='pose')
    targets = ros_probe.collect(PoseStamped, '/arm/target_pose', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        policy, joint_state_topic='/arm/ee_pose', state_joint_names="[x,'y',z,yaw]",
        state_pose_topics='[/arm/ee_pose]', action_topic='/arm/target_pose',
        action_joint_names="[x,'y',z,yaw]", action_pose_topics='[/arm/target_pose]',
        frame_id='base_link', action_lower=str(lower).replace(' ', ''),
        action_upper=str(upper).replace(' ', ''), max_step_delta='[0.01,0.01,0.01,0.1]'))
    feeder = Feeder(ros_probe, position=here, pose_topic='/arm/ee_pose')
    try:
        ros_probe.wait_for_messages(targets, 5, 60.0, 'pose targets')
        for msg in list(targets):
            p, q = msg.pose.position, msg.pose.orientation
            assert msg.header.frame_id == 'base_link'
            assert all(lo - 1e-9 <= v <= hi + 1e-9
                       for v, lo, hi in zip((p.x, p.y, p.z), lower, upper, strict=False))
            assert q.x == q.y == 0.0 and abs(q.z ** 2 + q.w ** 2 - 1) < 1e-9
            assert abs(2 * np.arctan2(q.z, q.w)) <= 1.0 + 1e-9  # yaw within its bounds
        values = disable_until_the_stop_is_sent(ros_probe, diags, targets, node.log)
        n = int(values['points_streamed']) + int(values['holds_published'])
        time.sleep(0.5)  # nothing is sent while disabled
        assert len(targets) == n and int(values['pose_targets_skipped']) == 0
        # the step limit started from the measured pose: no chunk lacked it
        assert int(values['chunks_no_reference']) == 0
        stop = targets[-1].pose  # the measured pose, held
        assert (stop.position.x, stop.position.y, stop.position.z) == here[:3]
        assert 2 * np.arctan2(stop.orientation.z, stop.orientation.w) == pytest.approx(here[3])
        assert "/arm/target_pose ['x', 'y', 'z', 'yaw'] (pose)" in node.log()
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_two_end_effectors_each_get_their_own_pose_targets_and_stop(ros_processes, ros_probe,
                                                                    tmp_path):
    """topic_name_prefixes on pose topics (UMI-style, two arms' poses named left_x, ...,
    right_yaw in the training data): each arm's PoseStamped is read as its own fields, each
    Cartesian controller gets targets of its own arm's action values in its own base frame
    (topic_frame_ids), and the stop holds each at its own measured pose."""
    from support import make_tiny_pose_checkpoint

    fields = ['x', 'y', 'z', 'yaw']
    arms = {'left': (0.4, 0.05, 0.2, 0.5), 'right': (0.3, -0.2, 0.1, -0.7)}
    names = [f'{arm}_{f}' for arm in arms for f in fields]
    policy = make_tiny_pose_checkpoint(tmp_path / 'two_poses', state='pose', action=tuple(names))
    targets = {arm: ros_probe.collect(PoseStamped, f'/{arm}/target_pose', RELIABLE)
               for arm in arms}
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    listed = '[' + ','.join(names) + ']'
    prefixes = ','.join(f'/{arm}/{topic}={arm}_' for arm in arms
                        for topic in ('ee_pose', 'target_pose'))
    node = ros_processes.start('policy', node_cmd(
        policy, state_joint_names=listed,
        state_joint_topics='[' + ','.join(f'/{a}/ee_pose' for a in arms for _ in fields) + ']',
        state_pose_topics='[/left/ee_pose,/right/ee_pose]', action_joint_names=listed,
        action_joint_topics='[' + ','.join(f'/{a}/target_pose' for a in arms
                                           for _ in fields) + ']',
        action_pose_topics='[/left/target_pose,/right/target_pose]', frame_id='left_base',
        topic_frame_ids='[/right/target_pose=right_base]',
        topic_name_prefixes=f'[{prefixes}]', action_lower='[]', action_upper='[]'))
    feeders = [Feeder(ros_probe, position=here, pose_topic=f'/{arm}/ee_pose')
               for arm, here in arms.items()]
    try:
        for arm in arms:
            ros_probe.wait_for_messages(targets[arm], 3, 60.0, f'pose targets of {arm}')
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=False))
        assert reply.success
        wait_diag(ros_probe, diags, lambda d: d['state'] == 'disabled', 20.0, 'disabled')
        for arm, here in arms.items():  # the stop: each arm's own measured pose, held
            ros_probe.wait_for(lambda arm=arm, here=here: targets[arm] and (
                targets[arm][-1].pose.position.x, targets[arm][-1].pose.position.y,
                targets[arm][-1].pose.position.z) == here[:3], 10.0, f'the stop of {arm}')
            q = targets[arm][-1].pose.orientation
            assert 2 * np.arctan2(q.z, q.w) == pytest.approx(here[3])
            assert {m.header.frame_id for m in targets[arm]} == {f'{arm}_base'}
        assert ("/left/target_pose ['left_x', 'left_y', 'left_z', 'left_yaw'] (pose) "
                "(messages without 'left_')") in node.log()
        assert node.alive(), node.log()
    finally:
        for feeder in feeders:
            feeder.close()


def start_rot6d_node(ros_processes, tmp_path, action_topic: str, **params):
    """A node running a tiny policy that observes the end effector's pose on /arm/ee_pose and
    commands it on `action_topic`, both as x, y, z and a rotation 6D (the matrix's first two
    columns), in base_link, within a workspace box."""
    from support import make_tiny_pose_checkpoint

    from dp_ros.pose_fields import MATRIX_COLUMNS

    fields = ('x', 'y', 'z', *MATRIX_COLUMNS)
    names = '[' + ','.join(["'y'" if f == 'y' else f for f in fields]) + ']'
    policy = make_tiny_pose_checkpoint(tmp_path / 'rot6d_policy', state='pose', action=fields)
    return ros_processes.start('policy', node_cmd(
        policy, joint_state_topic='/arm/ee_pose', state_joint_names=names,
        state_pose_topics='[/arm/ee_pose]', action_topic=action_topic, action_joint_names=names,
        frame_id='base_link', action_lower='[0.3,-0.1,0.1' + ',-1.0' * 6 + ']',
        action_upper='[0.5,0.1,0.3' + ',1.0' * 6 + ']', **params))


def test_a_rotation_6d_policy_commands_whole_orientations(ros_processes, ros_probe, tmp_path):
    """A policy that observes and commands the end effector's orientation as a rotation 6D
    (the rotation matrix's first two columns, as the paper's code does for absolute actions):
    each predicted pair of axes goes out as a unit quaternion, and the stop holds the measured
    orientation, decoded from the state's pose and turned back into the quaternion sent."""
    half = 1.2  # the tool turned 2.4 rad about the axis (1, 2, 2) / 3
    here_q = (np.sin(half) / 3, 2 * np.sin(half) / 3, 2 * np.sin(half) / 3, np.cos(half))
    targets = ros_probe.collect(PoseStamped, '/arm/target_pose', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = start_rot6d_node(ros_processes, tmp_path, '/arm/target_pose',
                            action_pose_topics='[/arm/target_pose]',
                            max_step_delta='[' + ','.join(['0.05'] * 9) + ']')
    feeder = Feeder(ros_probe, position=(0.4, 0.05, 0.2), pose_topic='/arm/ee_pose',
                    quaternion=here_q)
    try:
        ros_probe.wait_for_messages(targets, 5, 60.0, 'pose targets')
        for msg in list(targets):
            q = msg.pose.orientation
            assert abs(q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2 - 1) < 1e-9 and q.w >= 0
        values = disable_until_the_stop_is_sent(ros_probe, diags, targets, node.log)
        assert int(values['pose_targets_skipped']) == 0
        assert int(values['chunks_no_reference']) == 0
        stop = targets[-1].pose  # the measured pose, held
        o = stop.orientation
        np.testing.assert_allclose((o.x, o.y, o.z, o.w), here_q, atol=1e-9)
        assert "/arm/target_pose ['x', 'y', 'z', 'r00', 'r10', 'r20', 'r01', 'r11', 'r21'] " \
               '(pose)' in node.log()
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_a_velocity_servo_gets_twists_toward_the_plan_and_a_zero_twist_at_the_stop(
        ros_processes, ros_probe, tmp_path):
    """action_twist_topics: a rotation-6D policy drives a twist-driven servo (MoveIt Servo's
    delta_twist_cmds): while it runs, TwistStamped messages in frame_id every few ms, within
    the speed limits; the stop sends one zero twist, then nothing."""
    twists = ros_probe.collect(TwistStamped, '/servo/delta_twist_cmds', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = start_rot6d_node(ros_processes, tmp_path, '/servo/delta_twist_cmds',
                            action_twist_topics='[/servo/delta_twist_cmds]',
                            twist_max_linear=0.1, twist_max_angular=0.5)
    feeder = Feeder(ros_probe, position=(0.4, 0.05, 0.2), pose_topic='/arm/ee_pose',
                    quaternion=(0.0, 0.0, 0.0, 1.0))
    try:
        ros_probe.wait_for_messages(twists, 20, 60.0, 'twists')
        for msg in list(twists):
            t = msg.twist
            assert msg.header.frame_id == 'base_link'
            assert np.linalg.norm([t.linear.x, t.linear.y, t.linear.z]) <= 0.1 + 1e-9
            assert np.linalg.norm([t.angular.x, t.angular.y, t.angular.z]) <= 0.5 + 1e-9
        assert any(m.twist.linear.x or m.twist.angular.z for m in list(twists))
        # the servo's rate: the node polls every 5 ms while it moves, every 50 ms idle
        wait_diag(ros_probe, diags, lambda d: d['poll_period_ms'] == '5.0', 10.0, 'fast poll')
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=False))
        assert reply.success
        values = wait_diag(ros_probe, diags, lambda d: d['state'] == 'disabled'
                           and d['poll_period_ms'] == '50.0', 20.0, 'disabled, idle poll')
        ros_probe.wait_for(lambda: (lambda t: t.linear.x == t.linear.y == t.linear.z ==
                                    t.angular.x == t.angular.y == t.angular.z == 0.0)(
            twists[-1].twist), 10.0, 'the zero twist')
        count = len(twists)
        time.sleep(0.5)  # nothing is sent while disabled
        assert len(twists) == count
        assert int(values['twists_sent']) > 0 and int(values['pose_targets_skipped']) == 0
        assert "/servo/delta_twist_cmds ['x', 'y', 'z', 'r00', 'r10', 'r20', 'r01', 'r11', " \
               "'r21'] (twist)" in node.log()
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_an_unstamped_camera_and_pose_are_filed_at_their_receive_time(ros_processes, ros_probe,
                                                                      checkpoint):
    """A camera driver that never stamps its frames (header stamp 0), and a pose the same:
    bag2zarr trains on such a stream by its receive times; the node files each message at its
    receive time on the node clock (counted per stream, logged once per stream) and plans.
    The stamp check stays for stamped messages (the bad-message test above)."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        checkpoint, joint_state_topic='/arm/ee_pose', state_joint_names='[x,yaw]',
        state_pose_topics='[/arm/ee_pose]'))
    feeder = Feeder(ros_probe, position=(0.25, 1.0), pose_topic='/arm/ee_pose', unstamped=True)
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'chunks planned on unstamped inputs')
        values = wait_diag(ros_probe, diags, lambda d: int(d['input_image_filed']) > 2, 20.0,
                           'filed frames')
        assert values['bad_messages'] == '0', values
        assert int(values['input_image_stamped_on_receipt']) >= \
            int(values['input_image_filed']) > 2, values
        assert int(values['input_agent_pos_stamped_on_receipt']) > 2, values
        assert values['inputs_unstamped_skipped'] == '0'
        chunk = cv.joint_trajectory_to_chunk(next(t for t in trajs if not is_hold(t)))
        now = ros_probe.node.get_clock().now().nanoseconds
        assert abs(chunk.stamp_ns - now) < 30 * cv.NS_PER_S  # on the wall clock, not near 0
        log = node.log()
        assert log.count("camera 'image' (/cam/image_raw): header stamp 0") == 1, log
        assert log.count('/arm/ee_pose: header stamp 0') == 1, log
        assert 'stamp_past' not in log and node.alive(), log
    finally:
        feeder.close()


def test_a_camera_much_slower_than_its_recorded_rate_is_warned_about(ros_processes, ros_probe,
                                                                    tmp_path):
    """A checkpoint whose camera was recorded at 30 Hz, fed at 10 Hz (a driver set to another
    frame rate): the node plans on it (within the gap tolerance) but says so, once, naming
    the topic and both rates, and marks the input slow on /diagnostics; the joint states,
    recorded at half the rate they come (a margin for a feeder stalled on a loaded machine),
    are not named."""
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    meta['obs']['image']['sources'] = [{'kind': 'image', 'topic': '/cam/image_raw',
                                        'width': None, 'rate_hz': 30.0}]
    meta['obs']['agent_pos']['sources'] = [{'kind': 'joint_state', 'width': 2,
                                            'topic': '/arm/joint_states', 'rate_hz': 5.0}]
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny', shape_meta=meta)
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint))
    feeder = Feeder(ros_probe)
    try:
        values = wait_diag(ros_probe, diags, lambda d: d['inputs_slow'] == 'image', 60.0,
                           'the camera reported slow')
        assert values['input_image_recorded_rate_hz'] == '30.0'
        assert values['input_agent_pos_recorded_rate_hz'] == '5.0'
        assert diags[-1].status[0].level == DiagnosticStatus.WARN
        assert 'inputs slower than their training data: image' in diags[-1].status[0].message
        ros_probe.wait_for_messages(trajs, 2, 30.0, 'chunks planned on the slow camera')
        log = node.log()
        assert log.count("input 'image' (/cam/image_raw) comes at") == 1, log
        assert 'its training data was recorded at 30.0 Hz' in log
        assert "input 'agent_pos'" not in log and node.alive(), log
    finally:
        feeder.close()


def test_unstamped_inputs_before_the_first_sim_clock_are_skipped_then_filed(
        ros_processes, ros_probe, checkpoint):
    """use_sim_time, realtime: before the first /clock the node clock reads 0 and an unset
    stamp has nothing to be placed by: counted, not filed; once /clock runs they are filed
    at the sim time they arrive."""
    from rosgraph_msgs.msg import Clock

    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    clock = ros_probe.publisher(Clock, '/clock', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint, use_sim_time=True))
    feeder = Feeder(ros_probe, unstamped=True)
    try:
        values = wait_diag(ros_probe, diags, lambda d: int(d['input_image_received']) > 2
                           and int(d['inputs_unstamped_skipped']) > 2, 60.0, 'skipped inputs')
        assert values['input_image_filed'] == values['input_agent_pos_filed'] == '0', values
        assert values['inputs_stamped_on_receipt'] == '0', values
        sim_ns = 1000 * cv.NS_PER_S
        deadline = time.monotonic() + 30.0
        while not (diags and int(latest_diagnostics(diags)['input_image_filed']) > 2):
            assert time.monotonic() < deadline, 'no frame filed once /clock runs'
            sim_ns += DT_NS
            clock.publish(Clock(clock=cv.ns_to_time(sim_ns)))
            time.sleep(0.1)
        values = latest_diagnostics(diags)
        assert int(values['input_image_stamped_on_receipt']) > 2, values
        assert int(values['input_agent_pos_stamped_on_receipt']) > 2, values
        assert values['bad_messages'] == '0', values
        assert node.log().count('received before the node clock ran') == 1, node.log()
    finally:
        feeder.close()


def test_a_camera_published_as_another_type_than_compressed_images_says_so(ros_processes,
                                                                           ros_probe,
                                                                           checkpoint):
    """compressed_images true on a plain topic: a warning at start; and once the camera's
    publisher shows sensor_msgs/Image, a warning that the node receives nothing from it."""
    node = ros_processes.start('policy', node_cmd(checkpoint, compressed_images=True))
    feeder = Feeder(ros_probe)
    try:
        node.wait_for_log("camera 'image': /cam/image_raw is published as "
                          "['sensor_msgs/msg/Image'], the node subscribes to "
                          'sensor_msgs/msg/CompressedImage', 60.0)
        assert "parameter compressed_images is true and image_topics ['/cam/image_raw'] do " \
            "not end in '/compressed'" in node.log()
        assert node.alive(), node.log()
    finally:
        feeder.close()
