"""Behaviour of the parameter mechanism that its other tests left unpinned (a mutation review of
dp_ros/params.py, sim_bridge/sim_node_config.py and dp_ros/ros/parameters.py).

params.py: an error shows a list of 16 joint values whole; each config gets its own copy of a
list default; a topic map refuses a topic given twice and splits an entry at its first '=';
a field not made with param() is refused; an int refuses inf and nan (naming itself) and
takes a huge int up to its range; a flag refuses a word or a number, a string field a
number, a number list a numeric string or a bool, an int list a fraction; a tuple is a
list, a float list holds floats; a range refuses infinity even up to an infinite bound; a
misspelling gets up to three hints; a run-time value is checked against its own field; a
section's float field refuses a bool.

sim_node_config.py: the stamp of a lockstep answer, the first seed outside numpy's range, the
slowest camera (0.001 Hz), the point camera against the control rate, a mode or robot not
known, validate's own range checks for a config built in code, a workspace below the table,
a video path without a video suffix, the point's initial state in its narrowed workspace,
dt_ns rounded to whole ns, where the seeds end, the robots' defaults, and the deprecated
control_rate_hz (a warning, a number, the period its inverse).

parameters.py: the ROS integer range of an int field (step 0), which fields are settable at
run time, which names are services (*_service), an empty list default declared unset, a
declared override no longer undeclared, a bad name's error as rcl's reason on one line, and
a resolved copy that passes over an init=False field. In-process rclpy nodes of their own
context, never spun.

Each test kills a mutant the modules' other tests let live; the whole file runs in about a
second. The defects it found, mended (the last tests of each section): a parameter name that
is no string (YAML's `1:`, `yes:`) crashed refuse_unknown in difflib; a control_period_s the
check accepts (0.1 + 5e-10) was refused for the default camera rate, a parameter never set;
an empty list given to a scalar parameter (`max_steps: []`) was silently its default.
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from dp_ros.params import (
    check_range,
    check_scalar_types,
    coerce,
    config_from_dict,
    field_value,
    markdown_table,
    param,
    param_fields,
    parse_topic_map,
    refuse_unknown,
    shown,
)
from dp_ros.ros.parameters import (
    check_name,
    declare_parameters,
    descriptors,
    name_kind,
    resolved_topics,
    undeclared_overrides,
)
from sim_bridge.sim_node_config import (
    MAX_SEED,
    SimNodeConfig,
    answer_stamp_ns,
    config_from_values,
    first_seed_outside,
)


def _sim(**values: object) -> SimNodeConfig:
    """The validated sim config of `values`, warnings dropped."""
    return config_from_values(values, warn=lambda _: None)


# --- dp_ros/params.py ------------------------------------------------------------------------

def test_an_error_shows_a_list_of_sixteen_joints_whole() -> None:
    """A bimanual arm's 16 joint values reach the message uncut; a 17th is elided."""
    assert shown(list(range(16))) == repr(list(range(16)))
    assert shown(list(range(17))).endswith(', ...]')


def test_each_config_gets_its_own_copy_of_a_list_default() -> None:
    first = SimNodeConfig()
    first.seeds.append(7)
    assert SimNodeConfig().seeds == []


def test_a_topic_map_refuses_a_topic_given_twice() -> None:
    with pytest.raises(ValueError, match='^--prefix names /a twice$'):
        parse_topic_map(['/a=x_', '/a=y_'], '--prefix', 'prefix', '/a=x_')
    assert parse_topic_map(['/a=x_', '/b=y_'], '--prefix', 'prefix', '/a=x_') == {
        '/a': 'x_', '/b': 'y_'}


def test_a_topic_map_splits_an_entry_at_its_first_equals_sign() -> None:
    assert parse_topic_map(['/a=b=c'], 'where', 'prefix', '/a=x_') == {'/a': 'b=c'}


@dataclass
class _Plain:
    documented: int = param(1, 'a documented count')
    plain: int = 2


def test_a_field_not_made_with_param_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match=r'^_Plain\.plain is not documented: make it with '
                                        r'param\(\)$'):
        param_fields(_Plain)


@pytest.mark.parametrize('value', [float('inf'), float('-inf'), float('nan')])
def test_an_integer_parameter_refuses_an_infinite_or_nan_float_naming_itself(
        value: float) -> None:
    with pytest.raises(ValueError, match=r'^parameter n must be an integer, got'):
        coerce('n', 'int', value)
    with pytest.raises(ValueError, match=r'^parameter n must be a list of integers, got'):
        coerce('n', 'list[int]', [1, value])


def test_a_huge_integer_is_refused_by_its_range_not_by_an_overflow() -> None:
    """YAML reads 10**30 as an int; it is whole, and the range names the parameter."""
    assert coerce('n', 'int', 10**400) == 10**400
    with pytest.raises(ValueError, match=r'^parameter seed_start must be in \[0, 4294967295\]'):
        config_from_dict(SimNodeConfig, {'seed_start': 10**30})


@dataclass
class _Section:
    ratio: float = 0.5
    steps: int | None = None
    name: str = 'x'


def test_a_float_field_of_a_section_refuses_a_bool() -> None:
    check_scalar_types('policy', _Section, {'ratio': 1})  # YAML's 1 for 1.0
    with pytest.raises(ValueError, match=r'^policy\.ratio must be a number, got True$'):
        check_scalar_types('policy', _Section, {'ratio': True})


@pytest.mark.parametrize('value', ['false', 'yes', 0, 1])
def test_a_flag_is_true_or_false_never_a_word_or_a_number(value: object) -> None:
    with pytest.raises(ValueError, match=r'^parameter auto_reset must be true or false, got'):
        config_from_dict(SimNodeConfig, {'auto_reset': value})
    assert config_from_dict(SimNodeConfig, {'auto_reset': False}).auto_reset is False


def test_a_string_parameter_refuses_a_number() -> None:
    with pytest.raises(ValueError, match=r'^parameter frame_id must be a string, got 5$'):
        config_from_dict(SimNodeConfig, {'frame_id': 5})


def test_a_tuple_is_taken_as_a_list() -> None:
    assert coerce('ids', 'list[int]', (1, 2.0)) == [1, 2]
    assert coerce('names', 'list[str]', ('a',)) == ['a']


@pytest.mark.parametrize('kind', ['list[float]', 'list[int]'])
@pytest.mark.parametrize('item', ['1', True])
def test_a_number_list_refuses_a_numeric_string_or_a_bool(kind: str, item: object) -> None:
    with pytest.raises(ValueError, match=r'^parameter w must be a list of numbers, got \[1, '):
        coerce('w', kind, [1, item])


def test_a_float_list_holds_floats() -> None:
    values = coerce('w', 'list[float]', [1, 2.5])
    assert values == [1.0, 2.5] and [type(v) for v in values] == [float, float]


def test_a_range_refuses_infinity_even_up_to_an_infinite_bound() -> None:
    check_range('x', 1e308, (0.0, float('inf')))
    for value in (float('inf'), [1.0, float('inf')]):
        with pytest.raises(ValueError, match=r'^parameter x must be in \[0.0, inf\], got'):
            check_range('x', value, (0.0, float('inf')))


def test_an_integer_list_refuses_a_fraction() -> None:
    with pytest.raises(ValueError, match=r'^parameter seeds must be a list of integers, got '
                                         r'\[1, 2.5\]$'):
        config_from_dict(SimNodeConfig, {'seeds': [1, 2.5]})


def test_a_misspelt_name_gets_up_to_three_hints_and_two_names_each_theirs() -> None:
    message = (r"^unknown parameter\(s\) \['seeds_count', 'video_sze'\] for the sim \("
               r'seeds_count: did you mean seed_count or seeds\?; '
               r'video_sze: did you mean video_size or video_path or image_size\?\)$')
    with pytest.raises(ValueError, match=message):
        refuse_unknown(SimNodeConfig, ['video_sze', 'seeds_count', 'mode'], 'the sim')
    with pytest.raises(ValueError, match=r"^unknown parameter\(s\) \['zzz'\] for SimNodeConfig$"):
        refuse_unknown(SimNodeConfig, ['zzz'])



@dataclass
class _Gains:
    gain_max: float = param(10.0, 'the largest gain', range=(0.0, 100.0))
    gain: float = param(0.5, 'a gain', range=(0.0, 1.0), read_only=False)


def test_a_run_time_value_is_checked_against_its_own_field_not_a_longer_name() -> None:
    assert field_value(_Gains, 'gain', 1) == 1.0
    with pytest.raises(ValueError, match=r'^parameter gain must be in \[0.0, 1.0\], got 5.0$'):
        field_value(_Gains, 'gain', 5)


@pytest.mark.parametrize('key', [1, True], ids=['int', 'bool'])
def test_an_unknown_key_that_is_no_string_is_refused_naming_it(key: object) -> None:
    with pytest.raises(ValueError, match=rf"^unknown parameter\(s\) \[{key}\] for SimNodeConfig"):
        config_from_dict(SimNodeConfig, {key: 2, 'mode': 'realtime'})

# --- sim_bridge/sim_node_config.py -----------------------------------------------------------

def test_a_lockstep_answer_carries_the_observations_stamp_a_realtime_one_zero() -> None:
    assert answer_stamp_ns('lockstep', 1_500_000_000) == 1_500_000_000
    assert answer_stamp_ns('realtime', 1_500_000_000) == 0


def test_the_first_seed_outside_is_the_first_below_zero_or_past_numpys_last() -> None:
    assert first_seed_outside([0, 5, MAX_SEED]) is None
    assert first_seed_outside([0, MAX_SEED + 1, -1]) == MAX_SEED + 1
    assert first_seed_outside([3, -1]) == -1


def test_the_slowest_camera_is_one_frame_per_thousand_seconds() -> None:
    assert _sim(mode='realtime', camera_rate_hz=0.001).camera_rate_hz == 0.001
    with pytest.raises(ValueError, match=r'^parameter camera_rate_hz must be at least 0.001 Hz '
                                         r'\(a frame every 1000 s\), got 0.0005$'):
        _sim(mode='realtime', camera_rate_hz=0.0005)



@pytest.mark.parametrize('name, value, allowed', [
    ('mode', 'fast', r"\('lockstep', 'realtime'\)"),
    ('robot', 'gripper', r"\('point', 'arm'\)"),
], ids=['mode', 'robot'])
def test_a_mode_or_robot_outside_the_known_ones_is_refused(name: str, value: str,
                                                           allowed: str) -> None:
    with pytest.raises(ValueError, match=rf"^parameter {name} must be one of {allowed}, got "
                                         rf"'{value}'$"):
        _sim(**{name: value})


def test_a_point_camera_is_at_most_the_control_rate_and_in_lockstep_exactly_it() -> None:
    assert _sim(mode='realtime', camera_rate_hz=5.0).camera_rate_hz == 5.0
    assert _sim(mode='realtime', camera_rate_hz=10.0).camera_rate_hz == 10.0
    with pytest.raises(ValueError, match=r'^parameter camera_rate_hz must be in \(0, 1 / '
                                         r'control_period_s = 10.0\], got 15.0$'):
        _sim(mode='realtime', camera_rate_hz=15.0)
    with pytest.raises(ValueError, match=r'^parameter camera_rate_hz must equal 1 / '
                                         r'control_period_s in lockstep mode'):
        _sim(mode='lockstep', camera_rate_hz=5.0)


def test_a_point_workspace_below_the_table_is_refused_naming_the_joint() -> None:
    with pytest.raises(ValueError, match=r"^parameters workspace_low/high \[0.0, -1.0\] / "
                                         r"\[512.0, 512.0\] reach beyond the point robot's "
                                         r"range .* for \['agent_y'\]"):
        _sim(workspace_low=[0.0, -1.0])


def test_a_video_path_without_a_video_suffix_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^parameter video_path must end in .gif or .mp4, "
                                         r"got 'out.txt'$"):
        _sim(video_path='out.txt')


def test_the_points_initial_state_must_lie_in_its_narrowed_workspace() -> None:
    narrowed = {'workspace_low': [100.0, 100.0], 'workspace_high': [400.0, 400.0]}
    assert _sim(**narrowed, initial_state=[200.0, 200.0, 250.0, 250.0, 0.0]).initial_state
    with pytest.raises(ValueError, match=r'^parameter initial_state puts the agent at '
                                         r'\[50.0, 200.0\], outside the workspace '
                                         r'low=\[100.0, 100.0\] high=\[400.0, 400.0\]$'):
        _sim(**narrowed, initial_state=[50.0, 200.0, 250.0, 250.0, 0.0])

def _validated(**changes: object) -> None:
    """validate() of the default sim config with `changes` (values no range check saw)."""
    dataclasses.replace(_sim(), **changes).validate()


@pytest.mark.parametrize('changes, message', [
    ({'max_steps': 0}, r'^parameter max_steps must be >= 1, got 0$'),
    ({'seeds': [1, -1]}, r'^seeds must be >= 0 and seed_count >= 0, got seeds=\[1, -1\]'),
    ({'seed_count': -1}, r'^seeds must be >= 0 and seed_count >= 0'),
    ({'seed_start': -1}, r'^seeds must be >= 0 and seed_count >= 0'),
    ({'obs_republish_period_s': -1.0}, r'obs_republish_period_s must be >= 0 \(0: off\), got '
                                       r'60.0 and -1.0$'),
    ({'action_wait_timeout_s': -1.0}, r'action_wait_timeout_s and obs_republish_period_s must'),
    ({'video_size': 7}, r'^image_size and video_size must be >= 8, got 96 and 7$'),
    ({'image_size': 7}, r'^image_size and video_size must be >= 8, got 7 and 256$'),
])
def test_validate_repeats_the_range_checks_for_a_config_built_in_code(
        changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _validated(**changes)


def test_a_period_within_a_nanosecond_of_the_physics_is_one_whole_step_in_ns() -> None:
    for period in (0.1 - 5e-10, 0.1 + 5e-10):
        assert _sim(mode='realtime', camera_rate_hz=5.0,
                    control_period_s=period).dt_ns == 100_000_000


def test_the_seeds_given_end_after_their_last() -> None:
    cfg = _sim(seeds=[7, 9])
    assert [cfg.seed_for_episode(i) for i in range(3)] == [7, 9, None]
    assert cfg.episode_count() == 2


def test_a_seed_count_ends_the_run_after_that_many_episodes() -> None:
    cfg = _sim(seed_start=5, seed_count=2)
    assert [cfg.seed_for_episode(i) for i in range(3)] == [5, 6, None]
    assert cfg.episode_count() == 2


def test_no_seed_count_is_an_unlimited_run_until_numpys_last_seed() -> None:
    cfg = _sim(seed_start=MAX_SEED - 1)
    assert cfg.episode_count() is None
    assert [cfg.seed_for_episode(i) for i in range(3)] == [MAX_SEED - 1, MAX_SEED, None]


def test_the_robots_defaults_fill_what_is_left_empty() -> None:
    point, arm = _sim(mode='realtime'), _sim(robot='arm')
    assert (point.joint_names, point.workspace_low, point.workspace_high,
            point.camera_rate_hz) == (['agent_x', 'agent_y'], [0.0, 0.0], [512.0, 512.0], 10.0)
    assert arm.camera_rate_hz == 30.0 and len(arm.joint_names) == 3


def test_the_deprecated_rate_is_read_with_a_warning() -> None:
    warnings: list[str] = []
    cfg = config_from_values({'control_rate_hz': 10}, warn=warnings.append)
    assert cfg.control_period_s == 0.1 and cfg.dt_ns == 100_000_000
    assert warnings == ['parameter control_rate_hz is deprecated: use control_period_s '
                        '(= 1 / control_rate_hz, in seconds) instead']



def test_the_deprecated_rate_sets_the_period_to_its_inverse() -> None:
    rate = 10.000000005  # within the 1e-9 tolerance of 10 Hz
    cfg = _sim(control_rate_hz=rate, mode='realtime', camera_rate_hz=5.0)
    assert cfg.control_period_s == 1.0 / rate and cfg.dt_ns == 100_000_000

@pytest.mark.parametrize('value', ['10', True])
def test_the_deprecated_rate_must_be_a_number(value: object) -> None:
    with pytest.raises(ValueError, match=r'^parameter control_rate_hz must be a number, got'):
        _sim(control_rate_hz=value)




@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_a_period_the_check_accepts_is_not_refused_for_the_default_camera(mode: str) -> None:
    assert _sim(mode=mode, control_period_s=0.1 + 5e-10).dt_ns == 100_000_000

# --- dp_ros/ros/parameters.py ----------------------------------------------------------------

@contextlib.contextmanager
def _ros_node(*ros_args: str) -> Iterator[Node]:
    """An in-process node of its own context, started with `ros_args`, never spun."""
    context = Context()
    rclpy.init(context=context, args=['probe', '--ros-args', *ros_args])
    node = Node('pusht_sim', namespace='/pusht', context=context)
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_an_integer_range_is_the_fields_whole_inclusive_range() -> None:
    desc = descriptors(SimNodeConfig)
    (steps,) = desc['max_steps'].integer_range
    assert (steps.from_value, steps.to_value, steps.step) == (1, 2**31 - 1, 0)  # 0: any
    (seed,) = desc['seed_start'].integer_range
    assert (seed.from_value, seed.to_value) == (0, MAX_SEED)
    (rate,) = desc['camera_rate_hz'].floating_point_range
    assert (rate.from_value, rate.to_value) == (0.0, 1000.0)
    assert not desc['seeds'].integer_range and not desc['mode'].integer_range



def test_only_max_steps_and_initial_state_are_settable_at_run_time() -> None:
    settable = sorted(name for name, desc in descriptors(SimNodeConfig).items()
                      if not desc.read_only)
    assert settable == ['initial_state', 'max_steps']
    rows = [row for row in markdown_table(SimNodeConfig).splitlines() if 'settable' in row]
    assert [row.split('`')[1] for row in rows] == ['max_steps', 'initial_state']


def test_a_service_parameter_is_one_named_with_the_service_suffix() -> None:
    """*_service, as *_topic and *_topics: a word that merely ends so names no service."""
    assert name_kind('reset_service', 'list[str]') == 'service'
    assert name_kind('microservice', 'str') is None and name_kind('subtopic', 'str') is None

@dataclass
class _Resolved:
    image_topic: str = param('cam', 'a camera')
    state_topic: str = field(default='joints', init=False)  # derived, not given


def test_resolving_topics_passes_over_a_field_that_is_not_an_init_argument() -> None:
    """dataclasses.replace refuses an init=False field: such a field keeps its value."""
    with _ros_node() as node:
        resolved = resolved_topics(node, _Resolved())
    assert (resolved.image_topic, resolved.state_topic) == ('/pusht/cam', 'joints')



def test_a_declared_override_is_no_longer_undeclared() -> None:
    with _ros_node('-p', 'max_steps:=5', '-p', 'control_rate_hz:=10.0') as node:
        assert undeclared_overrides(node) == ['control_rate_hz', 'max_steps']
        node.declare_parameter('control_rate_hz', 10.0)  # the sim's deprecated name
        assert declare_parameters(node, SimNodeConfig).max_steps == 5
        assert undeclared_overrides(node) == []


def test_an_empty_list_default_is_declared_unset_not_as_a_byte_array() -> None:
    with _ros_node() as node:
        cfg = declare_parameters(node, SimNodeConfig)
        assert node.get_parameter('seeds').type_ == Parameter.Type.NOT_SET
        assert node.get_parameter('max_steps').value == 300
    assert cfg.seeds == []


@pytest.mark.parametrize('name, kind, reason', [
    ('/1reset', 'service', 'topic name token must not start with a number'),
    ('a//b', 'service', "topic name must not contain repeated '/'"),
    ('/a/', 'topic', 'topic name must not end with a forward slash'),
], ids=['digit', 'slashes', 'trailing'])
def test_a_bad_name_is_refused_with_rcls_reason_alone_on_one_line(name: str, kind: str,
                                                                  reason: str) -> None:
    with _ros_node() as node, pytest.raises(ValueError) as info:
        check_name(node, 'a_name', name, kind)
    assert str(info.value) == f'parameter a_name: {name!r} is not a valid {kind} name ({reason})'

def _params_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / 'params.yaml'
    path.write_text('/**:\n  ros__parameters:\n' + body)
    return path


@pytest.mark.parametrize('name, message', [
    ('frame_id', 'must be a string, got \\[\\]'),
    ('max_steps', 'must be an integer, got \\[\\]'),
], ids=['str', 'int'])
def test_an_empty_list_given_to_a_scalar_parameter_is_refused_naming_it(
        tmp_path: Path, name: str, message: str) -> None:
    params = _params_file(tmp_path, f'    {name}: []\n')
    with _ros_node('--params-file', str(params)) as node, pytest.raises(
            ValueError, match=f'^parameter {name} {message}$'):
        declare_parameters(node, SimNodeConfig)
