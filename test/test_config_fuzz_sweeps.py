"""Seeded random sweeps of what the policy node and the sim node are configured with, and of
the sim's trajectory input, without ROS spinning: what the fuzz review of the nodes'
configuration (test/test_config_fuzz_review.py: its findings) found robust, kept so.

Each sweep draws from a fixed numpy generator, so a failure names its draw and repeats:
- the policy node's parameters (NaN, inf, negative, huge, empty, mismatched and duplicate
  lists, odd strings, bad ROS names, malformed 'topic=value' entries) against a real tiny
  checkpoint (Push-T, arm, end-effector pose): a configuration is refused with a config
  error (node_main.CONFIG_ERRORS: one 'invalid configuration' line, never a traceback) in a
  short message, or it loads with finite, ordered limits, positive periods and a planning
  loop that builds;
- URDF <limit> attributes, and junk URDF files (external entity, entity-expansion bomb, not
  XML, a directory, missing): refused naming the URDF, or usable limits;
- the sim node's parameters: refused with a ValueError, or a stepper that starts and steps;
- trajectories and pose targets fed to the sim's EpisodeStepper in each mode x robot: every
  one is followed or counted once as a rejection of a known kind
  (trajectory_follower.REJECT_KINDS), and what is followed is finite and inside the
  workspace;
- the safety envelope never moves a joint by more than its step limit nor outputs a
  non-finite value, its stop path stays finite; the twist servo's twist stays finite and
  within its speed limits.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Duration, Time
from rclpy.context import Context
from rclpy.node import Node
from support import make_tiny_arm_checkpoint, make_tiny_pose_checkpoint
from test_config_fuzz_review import SHORT_LINE, arm_values, pose_values, pusht_values
from test_episode_stepper import Recorder
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dp_ros.params import config_from_dict, param_fields
from dp_ros.ros.conversions import joint_trajectory_to_chunk
from dp_ros.ros.node_main import CONFIG_ERRORS
from dp_ros.ros.parameters import check_names
from dp_ros.runtime.planning_loop import PlanningLoop
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, describe_setup, load_setup
from dp_ros.runtime.safety import (
    JointLimits,
    SafetyEnvelope,
    combine_limits,
    stop_path,
    urdf_limits,
)
from dp_ros.runtime.twist_servo import TwistLimits, twist_toward_plan
from sim_bridge.episode_stepper import EpisodeStepper, make_env
from sim_bridge.sim_node_config import SimNodeConfig, config_from_values
from sim_bridge.trajectory_follower import REJECT_KINDS

DT = 100_000_000
I32 = 2**31 - 1
NaN, INF = math.nan, math.inf


def shown(values: dict) -> dict:
    """A draw as a failure message shows it (long lists by their length)."""
    return {k: (f'<list of {len(v)}>' if isinstance(v, list) and len(v) > 8 else v)
            for k, v in values.items()}


# --- the policy node's parameters ---------------------------------------------------------------

POLICY_FIELDS = {f.name: f for f in param_fields(PolicyNodeConfig)}
FLOATS = [NaN, INF, -INF, -1.0, 0.0, -0.0, 5e-324, 1e-300, 1e-9, 1e308, -1e308, 1.0, 0.5,
          100.0, 3600.0, 86400.0, 1e6, 7, 2**53 + 1]
INTS = [-1, 0, 1, 2, 3, 8, 16, 1023, 1024, 1025, 2**31, 2**40, 2**40 + 1, 2**63 - 1, -(2**63)]
STRS = ['', ' ', '\n', 'a\nb', 'é', '💥', '/a b', '//', '/x/', 'x' * 300, '~', '~/x', '{node}/x',
        '/pusht/image_raw', '/pusht/joint_states', '/pusht/joint_trajectory', 'cpu', 'cuda',
        'float16', 'bfloat16', 'ddim', 'ddpm', 'replace', 'blend', 'temporal_ensemble',
        'position', 'velocity', 'effort', 'agent_x', 'agent_y', 'shoulder', 'x', 'yaw', 'qw',
        '/t=p', '/ee_pose=', '=x', '/a=b=c', '/ee_pose=base_link', 'hf://', 'hf://a/../b', '1',
        '/nonexistent/file.urdf', '/proc/x/y', '{tmp}', '{tmp}/obs.jsonl', '{tmp}/junk.urdf',
        '{tmp}/empty.urdf', '{tmp}/arm.urdf']
WRONG = [None, True, 'x', 1.5, 3, [], ['a'], [1.0], [True], {'a': 1}, NaN]


@pytest.fixture(scope='module')
def arm_checkpoint(tmp_path_factory):
    return make_tiny_arm_checkpoint(tmp_path_factory.mktemp('arm_policy') / 'tiny')


@pytest.fixture(scope='module')
def pose_checkpoint(tmp_path_factory):
    return make_tiny_pose_checkpoint(tmp_path_factory.mktemp('pose_policy') / 'tiny',
                                     state='pose')


@pytest.fixture(scope='module')
def ros_node():
    """A node of its own context, never spun: what check_names expands '~' and '{node}' for
    (the policy node checks its topic parameters so at start)."""
    context = Context()
    rclpy.init(context=context)
    node = Node('dp_policy', context=context)
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


class PolicyDraws:
    """Random parameter values of the policy node's types (fuzz_cfg.py's)."""

    def __init__(self, rng: np.random.Generator, strs: list[str]):
        self.rng, self.strs = rng, strs

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def float(self):
        if self.rng.random() < 0.7:
            return self.pick(FLOATS)
        return float(self.rng.normal() * 10.0 ** int(self.rng.integers(-5, 6)))

    def list(self, kind: str, base: list | None):
        rng = self.rng
        if rng.random() < 0.15:
            return []
        n = int(rng.choice([1, 2, 3, 4, len(base) if base else 2,
                            1000 if rng.random() < 0.3 else 2]))  # 1000: a huge list
        if kind == 'list[str]':
            if base and rng.random() < 0.4:  # one entry of the working list changed
                out = list(base)
                out[int(rng.integers(len(out)))] = self.pick(self.strs)
                return out
            draw = self.pick
            return [draw(self.strs) for _ in range(n)] if rng.random() < 0.7 else \
                [draw(self.strs)] * n  # duplicates
        if base and rng.random() < 0.3:  # one value of the working list changed
            out = list(base)
            out[int(rng.integers(len(out)))] = self.float()
            return out
        return [self.float() for _ in range(n)] if rng.random() < 0.7 else [self.float()] * n

    def plausible(self, name: str, values: dict):
        """A value within the parameter's range (a list: one per action dimension), so that
        the configurations the node takes are swept too, not only its refusals."""
        f, rng = POLICY_FIELDS[name], self.rng
        bounds = f.metadata['range']
        if f.type in ('float', 'int') and bounds is not None:
            low, high = bounds
            value = self.pick([low, high, rng.uniform(low, min(high, low + 10.0))])
            return int(value) if f.type == 'int' else float(value)
        if f.type == 'list[float]':
            dim = len(values.get('action_joint_names') or [1, 2])
            sign = -1.0 if name == 'action_lower' else 1.0
            return [sign * float(rng.uniform(0.01, 2.0)) for _ in range(dim)]
        return None  # not drawn this way

    def value(self, name: str, values: dict):
        kind = POLICY_FIELDS[name].type
        if self.rng.random() < 0.35 and (value := self.plausible(name, values)) is not None:
            return value
        if self.rng.random() < 0.07:
            return self.pick(WRONG)
        if kind == 'bool':
            return bool(self.rng.integers(2))
        if kind == 'float':
            return self.float()
        if kind == 'int':
            return int(self.pick(INTS))
        if kind == 'str':
            return self.pick(self.strs)
        base = values.get(name)
        return self.list(kind, base if isinstance(base, list) else None)


def write_urdf_files(folder) -> None:
    (folder / 'junk.urdf').write_text('<robot><joint name="agent_x"><limit lower="a"/></joint>'
                                      '\x01')
    (folder / 'empty.urdf').write_text('')
    (folder / 'arm.urdf').write_text(
        '<robot name="r">' + ''.join(
            f'<joint name="{j}" type="revolute"><limit lower="-3" upper="3" velocity="2"/>'
            '</joint>' for j in ('shoulder', 'elbow', 'wrist', 'agent_x', 'agent_y'))
        + '</robot>')


def message_bound(values: dict) -> int:
    """The longest refusal allowed: a short line, plus the one value it may quote (a 5,000
    character path is echoed whole), never a whole list (dp_ros.params.shown cuts those)."""
    strings = [v for value in values.values()
               for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return SHORT_LINE + 2 * max(map(len, strings), default=0)


def check_loaded(cfg: PolicyNodeConfig, setup, values: dict) -> None:
    """What a configuration the node takes runs with: nothing NaN, no empty or inverted
    range, positive periods and ages, limits to keep."""
    where = shown(values)
    assert setup.dt_ns > 0 and setup.max_age_ns > 0 and setup.keep_ns > 0, where
    assert setup.n_obs_steps >= 1 and setup.n_action_steps >= 1, where
    assert setup.ramp_in_ns >= 0 and setup.stamp_tolerance_ns >= 0, where
    assert all(v > 0 for v in setup.gap_ns.values()), (setup.gap_ns, where)
    lim = setup.limits
    assert (lim.lower is None) == (lim.upper is None), where
    if lim.lower is not None:
        assert not np.isnan(lim.lower).any() and not np.isnan(lim.upper).any(), (lim, where)
        assert np.all(lim.lower <= lim.upper), (lim, where)
        assert np.all(lim.lower < INF) and np.all(lim.upper > -INF), (lim, where)
    if lim.max_step is not None:
        assert np.all(lim.max_step > 0) and not np.isnan(lim.max_step).any(), (lim, where)
    if setup.stop_deceleration is not None:
        dec = setup.stop_deceleration
        assert np.all(np.isfinite(dec)) and np.all(dec > 0), (dec, where)
    tw = setup.twist_limits
    assert all(math.isfinite(v) and v >= 0 for v in (tw.gain, tw.max_linear, tw.max_angular)), \
        (tw, where)
    floats = [getattr(cfg, n) for n, f in POLICY_FIELDS.items() if f.type == 'float']
    assert all(math.isfinite(v) for v in floats), where
    for name, f in POLICY_FIELDS.items():
        if f.type == 'list[float]':
            assert not any(math.isnan(v) for v in getattr(cfg, name)), (name, where)


POLICY_BASES = {'pusht': (pusht_values, 'checkpoint'), 'arm': (arm_values, 'arm_checkpoint'),
                'pose': (pose_values, 'pose_checkpoint')}
N_POLICY = 200  # configurations per checkpoint


@pytest.mark.parametrize('base', list(POLICY_BASES))
def test_random_policy_parameters_are_refused_as_config_errors_or_load(request, tmp_path,
                                                                       ros_node, base):
    make_values, fixture = POLICY_BASES[base]
    checkpoint = request.getfixturevalue(fixture)
    write_urdf_files(tmp_path)
    strs = [s.replace('{tmp}', str(tmp_path)) for s in STRS]
    draws = PolicyDraws(np.random.default_rng(['pusht', 'arm', 'pose'].index(base)), strs)
    names = [n for n in POLICY_FIELDS if n not in ('checkpoint', 'device')]
    counts = Counter()
    for trial in range(N_POLICY):
        values = make_values(checkpoint)
        # every parameter in turn, with up to two others: each is swept as often
        chosen = {names[trial % len(names)], *draws.rng.choice(names, int(draws.rng.integers(3)))}
        for name in sorted(chosen):
            values[str(name)] = draws.value(str(name), values)
        if draws.rng.random() < 0.03:  # not a policy directory
            values['checkpoint'] = draws.pick(['', str(tmp_path), str(tmp_path / 'arm.urdf'),
                                               '/nonexistent', 'hf://', 'x' * 5000])
        try:
            cfg = config_from_dict(PolicyNodeConfig, values)
            check_names(ros_node, cfg)
            setup = load_setup(cfg)
        except CONFIG_ERRORS as exc:
            counts['refused'] += 1
            assert str(exc) and len(str(exc)) < message_bound(values), \
                (trial, len(str(exc)), shown(values))
            continue
        except Exception as exc:  # a traceback at start
            pytest.fail(f'draw {trial}: {type(exc).__name__}: {exc} for {shown(values)}')
        counts['loaded'] += 1
        check_loaded(cfg, setup, values)
        assert describe_setup(cfg, setup, 'cpu', None)
        PlanningLoop(cfg, setup)
    # both outcomes are exercised: a sweep refusing everything would check nothing
    assert counts['refused'] >= N_POLICY // 4 and counts['loaded'] >= N_POLICY // 8, counts


# --- URDF limits ---------------------------------------------------------------------------------

URDF_ATTRS = ['nan', 'NaN', 'inf', '-inf', 'Infinity', '1e999', '-1e999', '1e-400', '0', '-0',
              '0.0', '1', '-1', '3.14', ' 2 ', '', 'abc', '0x10', '1_000', '1e308', '-1e308',
              '5e-324', '\u0661', '1,5', '+1']
URDF_TYPES = ['revolute', 'prismatic', 'continuous', 'fixed', 'floating', 'planar', '', 'weird']
# what a URDF usually holds, drawn more often so that usable limits are swept too
URDF_GOOD = {'lower': ['-3.14', '-1.5', '-0.2', '0', '0.5'], 'upper': ['3.14', '1.5', '0.2', '0'],
             'velocity': ['0.5', '2', '10', '-2', '1e-3'], 'effort': ['1', '100']}
ARM = ['shoulder', 'elbow', 'wrist']
N_URDF = 200


def random_urdf(rng: np.random.Generator) -> str:
    joints = []
    for name in ARM:
        if rng.random() < 0.05:
            continue  # missing joint
        kind = URDF_TYPES[int(rng.integers(3 if rng.random() < 0.7 else len(URDF_TYPES)))]
        attrs = ''
        for a in ('lower', 'upper', 'velocity', 'effort'):
            if rng.random() < 0.75:
                pool = URDF_GOOD[a] if rng.random() < 0.7 else URDF_ATTRS
                attrs += f' {a}="{pool[int(rng.integers(len(pool)))]}"'
        limit = f'<limit{attrs}/>' if rng.random() < 0.85 else ''
        joints.append(f'<joint name="{name}" type="{kind}">{limit}</joint>')
    return '<robot name="r">' + ''.join(joints) + '</robot>'


def test_random_urdf_limits_are_refused_or_give_usable_limits(arm_checkpoint, tmp_path):
    rng = np.random.default_rng(7)
    counts = Counter()
    for trial in range(N_URDF):
        text = random_urdf(rng)
        path = tmp_path / f'r{trial}.urdf'
        path.write_text(text)
        try:  # the URDF alone
            lower, upper, velocity, wrap = urdf_limits(path, ARM)
        except ValueError as exc:
            assert 'urdf_path' in str(exc), (str(exc), text)
        else:
            assert not np.isnan(lower).any() and not np.isnan(upper).any(), text
            assert np.all(velocity > 0) and not np.isnan(velocity).any(), text
            assert np.all(lower < INF) and np.all(upper > -INF), text
            assert wrap.dtype == bool and wrap.shape == (3,), text
        try:  # as the node takes it, with its max_step_delta
            setup = load_setup(config_from_dict(PolicyNodeConfig,
                                                arm_values(arm_checkpoint, urdf_path=str(path))))
        except ValueError as exc:
            counts['refused'] += 1
            assert 'urdf_path' in str(exc) or 'URDF' in str(exc), (str(exc), text)
            continue
        counts['usable'] += 1
        lim = setup.limits
        assert lim.max_step is not None and np.all(lim.max_step > 0), (lim, text)
        assert np.all(lim.max_step <= 0.1), (lim, text)  # max_step_delta still applies
        if lim.lower is not None:
            assert not np.isnan(lim.lower).any() and not np.isnan(lim.upper).any(), text
            assert np.all(lim.lower <= lim.upper), (lim, text)
            assert np.all(lim.lower < INF) and np.all(lim.upper > -INF), (lim, text)
    assert counts['refused'] >= N_URDF // 10 and counts['usable'] >= N_URDF // 10, counts


ENTITY_BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
               + ''.join(f'<!ENTITY lol{i} "' + (f'&lol{i - 1};' if i else '&lol;') * 10 + '">'
                         for i in range(10))
               + ']><robot name="&lol9;"><joint name="shoulder" type="continuous"/></robot>')
JUNK_URDFS = {
    'external-entity': '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM '
                       '"file:///etc/passwd">]><robot><joint name="&x;" type="continuous"/>'
                       '</robot>',
    'entity-bomb': ENTITY_BOMB,
    'not-xml': 'this is not XML \x01\x02',
    'truncated': '<robot><joint name="shoulder" type="continuous">',
    'empty': '',
    'binary': bytes(range(256)) * 4,
    'deep-nesting': '<robot>' + '<a>' * 100_000 + '</a>' * 100_000 + '</robot>',
    'directory': None,
    'missing': None,
}


@pytest.mark.parametrize('kind', list(JUNK_URDFS))
def test_junk_urdf_files_are_refused_naming_urdf_path(arm_checkpoint, tmp_path, kind):
    path = tmp_path / 'robot.urdf'
    content = JUNK_URDFS[kind]
    if kind == 'directory':
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ValueError) as info:
        load_setup(config_from_dict(PolicyNodeConfig,
                                    arm_values(arm_checkpoint, urdf_path=str(path))))
    text = str(info.value)
    assert 'urdf_path' in text and len(text) < SHORT_LINE, text
    assert 'root:' not in text  # no external entity was read in


# --- the sim node's parameters ------------------------------------------------------------------

SIM_FIELDS = {f.name: f for f in param_fields(SimNodeConfig)}
SIM_EDGES = [NaN, INF, -INF, -1.0, 0.0, 5e-324, 1e-300, 1e308]  # half the floats drawn
SIM_FLOATS = [*SIM_EDGES, 1e-12, 1e-9, 1e-3, 0.1, 0.09999999999, 1.0, 10.0, 30.0, 10.000000001,
              1000.0, 512.0, 511.9, -0.0, 3.0, 2.9]
SIM_INTS = [-1, 0, 1, 7, 8, 9, 96, 4096, 4097, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1]
SIM_STRS = ['', 'lockstep', 'realtime', 'point', 'arm', 'x', '\n', '{tmp}/v.gif',
            '{tmp}/v{episode}.mp4', '{tmp}/v{x}.gif', '{tmp}/v{0}.gif',
            '{tmp}/v{episode:>99999}.gif', '{tmp}/v.avi', '/nonexistent/dir/v.gif',
            '{seed}{seed}.gif', 'agent_x', 'agent_y', 'shoulder', 'elbow', 'wrist', 'é', 'a b',
            '/clock']
SIM_WRONG = [True, 'x', 1.5, 3, [], ['a'], [1.0]]
N_SIM = 100  # per mode x robot


def sim_value(rng: np.random.Generator, name: str, strs: list[str]):
    def pick(seq):
        return seq[int(rng.integers(len(seq)))]

    kind = SIM_FIELDS[name].type
    if rng.random() < 0.05:
        return pick(SIM_WRONG)
    if kind == 'bool':
        return bool(rng.integers(2))
    if kind == 'float':
        return pick(SIM_EDGES if rng.random() < 0.5 else SIM_FLOATS)
    if kind == 'int':
        return pick(SIM_INTS)
    if kind == 'str':
        return pick(strs)
    n = int(rng.choice([0, 1, 2, 3, 5]))
    if kind == 'list[str]':
        return [pick(strs) for _ in range(n)]
    if kind == 'list[int]':
        return [pick(SIM_INTS) for _ in range(n)]
    if name.startswith('workspace') and rng.random() < 0.5:
        return [float(rng.uniform(-5, 600)) for _ in range(int(rng.choice([2, 3])))]
    return [pick(SIM_FLOATS) if rng.random() < 0.5 else float(rng.uniform(-10, 600))
            for _ in range(n)]


@pytest.mark.parametrize('robot', ['point', 'arm'])
@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_random_sim_parameters_are_refused_as_config_errors_or_start(tmp_path, mode, robot):
    """What the node builds in its constructor (config, env, stepper) may refuse with a
    ValueError (run_node: one line, exit 2); what it takes must start an episode and step."""
    rng = np.random.default_rng(11 + 2 * ['lockstep', 'realtime'].index(mode)
                                + ['point', 'arm'].index(robot))
    strs = [s.replace('{tmp}', str(tmp_path)) for s in SIM_STRS]
    names = [n for n in SIM_FIELDS if not n.endswith(('_topic', '_service'))
             and n not in ('mode', 'robot')]
    counts = Counter()
    for trial in range(N_SIM):
        values = {'mode': mode, 'robot': robot, 'autostart': False}
        # every parameter in turn, mostly alone (a second bad value would hide the first)
        chosen = {names[trial % len(names)], *rng.choice(names, int(rng.choice([0, 0, 1, 2])))}
        for name in sorted(chosen):
            values[str(name)] = sim_value(rng, str(name), strs)
        if rng.random() < 0.05:  # the deprecated name
            values['control_rate_hz'] = SIM_FLOATS[int(rng.integers(len(SIM_FLOATS)))]
        if rng.random() < 0.03:  # a mode or robot the sim has not
            values[str(rng.choice(['mode', 'robot']))] = sim_value(rng, 'mode', strs)
        rec = Recorder()
        try:
            cfg = config_from_values(values, warn=lambda _: None)
            st = EpisodeStepper(cfg, make_env(cfg), rec)
        except ValueError as exc:
            counts['refused'] += 1
            assert str(exc) and len(str(exc)) < SHORT_LINE, (trial, values)
            continue
        except Exception as exc:  # a traceback at start
            pytest.fail(f'draw {trial}: {type(exc).__name__}: {exc} for {values}')
        counts['started'] += 1
        try:
            assert st.start_episode(10**12), (trial, values)
            assert st.running and rec.observations, (trial, values)
            if cfg.mode == 'lockstep':
                st.lockstep_step(timed_out=True)
            else:
                tick = st.next_tick
                st.realtime_step(tick, tick.due_ns, clock=lambda due=tick.due_ns: due)
        except AssertionError:
            raise
        except Exception as exc:  # the first episode or its first step: a traceback
            pytest.fail(f'draw {trial}: {type(exc).__name__}: {exc} for {values}')
        assert len(rec.observations) >= 2 and ('reward' in {e[0] for e in rec.events}), \
            (trial, values)  # the step ran and was observed
        low, high = np.array(cfg.workspace.low), np.array(cfg.workspace.high)
        assert np.all(np.isfinite(low) & np.isfinite(high) & (low < high)), values
        assert cfg.dt_ns == DT and cfg.camera_rate_hz >= 1e-3, values
    assert counts['refused'] >= N_SIM // 5 and counts['started'] >= N_SIM // 5, counts


# --- trajectories and pose targets into the sim's stepper ---------------------------------------

TRAJ_EPISODES = 30  # per mode x robot, up to 4 steps each with up to 2 inputs before each


class TrajectoryDraws:
    """Random JointTrajectory messages and pose targets (fuzz_traj.py's), around `now`."""

    def __init__(self, rng: np.random.Generator, cfg):
        self.rng, self.cfg = rng, cfg
        self.low = np.asarray(cfg.workspace.low, dtype=np.float64)
        self.high = np.asarray(cfg.workspace.high, dtype=np.float64)
        self.odd = [NaN, INF, -INF, 1e308, -1e308, 5e-324, -1e-9, 512.0, 512.0000001, 3.0, -2.0,
                    *self.high, *(self.high + 1e-7), *(self.low - 1e-9), *self.low]

    def stamp(self, now_ns: int) -> int:
        s = self.rng.random()
        if s < 0.45:
            return 0
        if s < 0.85:
            return now_ns + int(self.rng.integers(-10**8, 10**9))
        return int(self.rng.choice([-I32 * 10**9, I32 * 10**9, 1, -1, now_ns - 10**12]))

    def message(self, now_ns: int):
        """A JointTrajectory; at most one fault of each kind in one point (a fault per point
        drawn independently would spoil every long trajectory, leaving none to follow)."""
        rng, names = self.rng, list(self.cfg.joint_names)
        msg = JointTrajectory()
        r = rng.random()
        msg.joint_names = names if r < 0.85 else names[::-1] if r < 0.9 else \
            [names[0]] * len(names) if r < 0.94 else names + ['extra'] if r < 0.97 else []
        order = [names.index(n) if n in names else 0 for n in msg.joint_names]
        sec, nsec = divmod(self.stamp(now_ns), 10**9)
        msg.header.stamp = Time(sec=max(-2**31, min(I32, sec)), nanosec=nsec)
        k = int(rng.choice([0, 1, 2, 3, 8, 16, 100, 300 if rng.random() < 0.2 else 3]))

        def faulty(p: float) -> int:  # the point with this fault, -1: none
            return int(rng.integers(k)) if k and rng.random() < p else -1

        odd_value, odd_dims, odd_time, odd_nsec = faulty(0.2), faulty(0.03), faulty(0.1), \
            faulty(0.02)
        t = 0
        for i in range(k):
            p = JointTrajectoryPoint()
            positions = [float(rng.uniform(self.low[j], self.high[j])) for j in order]
            if i == odd_value and order:
                positions[int(rng.integers(len(order)))] = float(self.pick(self.odd))
            if i == odd_dims:
                positions = positions[:-1] if rng.random() < 0.5 else positions + [1.0]
            p.positions = positions
            t += DT
            if i == odd_time:
                t = int(self.pick([t - DT, t - 2 * DT, int(rng.integers(0, I32)) * 10**9,
                                   int(rng.integers(-10**9, 10**9))]))
            sec, nsec = divmod(t, 10**9)
            if i == odd_nsec:
                nsec = int(rng.integers(10**9, 2**32))  # a nanosec field out of its range
            p.time_from_start = Duration(sec=max(-2**31, min(I32, sec)), nanosec=nsec)
            msg.points.append(p)
        return msg

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]


def inside(target, low, high) -> bool:
    tol = 1e-9 * np.maximum(1.0, np.abs(high - low))
    return bool(np.all(np.isfinite(target)) and np.all(target >= low - tol)
                and np.all(target <= high + tol))


@pytest.mark.parametrize('robot', ['point', 'arm'])
@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_random_trajectories_and_pose_targets_are_followed_or_counted(mode, robot):
    cfg = config_from_values({'mode': mode, 'robot': robot, 'autostart': False, 'max_steps': 5,
                              'camera_rate_hz': 10.0}, warn=lambda _: None)  # a frame a step
    rec = Recorder()
    st = EpisodeStepper(cfg, make_env(cfg), rec)
    rng = np.random.default_rng(['lockstep', 'realtime'].index(mode) * 2
                                + ['point', 'arm'].index(robot))
    draws = TrajectoryDraws(rng, cfg)
    low, high, names = draws.low, draws.high, list(cfg.joint_names)
    now = 10**12
    counts = Counter()

    def counted(ok: bool, before: int, what) -> None:
        """Followed (True, nothing counted) or rejected (False, counted once, a known kind)."""
        after = st.rejections.total()
        assert (ok and after == before) or (not ok and after == before + 1), (ok, what)
        assert set(st.rejections.counts) <= set(REJECT_KINDS), st.rejections.counts
        counts['followed' if ok else 'rejected'] += 1

    for _episode in range(TRAJ_EPISODES):
        if not st.running:
            assert st.start_episode(now)
        tick = st.next_tick
        for _step in range(4):
            for _input in range(int(rng.integers(0, 3))):
                before = st.rejections.total()
                if rng.random() < 0.8:
                    msg = draws.message(st.t_ns if mode == 'lockstep' else now)
                    try:
                        chunk = joint_trajectory_to_chunk(msg)
                    except ValueError as exc:  # as the sim node does
                        st.reject('dimension', str(exc))
                        counted(False, before, 'unconvertible')
                        continue
                    ok = st.receive(chunk.joint_names, chunk.stamp_ns, chunk.times_from_start_ns,
                                    chunk.positions, now)
                    counted(ok, before, (chunk.stamp_ns, chunk.times_from_start_ns[:3]))
                    if ok:  # every point is followed as sent, inside the workspace
                        start = st.input_time(now) if chunk.stamp_ns == 0 else chunk.stamp_ns
                        rows = chunk.positions[:, [chunk.joint_names.index(n) for n in names]]
                        for i in range(0, len(rows), max(1, len(rows) // 20)):
                            due = start + int(chunk.times_from_start_ns[i])
                            target = st.follower.peek(due)
                            assert np.array_equal(target, rows[i]), (i, target, rows[i])
                            assert inside(target, low, high), (target, low, high)
                else:
                    frame = ['', cfg.frame_id, 'other'][int(rng.integers(3))]
                    stamp = [0, now, now - 10**9, -I32 * 10**9, I32 * 10**9][int(rng.integers(5))]
                    x, y = (float(rng.uniform(0, 512)) if rng.random() > 0.05 else
                            float(rng.choice([NaN, INF, -1.0, 1e308, 600.0])) for _ in range(2))
                    ok = st.receive_pose(frame, stamp, x, y, now)
                    counted(ok, before, (frame, stamp, x, y))
                    if ok:
                        delay = st.pose_delay_ns(stamp, now)
                        due = (st.input_time(now) if stamp == 0 else stamp) + delay
                        assert inside(st.follower.peek(due), low, high), (x, y)
            if not st.running:
                break
            if mode == 'lockstep':
                st.lockstep_step(timed_out=not st.action_ready())
            else:
                now = max(now, tick.due_ns) if tick is not None else now + DT
                tick = st.realtime_step(tick, now, clock=lambda now=now: now)
            target = st.follower.target
            assert target is not None and inside(target, low, high), (target, low, high)
    assert all(len(line) < SHORT_LINE for _, line in rec.logs), \
        max(len(line) for _, line in rec.logs)
    assert counts['followed'] >= 10 and counts['rejected'] >= 10, counts


# --- the safety envelope and the twist servo ----------------------------------------------------

N_SAFETY = 400
N_TWIST = 400


def test_the_safety_envelope_keeps_its_step_limit_for_random_limits_and_chunks():
    rng = np.random.default_rng(3)
    counts = Counter()
    for trial in range(N_SAFETY):
        dim, horizon = int(rng.integers(1, 5)), int(rng.integers(1, 17))
        scale = 10.0 ** int(rng.integers(-3, 4))
        lo = rng.uniform(-2, 0, dim) * scale
        hi = lo + rng.choice([0.0, 1e-9, 1.0, 3.0], dim) * scale
        step = rng.choice([INF, 1e-6, 0.01, 0.1, 1.0, 1e6], dim) * scale
        use_bounds, use_step = rng.random() < 0.6, rng.random() < 0.7
        wrap = rng.random(dim) < 0.3
        lim = combine_limits(dim, 0.1, list(lo) if use_bounds else [],
                             list(hi) if use_bounds else [], list(step) if use_step else [])
        lim = JointLimits(lim.lower, lim.upper, lim.max_step, wrap if wrap.any() else None)
        env = SafetyEnvelope(lim, DT, int(rng.choice([0, DT, 5 * DT, 60 * 10**9])))
        ref = rng.uniform(-3, 3, dim) * scale * (100 if rng.random() < 0.1 else 1)
        env.start_motion(ref if rng.random() < 0.8 else None, 0)
        due = np.arange(horizon, dtype=np.int64) * DT + int(rng.integers(0, DT))
        actions = rng.uniform(-3, 3, (horizon, dim)) * scale
        also = [rng.uniform(-3, 3, dim) * scale for _ in range(int(rng.integers(0, 3)))]
        first_segment = None if rng.random() < 0.3 else int(rng.integers(0, 2 * DT))
        given = ref if rng.random() < 0.9 else None
        out = env.apply(due, actions, given, also, first_segment)
        where = (trial, lim, actions, given, also, first_segment)
        assert out.shape == actions.shape and np.all(np.isfinite(out)), where
        if lim.max_step is not None and given is not None:
            counts['step limited'] += 1
            d = np.diff(np.vstack([given, out]), axis=0)
            if env.wrap is not None:
                d = np.where(env.wrap, (d + np.pi) % (2 * np.pi) - np.pi, d)
            share = 1.0 if first_segment is None else min(1.0, first_segment / DT)
            limit = np.vstack([np.where(np.isinf(lim.max_step), INF, lim.max_step * share),
                               np.broadcast_to(lim.max_step, (horizon - 1, dim))])
            tol = 1e-9 * np.maximum(1.0, np.abs(np.vstack([given, out])).max())
            assert np.all(np.abs(d) <= limit + tol), (np.abs(d) - limit, where)
        # the stop from the last point: finite, some time, a bounded number of points
        velocity = rng.uniform(-5, 5, dim) * scale * rng.choice([0, 1, 1e-12, 1e12])
        deceleration = rng.choice([1e-12, 0.1, 1.0, 1e6, 1e300], dim)
        cap = None if rng.random() < 0.5 else int(rng.integers(0, 10**10))
        stop = stop_path(out[-1], velocity, deceleration, DT, lim, cap)
        if stop is not None:
            counts['stops'] += 1
            path, step_ns = stop
            assert np.all(np.isfinite(path)) and step_ns > 0 and 1 <= len(path) <= 1000, \
                (velocity, deceleration, cap)
            if lim.lower is not None:
                assert np.all(path >= np.minimum(lim.lower, out[-1])), where
                assert np.all(path <= np.maximum(lim.upper, out[-1])), where
    assert counts['step limited'] >= N_SAFETY // 4 and counts['stops'] >= N_SAFETY // 4, counts


POSE_FIELDS = [('x', 'y', 'z', 'yaw'), ('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw'),
               ('x', 'y', 'z', 'r00', 'r10', 'r20', 'r01', 'r11', 'r21')]


def test_the_twist_servo_stays_finite_and_within_its_limits_for_random_plans():
    rng = np.random.default_rng(5)
    counts = Counter()
    for trial in range(N_TWIST):
        names = POSE_FIELDS[int(rng.integers(len(POSE_FIELDS)))]
        horizon = int(rng.integers(1, 10))
        due = np.cumsum(rng.choice([1, 1000, DT, 10**12], horizon)).astype(np.int64)
        values = rng.normal(size=(horizon, len(names)))
        if 'yaw' in names:
            values[:, 3] *= rng.choice([1, 100, 1e6])
        measured = rng.normal(size=len(names))
        limits = TwistLimits(float(rng.choice([0, 1e-9, 5, 1000])),
                             float(rng.choice([0, 0.25, 100])), float(rng.choice([0, 1, 100])))
        t_ns = int(rng.integers(0, int(due[-1]) + 2 * DT))
        try:
            twist = twist_toward_plan(due, values, names, t_ns, measured, limits,
                                      int(rng.choice([0, DT])))
        except ValueError:  # a pose with no direction (pose_fields.pose_target)
            counts['refused'] += 1
            continue
        if twist is None:
            assert t_ns < due[0], (trial, t_ns, due)
            continue
        counts['twists'] += 1
        linear, angular = twist
        where = (trial, names, due, values, measured, limits, t_ns)
        assert linear.shape == (3,) and angular.shape == (3,), where
        assert np.all(np.isfinite(linear)) and np.all(np.isfinite(angular)), where
        assert np.linalg.norm(linear) <= limits.max_linear * (1 + 1e-9) + 1e-12, where
        assert np.linalg.norm(angular) <= limits.max_angular * (1 + 1e-9) + 1e-12, where
    assert counts['twists'] >= N_TWIST // 2, counts
