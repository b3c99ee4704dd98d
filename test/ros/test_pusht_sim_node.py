"""The pusht_sim node's wiring over real ROS topics: started as its own process, driven by the
probe. The stepping rules are unit-tested in test/test_episode_stepper.py; here the messages,
service, parameters and exit codes, checked by order, counts and stamps (never by timing)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_harness import ProcessGroup, module_cmd
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger
from test_episode_stepper import lockstep_run
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dp_ros.ros.conversions import (
    chunk_to_joint_trajectory,
    image_to_numpy,
    joint_state_to_numpy,
    time_to_ns,
)

pytestmark = pytest.mark.ros

NS = '/pusht'
JOINTS = ['agent_x', 'agent_y']
DT_NS = 100_000_000
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# A push toward the T's usual start region: moves the agent, sometimes touches the block.
ACTIONS = np.array([[200.0 + 15 * k, 300.0 - 10 * k] for k in range(12)])


def start_sim(ros_processes, name: str, *params: str, extra: tuple[str, ...] = ()):
    args = ['--ros-args', '-r', '__ns:=' + NS, '-p', 'obs_republish_period_s:=0.3', *extra]
    for p in params:
        args += ['-p', p]
    return ros_processes.start(name, module_cmd('sim_bridge.pusht_sim_node', *args))


def start_sim_when_heard(ros_processes, streams: 'Streams', name: str, *params: str,
                         extra: tuple[str, ...] = (), before_reset=None):
    """Start the sim paused and begin its episode only once the probe and the sim hear each
    other, so that a slow discovery (a loaded CPU) cannot hide the episode's first messages.
    `before_reset`: called once they do, before the episode begins (a teleop asking the
    sim's mode, which a busy machine delays by seconds)."""
    proc = start_sim(ros_processes, name, 'autostart:=false', *params, extra=extra)
    node = streams.probe.node
    streams.probe.wait_for(lambda: node.count_publishers(f'{NS}/joint_states') >= 1
                           and node.count_publishers(f'{NS}/image_raw') >= 1, 30.0,
                           'the sim publishers')
    streams.probe.wait_for_subscribers(streams.traj_pub)
    if before_reset is not None:
        before_reset()
    reply = streams.probe.call(Trigger, f'{NS}/reset', Trigger.Request())
    assert reply.success, reply.message
    return proc


class Streams:
    """The node's outputs as seen by the probe."""

    def __init__(self, probe):
        self.probe = probe
        self.images = probe.collect(Image, f'{NS}/image_raw')  # sensor-data QoS
        self.joints = probe.collect(JointState, f'{NS}/joint_states', RELIABLE)
        self.blocks = probe.collect(PoseStamped, f'{NS}/block_pose', RELIABLE)
        self.rewards = probe.collect(Float64, f'{NS}/reward', RELIABLE)
        self.results = probe.collect(String, f'{NS}/episode_result', LATCHED)
        self.starts = probe.collect(String, f'{NS}/episode_start', LATCHED)
        self.clock = probe.collect(Clock, '/clock', RELIABLE)
        self.traj_pub = probe.publisher(JointTrajectory, f'{NS}/joint_trajectory')

    def joint_at(self, t_ns: int, timeout: float = 20.0) -> JointState:
        def find():
            return next((m for m in list(self.joints) if time_to_ns(m.header.stamp) == t_ns), None)
        self.probe.wait_for(lambda: find() is not None, timeout, f'joint_states at {t_ns} ns')
        return find()

    def image_at(self, t_ns: int, timeout: float = 10.0) -> Image:
        def find():
            return next((m for m in list(self.images) if time_to_ns(m.header.stamp) == t_ns), None)
        self.probe.wait_for(lambda: find() is not None, timeout, f'image at {t_ns} ns')
        return find()

    def result(self, count: int = 1, timeout: float = 20.0) -> list[dict]:
        msgs = self.probe.wait_for_messages(self.results, count, timeout, 'episode results')
        return [json.loads(m.data) for m in msgs]

    def send(self, actions, stamp_ns: int) -> None:
        self.traj_pub.publish(chunk_to_joint_trajectory(np.asarray(actions), JOINTS, 0.1,
                                                        stamp_ns))


def drive_lockstep(streams: Streams) -> tuple[list[bytes], list[np.ndarray]]:
    """Answer the observations of an episode with ACTIONS; a 4-point chunk covers steps 0..3."""
    streams.probe.wait_for_subscribers(streams.traj_pub)
    images, states = [], []
    k = 0
    while k < len(ACTIONS):
        js = streams.joint_at(k * DT_NS)
        img = streams.image_at(k * DT_NS)
        images.append(bytes(img.data))
        states.append(np.concatenate([joint_state_to_numpy(js, JOINTS),
                                      joint_state_to_numpy(js, JOINTS, 'velocity')]))
        n = 4 if k == 0 else 1
        streams.send(ACTIONS[k:k + n], k * DT_NS)
        k += n
        for j in range(1, n):  # steps run without waiting: their observations still come
            js = streams.joint_at((k - n + j) * DT_NS)
            images.append(bytes(streams.image_at((k - n + j) * DT_NS).data))
            states.append(np.concatenate([joint_state_to_numpy(js, JOINTS),
                                          joint_state_to_numpy(js, JOINTS, 'velocity')]))
    js = streams.joint_at(k * DT_NS)  # the final observation
    images.append(bytes(streams.image_at(k * DT_NS).data))
    states.append(np.concatenate([joint_state_to_numpy(js, JOINTS),
                                  joint_state_to_numpy(js, JOINTS, 'velocity')]))
    return images, states


def test_lockstep_over_ros_is_the_stepper_byte_for_byte(ros_processes, ros_probe):
    """One ROS run equals the in-process stepper run (whose runs are identical), so two ROS
    runs are byte-identical and the node adds nothing to what the stepper computes."""
    streams = Streams(ros_probe)
    start_sim(ros_processes, 'sim_lockstep', 'seeds:=[7]', 'max_steps:=12', 'auto_reset:=false',
              'action_wait_timeout_s:=20.0')
    images, states = drive_lockstep(streams)
    result = streams.result()[-1]
    expected, _ = lockstep_run(7, ACTIONS)
    assert len(images) == len(expected.observations) == 13
    assert images == [o.image.tobytes() for o in expected.observations]
    np.testing.assert_array_equal(
        states, [np.concatenate([o.joint_pos, o.joint_vel]) for o in expected.observations])
    assert result == expected.results[0]
    assert result == {**result, 'seed': 7, 'steps': 12, 'reason': 'max_steps',
                      'action_timeouts': 0, 'rejected': {}}
    # the episode was announced (latched) at sim time 0; sim time runs 0..12 dt on /clock
    starts = ros_probe.wait_for_messages(streams.starts, 1, 5.0, 'the episode start')
    assert [json.loads(m.data) for m in starts] == [{'episode': 0, 'seed': 7, 'start_ns': 0}]
    clock_ns = sorted({time_to_ns(c.clock) for c in streams.clock})
    assert clock_ns == [k * DT_NS for k in range(13)]
    rewards = ros_probe.wait_for_messages(streams.rewards, 12, 5.0, 'rewards')
    assert len(rewards) == 12 and all(0.0 <= r.data <= 1.0 for r in rewards)
    img = streams.image_at(0)
    assert (img.encoding, img.height, img.width, img.step, img.header.frame_id) == (
        'rgb8', 96, 96, 96 * 3, 'pusht_workspace')
    assert image_to_numpy(img).shape == (96, 96, 3)
    ros_probe.wait_for(lambda: any(time_to_ns(m.header.stamp) == 12 * DT_NS
                                   for m in list(streams.blocks)), 5.0, 'the last block pose')
    pose = next(m.pose for m in streams.blocks if time_to_ns(m.header.stamp) == 12 * DT_NS)
    x, y, yaw = expected.observations[-1].block_pose
    assert (pose.position.x, pose.position.y) == (x, y)
    o = pose.orientation
    assert (o.x, o.y) == (0.0, 0.0) and np.isclose(2 * np.arctan2(o.z, o.w) % (2 * np.pi), yaw)


def bad_trajectories() -> list[tuple[str, JointTrajectory]]:
    def traj(names, rows, times_ns):
        msg = JointTrajectory()
        msg.joint_names = names
        for row, t in zip(rows, times_ns, strict=True):
            p = JointTrajectoryPoint(positions=[float(v) for v in row])
            p.time_from_start.sec, p.time_from_start.nanosec = divmod(t, 1_000_000_000)
            msg.points.append(p)
        return msg

    return [
        ('joint_names', traj(['x', 'y'], [[100, 100]], [0])),
        ('non_finite', traj(JOINTS, [[100, 100], [np.nan, 100]], [0, DT_NS])),
        ('out_of_workspace', traj(JOINTS, [[100, 900]], [0])),
        ('empty', traj(JOINTS, [], [])),
        ('out_of_order', traj(JOINTS, [[100, 100], [110, 100]], [DT_NS, 0])),
        ('dimension', traj(JOINTS, [[100, 100, 3]], [0])),
    ]


def test_lockstep_rejects_bad_input_keeps_running_and_resets(ros_processes, ros_probe):
    streams = Streams(ros_probe)
    start_sim(ros_processes, 'sim_bad_input', 'seeds:=[1, 2, 3]', 'max_steps:=3',
              'action_wait_timeout_s:=0')  # wait forever: only our actions step the sim
    start = joint_state_to_numpy(streams.joint_at(0), JOINTS)
    ros_probe.wait_for_subscribers(streams.traj_pub)
    for _, msg in bad_trajectories():  # each rejected: the sim keeps waiting for step 0
        streams.traj_pub.publish(msg)
    streams.send([[150.0, 150.0]], 0)
    moved = joint_state_to_numpy(streams.joint_at(DT_NS), JOINTS) - start
    assert np.all(np.sign(moved) == np.sign(np.array([150.0, 150.0]) - start))

    reply = ros_probe.call(Trigger, f'{NS}/reset', Trigger.Request())
    assert reply.success and 'seed=2' in reply.message
    first = streams.result(1)[0]
    assert first == {**first, 'reason': 'reset', 'seed': 1, 'episode': 0, 'steps': 1}
    assert first['rejected'] == {kind: 1 for kind, _ in bad_trajectories()}

    # Episode 1 (seed 2) starts at the next tick (t = 0.2 s): sim time never goes back.
    for tick in (2, 3, 4):
        streams.joint_at(tick * DT_NS)
        streams.send([[300.0, 300.0]], tick * DT_NS)
    second = streams.result(2)[1]
    assert second == {**second, 'seed': 2, 'episode': 1, 'steps': 3, 'reason': 'max_steps',
                      'action_timeouts': 0, 'rejected': {}}
    # auto_reset started seed 3 at t = 0.6 s; after it the seeds are used up
    streams.joint_at(6 * DT_NS)
    reply = ros_probe.call(Trigger, f'{NS}/reset', Trigger.Request())
    assert not reply.success and 'used up' in reply.message
    streams.send([[300.0, 300.0]], 6 * DT_NS)
    streams.joint_at(7 * DT_NS)  # still running


def test_timeouts_hold_the_position_and_an_old_parameter_file_still_loads(
        ros_processes, ros_probe, tmp_path):
    """With no action at all the agent holds; control_rate_hz (old name) loads with a warning."""
    old = tmp_path / 'old_sim.yaml'
    old.write_text('/**:\n  ros__parameters:\n    control_rate_hz: 10\n')
    streams = Streams(ros_probe)
    proc = start_sim_when_heard(ros_processes, streams, 'sim_hold', 'seeds:=[4]', 'max_steps:=2',
                                'auto_reset:=false', 'action_wait_timeout_s:=0.3',
                                extra=('--params-file', str(old)))
    states = [joint_state_to_numpy(streams.joint_at(k * DT_NS), JOINTS) for k in range(3)]
    np.testing.assert_allclose(states[1], states[0], atol=1e-6)
    np.testing.assert_allclose(states[2], states[0], atol=1e-6)
    assert streams.result()[0]['action_timeouts'] == 2
    assert 'parameter control_rate_hz is deprecated: use control_period_s' in proc.log()


def camera_stamps(stamps: list[int], period_ns: int) -> list[int]:
    """The observations a camera of period `period_ns` films: the first, then the first one
    at or after the nominal next time that is also half a period after the last film."""
    out, next_ns = [], stamps[0]
    for t in stamps:
        if t >= next_ns:
            out.append(t)
            next_ns = max(next_ns + period_ns, t + period_ns // 2)
    return out


def test_realtime_stamps_the_dt_grid_from_the_episode_start(ros_processes, ros_probe, tmp_path):
    """Realtime: every step stamped on the dt grid of the episode start, the target sent at
    its start reached, the camera filming at its own rate, the video labelled. The pusher
    halves its distance to the target a step (from 156 px: 3 px after 6 steps): 30 steps
    leave a target the sim takes late (the probe or the sim starved on a busy machine; 15
    steps needed it taken by step 9) the steps to reach it."""
    steps_run = 30
    streams = Streams(ros_probe)
    video = tmp_path / 'episode.gif'
    before_ns = ros_probe.node.get_clock().now().nanoseconds
    sim = start_sim_when_heard(ros_processes, streams, 'sim_realtime', 'mode:=realtime',
                               'seeds:=[5]', f'max_steps:={steps_run}', 'auto_reset:=false',
                               'camera_rate_hz:=5.0', f'video_path:={video}')
    target = np.array([400.0, 100.0])
    streams.send(target[None], 0)  # stamp 0: due now, i.e. from the first or second step on
    result = streams.result(timeout=20.0)[0]
    assert result == {**result, 'steps': steps_run, 'reason': 'max_steps', 'mode': 'realtime',
                      'rejected': {}, 'action_timeouts': 0}
    assert result['first_command_step'] is not None, result  # the target was taken
    starts = ros_probe.wait_for_messages(streams.starts, 1, 5.0, 'the episode start')
    start_ns = json.loads(starts[-1].data)['start_ns']
    assert start_ns == result['start_stamp_ns'] and before_ns <= start_ns  # ROS time
    joints = ros_probe.wait_for_messages(streams.joints, steps_run + 1, 5.0,
                                         'realtime joint states')
    stamps = [time_to_ns(m.header.stamp) for m in joints]
    # every step on the 10 Hz grid of the episode start, in order (a late step skips slots)
    steps = [(t - start_ns) // DT_NS for t in stamps]
    assert len(stamps) == steps_run + 1 and steps[0] == 0 and all(
        (t - start_ns) % DT_NS == 0 for t in stamps)
    assert steps == sorted(set(steps))  # strictly increasing
    rewards = ros_probe.wait_for_messages(streams.rewards, steps_run, 5.0, 'rewards')
    assert len(rewards) == steps_run
    final = joint_state_to_numpy(joints[-1], JOINTS)
    assert np.linalg.norm(final - target) < 5.0, (final, result)
    # images only where the 5 Hz camera films, with the joint states' stamps
    filmed = camera_stamps(stamps, 2 * DT_NS)
    ros_probe.wait_for(lambda: time_to_ns(streams.images[-1].header.stamp) == filmed[-1]
                       if streams.images else False, 5.0, 'the last filmed image')
    assert {time_to_ns(m.header.stamp) for m in streams.images} <= set(filmed)
    assert len(streams.clock) == 0  # no sim time in realtime
    # every frame says the episode's seed and score in its corner, as dp-ros eval's tiles do
    import imageio.v3 as iio

    from sim_bridge.video import episode_label, label_patch
    sim.wait_for_log(f'to {video}', 10.0)  # 'wrote N frames to ...': the whole video
    frames = iio.imread(video, index=None)
    patch = label_patch(episode_label(5, result['max_reward']), *frames.shape[1:3])
    ph, pw = patch.shape[:2]
    gaps = np.abs(frames[:, :ph, :pw, :3].astype(int) - patch.astype(int)).mean(axis=(1, 2, 3))
    assert gaps.max() < 8, gaps  # the GIF palette rounds a little
    unlabelled = np.abs(frames[:, ph:2 * ph, :pw, :3].astype(int) - patch.astype(int)).mean()
    assert unlabelled > 50  # what the comparison tells apart: the scene below the label


def test_replay_against_a_running_node_reproduces_the_demonstration(ros_processes, ros_probe,
                                                                   pusht_zarr, tmp_path):
    from sim_bridge import replay
    from sim_bridge.pusht_env import PushTEnv

    streams = Streams(ros_probe)
    start_sim(ros_processes, 'sim_for_replay', 'seeds:=[11, 12]')  # episode 0 starts at launch
    streams.joint_at(0)
    summary_path = tmp_path / 'replay.json'
    assert replay.main(['--dataset', str(pusht_zarr), '--episode', '1', '--print-every', '50',
                        '--json', str(summary_path)]) == 0
    summary = json.loads(summary_path.read_text())
    recorded = replay.load_episode(pusht_zarr, 1)
    assert summary['steps'] == len(recorded.actions) == 118
    assert summary['max_agent_error_px'] < 1e-3 and summary['max_block_error_px'] < 1e-3
    env = PushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(options={'state': recorded.states[0]})
    rewards = [env.step(a)[1] for a in recorded.actions]
    np.testing.assert_allclose(summary['rewards'], rewards, atol=1e-5)
    # the replay reset the running node: episode 0 ended, episode 1 (seed 12) is the demo's
    first = streams.result(1)[0]
    assert first['reason'] == 'reset' and first['seed'] == 11


def test_replay_starts_its_own_node_for_exactly_the_episode_and_stops_it(ros_probe,
                                                                        pusht_zarr, tmp_path):
    """--start-sim: a node of its own (max_steps = the episode's length, the recorded start
    state, the video), ended by the episode's last step, stopped when the replay returns."""
    from sim_bridge import replay

    ns, video, summary_path = '/replay_own', tmp_path / 'episode.gif', tmp_path / 'replay.json'
    assert replay.main(['--dataset', str(pusht_zarr), '--episode', '1', '--start-sim',
                        '--namespace', ns, '--video', str(video), '--print-every', '0',
                        '--timeout', '60', '--json', str(summary_path)]) == 0
    summary = json.loads(summary_path.read_text())
    assert summary['steps'] == 118 and summary['mode'] == 'lockstep'
    assert summary['max_agent_error_px'] < 1e-3 and summary['max_block_error_px'] < 1e-3
    # the node's episode ended with the demonstration's last step, not before or after it
    result = summary['episode_result']
    assert result['steps'] == 118 and result['reason'] in ('max_steps', 'success')
    assert video.stat().st_size > 0
    node = ros_probe.node
    ros_probe.wait_for(lambda: node.count_publishers(f'{ns}/joint_states') == 0, 15.0,
                       'the started sim node to be gone')
    # labelled with its score and no seed: the recorded start state, not a seed, set it up
    import imageio.v3 as iio

    from sim_bridge.video import episode_label, label_patch
    first = iio.imread(video, index=0)[:, :, :3].astype(int)
    patch = label_patch(episode_label(None, result['max_reward']), *first.shape[:2])
    assert episode_label(None, 0.5) == 'given start: score 0.5000'
    assert np.abs(first[:patch.shape[0], :patch.shape[1]] - patch).mean() < 8


INVALID = ['mode:=turbo', 'control_rate_hz:=20.0']


@pytest.fixture(scope='module')
def invalid_sims(tmp_path_factory):
    """A sim per INVALID parameter, all started at once (each exits at start, none waits on
    another; their own processes and logs), keyed by the parameter."""
    group = ProcessGroup(tmp_path_factory.mktemp('invalid') / 'proc_logs')
    try:
        yield {param: start_sim(group, f'sim_invalid_{i}', param)
               for i, param in enumerate(INVALID)}
    finally:
        group.stop_all()


@pytest.mark.parametrize('param, message', [
    (INVALID[0], "parameter mode must be one of ('lockstep', 'realtime'), got 'turbo'"),
    (INVALID[1], 'parameter control_rate_hz (deprecated: use control_period_s) must be 10.0'),
])
def test_invalid_parameters_fail_fast_with_one_line(invalid_sims, param, message):
    proc = invalid_sims[param]
    proc.popen.wait(timeout=30)
    assert proc.popen.returncode == 2
    errors = [line for line in proc.log().splitlines() if 'invalid configuration' in line]
    assert len(errors) == 1 and message in errors[0] and 'Traceback' not in proc.log()
