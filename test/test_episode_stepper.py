"""The sim node's stepping rules without ROS: a plain PushTEnv, time passed in as ns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from sim_bridge.episode_stepper import ActionWait, EpisodeStepper, Observation, make_env
from sim_bridge.pusht_env import GOAL_POSE, PushTEnv
from sim_bridge.sim_node_config import SimNodeConfig, config_from_values
from sim_bridge.trajectory_follower import REJECT_KINDS
from sim_bridge.video import video_file_for, write_video

DT = 100_000_000
NAMES = ['agent_x', 'agent_y']
REPO = Path(__file__).resolve().parents[1]


class Recorder:
    """A StepperOutput that keeps every event in order."""

    def __init__(self):
        self.events: list[tuple] = []
        self.observations: list[Observation] = []
        self.results: list[dict] = []
        self.frames: list[list[np.ndarray]] = []
        self.logs: list[tuple[str, str]] = []

    def episode_started(self, episode):
        self.events.append(('start', episode.index, episode.seed, episode.start_ns))

    def observation(self, obs):
        self.events.append(('obs', obs.t_ns, obs.image is not None))
        self.observations.append(obs)

    def reward(self, t_ns, reward):
        self.events.append(('reward', t_ns))

    def episode_ended(self, result, frames):
        self.events.append(('end', result['episode'], result['reason']))
        self.results.append(result)
        self.frames.append(frames)

    def log(self, level, message):
        self.logs.append((level, message))

    def warnings(self) -> list[str]:
        return [m for level, m in self.logs if level == 'warning']


def make(render: bool = False, **values) -> tuple[EpisodeStepper, Recorder]:
    cfg = config_from_values(values, warn=pytest.fail)
    env = make_env(cfg) if render else PushTEnv(render_obs=False, max_episode_steps=None)
    rec = Recorder()
    return EpisodeStepper(cfg, env, rec), rec


def send(stepper: EpisodeStepper, rows, stamp_ns: int, now_ns: int = 0, names=NAMES) -> bool:
    rows = np.asarray(rows, dtype=np.float64)
    return stepper.receive(names, stamp_ns, DT * np.arange(len(rows)), rows, now_ns)


# --- lockstep ---------------------------------------------------------------------------------

def test_lockstep_step_waits_for_its_action_and_applies_the_point_due_at_t_k():
    stepper, rec = make(seeds=[3])
    assert stepper.start_episode()
    assert rec.events == [('start', 0, 3, 0), ('obs', 0, False)]  # announced before observed
    assert not stepper.action_ready()
    assert send(stepper, [[100, 110], [120, 130]], stamp_ns=0)  # due at t_0 and t_1
    assert stepper.action_ready()
    stepper.lockstep_step()
    assert stepper.env.latest_action.tolist() == [100, 110] and stepper.t_ns == DT
    assert stepper.action_ready()  # the chunk covers t_1 too: no wait
    stepper.lockstep_step()
    assert stepper.env.latest_action.tolist() == [120, 130]
    assert not stepper.action_ready()  # nothing for t_2 yet
    # a chunk whose first point is due later still makes t_2 ready; t_2 holds the last target
    assert send(stepper, [[300, 300]], stamp_ns=3 * DT)
    stepper.lockstep_step()
    assert stepper.env.latest_action.tolist() == [120, 130]
    assert rec.events[2:] == [('obs', DT, False), ('reward', DT), ('obs', 2 * DT, False),
                              ('reward', 2 * DT), ('obs', 3 * DT, False), ('reward', 3 * DT)]
    assert stepper.episode.action_timeouts == 0 and rec.logs[-1][0] == 'info'


def test_lockstep_timeout_holds_the_start_position_and_is_counted_and_logged_once():
    stepper, rec = make(seeds=[4], max_steps=2, auto_reset=False)
    stepper.start_episode()
    start = rec.observations[0].joint_pos
    stepper.lockstep_step(timed_out=True)
    stepper.lockstep_step(timed_out=True)
    np.testing.assert_array_equal(stepper.env.latest_action, start)
    np.testing.assert_allclose(rec.observations[-1].joint_pos, start, atol=1e-6)
    assert rec.results[0]['action_timeouts'] == 2
    assert rec.results[0]['sent'] == {'joint_states': 3, 'images': 0}  # start + 2, no camera
    assert len([w for w in rec.warnings() if 'no action for step 0' in w]) == 1


def test_action_wait_times_out_and_republishes_on_schedule():
    wait = ActionWait(start_ns=1000, timeout_s=1.0, republish_period_s=0.3)
    assert not wait.timed_out(1000 + 999_999_999) and wait.timed_out(1000 + 10**9)
    assert wait.sleep_s(1000) == pytest.approx(0.3)
    assert [wait.republish_due(1000 + t * DT) for t in (2, 3, 4, 5, 6)] == [
        False, True, False, False, True]  # every 0.3 s from the last republish
    assert wait.sleep_s(1000 + 6 * DT) == pytest.approx(0.3)
    assert wait.republish_due(1000 + 9 * DT)
    assert wait.sleep_s(1000 + 9 * DT) == pytest.approx(0.1)  # the timeout comes first
    forever = ActionWait(start_ns=0, timeout_s=0.0, republish_period_s=0.0)
    assert not forever.timed_out(10**15) and not forever.republish_due(10**15)
    assert forever.sleep_s(0) is None


def lockstep_run(seed: int, actions: np.ndarray) -> tuple[Recorder, EpisodeStepper]:
    stepper, rec = make(render=True, seeds=[seed], max_steps=len(actions), auto_reset=False)
    stepper.start_episode()
    k = 0
    while stepper.running:  # a 4-point chunk first, then one point per step
        n = 4 if k == 0 else 1
        send(stepper, actions[k:k + n], stamp_ns=k * DT)
        for _ in range(n):
            stepper.lockstep_step()
        k += n
    return rec, stepper


def test_two_lockstep_runs_are_identical_and_equal_a_plain_env_loop():
    actions = np.array([[200.0 + 15 * k, 300.0 - 10 * k] for k in range(12)])
    (a, _), (b, _) = lockstep_run(7, actions), lockstep_run(7, actions)
    assert [o.image.tobytes() for o in a.observations] == \
        [o.image.tobytes() for o in b.observations]
    assert a.results == b.results and a.events == b.events
    env = make_env(SimNodeConfig())
    obs, info = env.reset(seed=7)
    images, positions = [obs['image'].tobytes()], [info['pos_agent']]
    for action in actions:
        obs, _, _, _, info = env.step(action)
        images.append(obs['image'].tobytes())
        positions.append(info['pos_agent'])
    assert [o.image.tobytes() for o in a.observations] == images
    np.testing.assert_array_equal([o.joint_pos for o in a.observations], positions)
    assert [o.t_ns for o in a.observations] == [k * DT for k in range(13)]
    assert a.results[0] == {**a.results[0], 'seed': 7, 'steps': 12, 'reason': 'max_steps',
                            'mode': 'lockstep', 'action_timeouts': 0, 'rejected': {},
                            'start_stamp_ns': 0}


# --- episodes ---------------------------------------------------------------------------------

def test_episode_ends_by_termination_from_an_initial_state():
    state = [60.0, 60.0, *GOAL_POSE]
    stepper, rec = make(seeds=[1, 2], initial_state=state, auto_reset=False)
    stepper.start_episode()
    np.testing.assert_allclose(stepper.env.get_state()[:4], state[:4])
    stepper.lockstep_step(timed_out=True)
    result = rec.results[0]
    assert result == {**result, 'reason': 'success', 'terminated': True, 'steps': 1,
                      'initial_state': state, 'max_reward': 1.0}
    assert not stepper.running
    stepper.initial_state = None  # the run-time parameter cleared: the seed decides again
    ok, message = stepper.reset()
    assert ok and 'initial_state' not in message and 'seed=2' in message
    assert stepper.episode.initial_state is None


def test_max_steps_then_auto_reset_until_the_seeds_are_used_up():
    stepper, rec = make(seed_start=50, seed_count=2, max_steps=2)
    stepper.start_episode()
    for _ in range(4):
        stepper.lockstep_step(timed_out=True)
    starts = [e for e in rec.events if e[0] in ('start', 'end')]
    # episode 1 starts one tick after episode 0's last observation: sim time never repeats
    assert starts == [('start', 0, 50, 0), ('end', 0, 'max_steps'), ('start', 1, 51, 3 * DT),
                      ('end', 1, 'max_steps')]
    assert [r['steps'] for r in rec.results] == [2, 2]
    assert not stepper.running and rec.logs[-1] == ('info', 'all 2 episodes done')
    assert stepper.reset() == (False, 'all 2 seeds are used up')


def test_reset_ends_the_episode_and_forgets_its_trajectory_and_rejections():
    stepper, rec = make(seeds=[5, 6, 7], auto_reset=False)
    stepper.start_episode()
    send(stepper, [[100, 100], [110, 110], [120, 120]], stamp_ns=0)
    send(stepper, [], stamp_ns=0)
    stepper.lockstep_step()
    generation = stepper.generation
    ok, message = stepper.reset()
    assert ok and message == f'episode 1 started: seed=6 stamp_ns={2 * DT}'
    assert stepper.generation == generation + 1  # a waiting step notices the reset
    assert rec.results[0] == {**rec.results[0], 'reason': 'reset', 'steps': 1,
                              'rejected': {'empty': 1}}
    assert not stepper.action_ready()  # the old chunk covered t_2: it is gone
    assert not send(stepper, [[100, 100]], stamp_ns=DT)  # stamped in the old episode
    stepper.reset()
    assert rec.results[1]['rejected'] == {'previous_episode': 1}


def test_each_rejection_kind_is_counted_and_logged_once():
    stepper, rec = make(seeds=[1, 2], auto_reset=False)
    stepper.start_episode()
    for _ in range(3):
        stepper.lockstep_step(timed_out=True)  # now t = 3 dt
    bad = {
        'empty': dict(rows=np.zeros((0, 2))),
        'joint_names': dict(names=['x', 'y']),
        'dimension': dict(rows=[[100, 100, 3]]),
        'non_finite': dict(rows=[[100, 100], [np.nan, 100]]),
        'out_of_workspace': dict(rows=[[100, 900]]),
        'ends_in_past': dict(stamp_ns=DT),
    }
    for change in bad.values():
        args = dict(rows=[[100, 100]], stamp_ns=0, names=NAMES) | change
        for _ in range(2):
            assert not send(stepper, args['rows'], args['stamp_ns'], names=args['names'])
    assert not stepper.receive(NAMES, 0, [DT, 0], [[1, 1], [2, 2]], 0)  # out_of_order
    stepper.reject('dimension', 'from the message conversion')  # counted with the others
    assert not stepper.action_ready()
    stepper.reset()
    kinds = set(bad) | {'out_of_order'}
    assert rec.results[0]['rejected'] == {k: 2 for k in bad} | {'out_of_order': 1,
                                                                 'dimension': 3}
    assert len(rec.warnings()) == len(kinds) + 1  # + the timeout, once
    # previous_episode: above; a Cartesian target's: test/test_cartesian_twin.py
    assert kinds | {'previous_episode', 'frame_id', 'unreachable'} == set(REJECT_KINDS)


def test_video_frames_are_handed_over_with_the_result(tmp_path):
    stepper, rec = make(render=True, seeds=[8], max_steps=3, auto_reset=False,
                        video_path=str(tmp_path / 'ep_{seed}.gif'), video_size=32)
    stepper.start_episode()
    for _ in range(3):
        stepper.lockstep_step(timed_out=True)
    frames = rec.frames[0]
    assert len(frames) == 4 and frames[0].shape == (32, 32, 3)
    assert stepper.episode.frames == []
    path = video_file_for(stepper.config.video_path, 0, 8)
    write_video(path, frames, 10.0)
    assert path.name == 'ep_8.gif' and path.stat().st_size > 0
    assert video_file_for('v.mp4', 2, 9) == Path('v_ep002.mp4')
    assert video_file_for('v.mp4', 0, 9) == Path('v.mp4')


# --- realtime ---------------------------------------------------------------------------------

def test_realtime_target_is_fixed_at_t_k_and_a_late_step_takes_the_current_slot():
    t0 = 5 * 10**9
    stepper, rec = make(render=True, mode='realtime', seeds=[2], camera_rate_hz=5.0,
                        max_steps=4)
    stepper.start_episode(now_ns=t0)
    start = rec.observations[0].joint_pos
    tick = stepper.realtime_tick()
    assert (tick.t_ns, tick.due_ns) == (t0, t0 + DT)
    assert send(stepper, [[400, 100]], stamp_ns=0, now_ns=t0 + DT // 2)  # stamp 0: now
    stepper.realtime_step(tick, now_ns=t0 + DT + 5)
    np.testing.assert_array_equal(stepper.env.latest_action, start)  # decided at t_0
    tick = stepper.realtime_tick()
    assert tick.target.tolist() == [400, 100] and tick.due_ns == t0 + 2 * DT
    stepper.realtime_step(tick, now_ns=t0 + 3 * DT - 1)  # late, but within its slot
    stepper.realtime_step(stepper.realtime_tick(), now_ns=t0 + 5 * DT + 7)  # overran 2 slots
    assert stepper.env.latest_action.tolist() == [400, 100]
    stamps = [(o.t_ns - t0) // DT for o in rec.observations]
    assert stamps == [0, 1, 2, 5]
    # 5 Hz camera: an image at the first step at least one period after the last one
    assert [o.image is not None for o in rec.observations] == [True, False, True, True]
    # the episode ends at max_steps; the next one would start at now, not on the grid
    stepper.realtime_step(stepper.realtime_tick(), now_ns=t0 + 6 * DT + 3)
    assert rec.results[0] == {**rec.results[0], 'mode': 'realtime', 'steps': 4,
                              'start_stamp_ns': t0}
    assert stepper.input_time(123) == 123


def test_realtime_next_target_is_fixed_with_the_observation_that_starts_its_step():
    # the node holds its lock from a step to the next tick: a reply to the observation that
    # ends step 0 (here: a trajectory due from t2 only, replacing the one that held t1's point)
    # is filed after step 1's target was fixed, so step 1 runs the point due at t1, not a hold
    t0 = 7 * DT
    stepper, rec = make(mode='realtime', seeds=[2, 3, 4], max_steps=3)
    stepper.start_episode(now_ns=t0)
    first = stepper.next_tick  # step 0's, decided at the start with observation 0
    assert (first.t_ns, first.generation) == (t0, stepper.generation)
    np.testing.assert_array_equal(first.target, rec.observations[0].joint_pos)
    assert send(stepper, [[400, 100], [410, 100]], stamp_ns=t0 + DT, now_ns=t0 + DT // 2)
    tick = stepper.realtime_step(first, now_ns=t0 + DT + 5)
    assert tick is stepper.next_tick and tick.t_ns == t0 + DT
    assert tick.target.tolist() == [400, 100]
    assert send(stepper, [[420, 100]], stamp_ns=t0 + 2 * DT, now_ns=t0 + DT + 10)  # the reply
    tick = stepper.realtime_step(tick, now_ns=t0 + 2 * DT + 5)
    assert stepper.env.latest_action.tolist() == [400, 100]
    assert tick.target.tolist() == [420, 100]
    # max_steps reached: the next episode (auto reset) starts at now; its step 0 tick comes back
    after = stepper.realtime_step(tick, now_ns=t0 + 3 * DT + 5)
    assert after is stepper.next_tick and after.generation == stepper.generation
    assert after.t_ns == t0 + 3 * DT + 5 and rec.results[0]['steps'] == 3
    # without auto reset, no tick once the episode ended
    stepper.config.auto_reset = False
    for k in range(2):
        assert stepper.realtime_step(stepper.next_tick, now_ns=t0 + (4 + k) * DT) is not None
    assert stepper.realtime_step(stepper.next_tick, now_ns=t0 + 6 * DT) is None
    assert stepper.next_tick is None and not stepper.running


def test_realtime_auto_reset_starts_the_next_episode_at_now():
    stepper, rec = make(mode='realtime', seeds=[2, 3], max_steps=1)
    stepper.start_episode(now_ns=10 * DT)
    stepper.realtime_step(stepper.realtime_tick(), now_ns=11 * DT + 42)
    assert [e for e in rec.events if e[0] == 'start'] == [('start', 0, 2, 10 * DT),
                                                          ('start', 1, 3, 11 * DT + 42)]


# --- configuration ----------------------------------------------------------------------------

@pytest.mark.parametrize('values, message', [
    (dict(mode='turbo'), "mode must be one of"),
    (dict(control_period_s=0.05), 'control_period_s must be 0.1'),
    (dict(control_rate_hz=20.0), r'control_rate_hz \(deprecated: use control_period_s\) must '
                                 r'be 10.0'),
    (dict(camera_rate_hz=5.0), 'camera_rate_hz must equal 1 / control_period_s in lockstep'),
    (dict(mode='realtime', camera_rate_hz=20.0), r'camera_rate_hz must be in \(0'),
    (dict(max_steps=0), r'max_steps must be in \[1'),
    (dict(max_steps=2.5), 'max_steps must be an integer'),
    (dict(seeds=[-1]), 'seeds must be in'),
    (dict(joint_names=['a']), 'joint_names must be 2 distinct names'),
    (dict(workspace_low=[0.0, 600.0]), 'low < high'),
    (dict(video_path='x.avi'), 'video_path must end in .gif or .mp4'),
    (dict(video_path='x_{episode}_{run}.gif'), r'video_path .* only \{episode\} and \{seed\}'),
    (dict(initial_state=[1.0, 2.0]), 'initial_state must be 5 finite numbers'),
    (dict(initial_state=[600.0, 2.0, 100.0, 100.0, 0.0]), 'initial_state puts the agent'),
    (dict(control_rate=10.0), r"unknown parameter\(s\) \['control_rate'\]"),
])
def test_config_errors_name_the_parameter(values, message):
    with pytest.raises(ValueError, match=message):
        config_from_values(values, warn=lambda _: None)


def test_deprecated_control_rate_hz_is_read_with_a_warning_naming_the_new_name():
    warnings: list[str] = []
    cfg = config_from_values({'control_rate_hz': 10}, warnings.append)
    assert cfg.control_period_s == 0.1 and cfg.dt_ns == DT
    assert len(warnings) == 1 and 'use control_period_s' in warnings[0]


def test_the_shipped_parameter_file_is_a_valid_config_without_deprecated_names():
    section = yaml.safe_load((REPO / 'config' / 'pusht_sim.yaml').read_text())
    values = section['/**/pusht_sim']['ros__parameters']
    cfg = config_from_values(values, warn=pytest.fail)
    assert cfg == config_from_values({}, warn=pytest.fail)  # the file spells out the defaults


def test_seed_schedule():
    assert [SimNodeConfig(seeds=[9, 3]).seed_for_episode(i) for i in range(3)] == [9, 3, None]
    cfg = SimNodeConfig(seed_start=100000, seed_count=2)
    assert [cfg.seed_for_episode(i) for i in range(3)] == [100000, 100001, None]
    assert SimNodeConfig().seed_for_episode(1000) == 101000
    assert SimNodeConfig(seeds=[9, 3]).episode_count() == 2 and SimNodeConfig().episode_count() \
        is None


# --- the arm robot ------------------------------------------------------------------------------

ARM = ['shoulder', 'elbow', 'wrist']
MS = 1_000_000


def make_arm(**values) -> tuple[EpisodeStepper, Recorder]:
    cfg = config_from_values({'robot': 'arm', **values}, warn=pytest.fail)
    rec = Recorder()
    return EpisodeStepper(cfg, make_env(cfg), rec), rec


def test_arm_config_takes_the_arms_joints_limits_and_30_hz_camera():
    cfg = config_from_values({'robot': 'arm'}, warn=pytest.fail)
    assert cfg.joint_names == ARM and cfg.camera_rate_hz == 30.0
    assert cfg.workspace_low == pytest.approx([-2.6, 0.0, -1.8])
    with pytest.raises(ValueError, match='whole multiple of the control rate'):
        config_from_values({'robot': 'arm', 'camera_rate_hz': 25.0}, warn=pytest.fail)
    with pytest.raises(ValueError, match='3 distinct names for the arm robot'):
        config_from_values({'robot': 'arm', 'joint_names': NAMES}, warn=pytest.fail)
    with pytest.raises(ValueError, match="robot must be one of"):
        config_from_values({'robot': 'gantry'}, warn=pytest.fail)


def test_arm_lockstep_observes_every_substep_with_a_30_hz_camera_on_the_step_grid():
    stepper, rec = make_arm(seeds=[5])
    stepper.start_episode()
    q0 = rec.observations[0].joint_pos
    assert rec.observations[0].image.shape == (480, 640, 3)
    target = q0 + np.array([0.05, -0.05, 0.02])
    assert send(stepper, [target, target], stamp_ns=0, names=ARM)
    stepper.lockstep_step()
    stepper.lockstep_step()
    stamps = [o.t_ns for o in rec.observations]
    assert stamps == [10 * MS * i for i in range(21)]  # t0, then every 10 ms substep
    framed = [o.t_ns // MS for o in rec.observations if o.image is not None]
    assert framed == [0, 100, 200]  # lockstep: a frame per step, at its boundary
    joints = np.array([o.joint_pos for o in rec.observations])
    np.testing.assert_allclose(joints[-1], target, atol=1e-9)  # reached within the limits
    assert np.all(np.abs(np.diff(joints, axis=0)) <= 3.15 * 0.01 + 1e-9)  # velocity limit
    assert [e for e in rec.events if e[0] == 'reward'] == [('reward', DT), ('reward', 2 * DT)]


def test_arm_rejects_targets_outside_its_joint_limits_and_point_commands():
    stepper, rec = make_arm(seeds=[5])
    stepper.start_episode()
    assert not send(stepper, [[100.0, 200.0, 0.0]], stamp_ns=0, names=ARM)  # pixels, not rad
    assert not send(stepper, [[100.0, 200.0]], stamp_ns=0)  # the point's joints
    assert stepper.rejections.as_dict() == {'joint_names': 1, 'out_of_workspace': 1}


def test_arm_realtime_paces_each_substep_and_skips_the_slots_it_overran():
    stepper, rec = make_arm(mode='realtime', seeds=[5])
    paced: list[int] = []
    stepper.pace = paced.append
    t0 = 1_000 * DT
    stepper.start_episode(now_ns=t0)
    tick = stepper.realtime_tick()
    stepper.realtime_step(tick, t0, clock=lambda: t0 + DT + 5 * MS)  # on time
    assert paced == [t0 + 10 * MS * i for i in range(1, 11)]
    assert stepper.t_ns == t0 + DT
    framed = [(o.t_ns - t0) // MS for o in rec.observations if o.image is not None]
    assert framed == [0, 40, 70, 100]  # 30 Hz on the 10 ms substeps, and the step boundary
    tick = stepper.realtime_tick()
    stepper.realtime_step(tick, t0 + DT, clock=lambda: t0 + 3 * DT + 20 * MS)  # 120 ms late
    assert stepper.t_ns == t0 + 3 * DT  # the current slot, not the one it overran
    stamps = [o.t_ns for o in rec.observations]
    assert stamps == sorted(set(stamps))  # strictly increasing
    assert stepper.episode.states_sent == len(rec.observations) == 21
    assert stepper.episode.images_sent == sum(o.image is not None for o in rec.observations)


def test_a_realtime_step_that_runs_late_counts_the_periods_it_skipped():
    """Defect: a late realtime step was stamped with the current slot silently; the periods
    it skipped (not simulated, their plan points never run) are now in the episode result,
    said once per episode."""
    cfg = config_from_values({'mode': 'realtime', 'seeds': [100000], 'max_steps': 5},
                             warn=print)
    rec = Recorder()
    st = EpisodeStepper(cfg, PushTEnv(render_obs=False, max_episode_steps=None), rec)
    t0 = 10**12
    st.start_episode(now_ns=t0)
    st.receive(['agent_x', 'agent_y'], 0, DT * np.arange(10), np.tile([[300., 300.]], (10, 1)),
               t0)
    tick, now = st.next_tick, t0
    for late in (0, 0, 350_000_000, 0, 0):  # step 2 runs 0.35 s late
        now = max(now, tick.due_ns) + late
        tick = st.realtime_step(tick, now)
    assert rec.results[0]['steps'] == 5 and rec.results[0]['slots_skipped'] == 3
    assert [w for w in rec.warnings() if 'control period(s) skipped' in w] == [
        w for w in rec.warnings() if 'late' in w] and len(rec.warnings()) == 1
