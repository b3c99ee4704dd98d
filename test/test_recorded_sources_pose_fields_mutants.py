"""Behaviour of four base-layer modules that their other tests left unpinned (a mutation review
of dp_ros/recorded_sources.py, dp_ros/pose_fields.py, dp_ros/dimension_names.py and
dp_ros/runtime/state_range.py).

Recorded sources: check_sources refuses an empty list, an empty kind, a zero width and each
optional field that cannot be (a yaw_min, frame_id, field, prefix, reference or sim_time of
the wrong type, a frame size of other than two positive whole numbers, a zero rate, an
infinite or bool offset), and gives back plain values: floats for
the numbers, a list for the frame size, the field kept, no empty prefix, no False reference
or sim_time. entry_frame_size is (height, width) or None. A topic's gap tolerance is the
smallest of its own sources' (to the nearest ns); its rate the slowest of its own sources',
None without sources; sim_time is any source's, the reference the given topic's; yaw wraps
are listed once each, one wrap never differs, and %g describes them. Per-value topics,
fields and prefixes count an image source as one value, a field only for a joint state, ''
for no prefix. A slice keeps each source's run of columns (none for an empty run, an
image's width None, a step of 1 is a run), and a pose keeps its yaw_min where the slice
keeps its own (prefixed) yaw or no names were given. Every source a command (a float_array
from a state topic still is), float_array topics then pose topics, each once; per value, a
width-None command counts as one. A camera compares as its image_transport base, a camera
list with an unrecorded entry is not compared; other state joint topics warn naming the
recorded one unnamed, other stream topics and prefixes warn, the same say nothing; rotation
columns need sources and a pose.

Poses: decode_pose refuses a zero, NaN or 1e-7-long quaternion only when an orientation is
asked, and one too long to normalize; it flips a quaternion with qw < 0 whole (not one with
qw = 0), reads a tilted pose's yaw as atan2(r10, r00), wraps from -pi by default, and names
matrix entries row then column. quaternion_to_matrix is its direction's; matrix_to_quaternion
gives back the quaternion (qw >= 0) through each of Shepperd's candidates; rotation_vector is
the short way round in the fixed frame, zero for no turn; pose_target makes predicted axes
orthonormal, reads rows and columns apart, refuses parallel axes, a wrong count and a NaN by
name.

Names: a velocity's name is 'joint.velocity', LeRobot's '.vel' is one, names split at the last
dot, a bare '.pos' is a name of its own, lerobot=False reads no suffix, a position suffix is
no field; check_names refuses empty strings, non-strings, a string, duplicates and another
count, and returns a list; names_of unwraps only a one-key dict; compare_names takes
LeRobot's '.pos' names as the joints (not with lerobot=False) and nothing trained as no
warning.

State range: far() refuses a state of another length by name (numpy would broadcast one
value), a value exactly one whole range beyond is not far yet, a row far in any sample
counts, names of another count give no range, as do no normalizer, a field that is not
'limits' and stats numpy cannot read; the policy's own range_eps decides what was constant
(a span of exactly range_eps is judged; without one the normalizer's RANGE_EPS counts), a
symmetric range and an identity range of [-1, 1] are judged, an infinite bound is not; far
values are listed comma-separated; unit_warning says nothing for names of another count
and nothing for a '.pos' span of exactly 4 pi.

Defects it found, mended: check_sources took a NaN, infinite or bool yaw_min (every yaw NaN),
a bool width, and a width-None source inside a low-dim array (counted 0 by its sum, 1 by the
per-value lists: unit_rotation_columns then failed on zip's length); it now names the source
and the field at fault. decode_pose wrapped a yaw a hair below yaw_min to yaw_min + 2 pi,
outside its half-open range.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from dp_ros.dimension_names import (
    check_names,
    compare_names,
    joint_value_name,
    named_field,
    names_of,
    plain_value_name,
    split_joint_value_name,
)
from dp_ros.pose_fields import (
    MATRIX,
    MATRIX_COLUMNS,
    MATRIX_ROWS,
    UNIT_FIELDS,
    decode_pose,
    matrix_to_quaternion,
    pose_target,
    pose_target_problem,
    quaternion_to_matrix,
    rotation_vector,
)
from dp_ros.recorded_sources import (
    camera_base,
    check_sources,
    command_topic_values,
    command_topics,
    compare_sources,
    describe_yaw_wraps,
    entry_frame_size,
    is_reference,
    on_sim_time,
    rate_hz,
    sliced_sources,
    tolerance_ns,
    unit_rotation_columns,
    value_fields,
    value_prefixes,
    value_topics,
    wraps_differ,
    yaw_wraps,
)
from dp_ros.runtime.state_range import far_state_warning, state_range, unit_warning

CAM = {'kind': 'image', 'topic': '/cam', 'width': None}
JS = {'kind': 'joint_state', 'topic': '/js', 'width': 2}
POSE = {'kind': 'pose', 'topic': '/ee_pose', 'width': 4}

# --- dp_ros/recorded_sources.py: check_sources -----------------------------------------------


@pytest.mark.parametrize('bad', [
    [],  # nothing recorded is None, not an empty list
    [{**JS, 'kind': ''}],
    [{**JS, 'width': 0}, {**JS, 'topic': '/b'}],
    [{**JS, 'yaw_min': 'pi'}],
    [{**JS, 'frame_id': 3}],
    [{**JS, 'field': 'torque'}],
    [{**JS, 'prefix': 3}],
    [{**JS, 'frame_size': [480]}],
    [{**JS, 'frame_size': [480, 640, 3]}],
    [{**JS, 'frame_size': [True, 640]}],
    [{**JS, 'rate_hz': 0.0}],
    [{**JS, 'offset_s': math.inf}],
    [{**JS, 'offset_s': True}],
    [{**JS, 'reference': 'yes'}],
    [{**JS, 'sim_time': 1}],
], ids=lambda bad: repr(bad)[:60])
def test_sources_that_cannot_be_are_refused_naming_where(bad: list[dict]) -> None:
    """Each malformed source (or an empty list) is a ValueError naming the entry."""
    with pytest.raises(ValueError, match='^low_dim obs: sources must be a list'):
        check_sources(bad, 2, 'low_dim obs')


def test_checked_sources_are_plain_values_of_their_own_types() -> None:
    """JSON integers become floats, a frame size a list of ints; the field is kept, an empty
    prefix and a False reference or sim_time are dropped."""
    got = check_sources([{**JS, 'yaw_min': 0, 'field': 'velocity', 'prefix': '',
                          'frame_size': (480, 640), 'tolerance_s': 1, 'rate_hz': 30,
                          'offset_s': 0, 'reference': False, 'sim_time': False}], 2, 'w')
    assert got == [{**JS, 'yaw_min': 0.0, 'field': 'velocity', 'frame_size': [480, 640],
                    'tolerance_s': 1.0, 'rate_hz': 30.0, 'offset_s': 0.0}]
    assert [type(got[0][k]) for k in ('yaw_min', 'frame_size', 'tolerance_s', 'rate_hz',
                                      'offset_s')] == [float, list, float, float, float]


def test_an_entrys_own_frame_size_is_height_then_width() -> None:
    """A LeRobot video entry's size [480, 640] is (480, 640); absent is None; a bad one is
    refused naming the entry."""
    assert entry_frame_size([480, 640], 'rgb obs') == (480, 640)
    assert entry_frame_size(None, 'rgb obs') is None
    with pytest.raises(ValueError, match="^rgb obs: frame_size must be"):
        entry_frame_size([480, 0], 'rgb obs')


# --- tolerances, rates, sim time, the reference, yaw wraps -----------------------------------

def test_a_topics_tolerance_is_the_smallest_of_its_sources_to_the_nearest_ns() -> None:
    """Positions and velocities of one topic sampled at 50 and 100 ms: 50 ms; another topic's
    own larger tolerance is its own; 2/3 s rounds to the nearest ns."""
    sources = [{**JS, 'tolerance_s': 0.1}, {**JS, 'tolerance_s': 0.05},
               {'kind': 'joint_state', 'topic': '/grip', 'width': 1, 'tolerance_s': 0.2}]
    assert tolerance_ns(sources, '/js') == 50_000_000
    assert tolerance_ns(sources, '/grip') == 200_000_000
    assert tolerance_ns([{**JS, 'tolerance_s': 2 / 3}]) == 666_666_667


def test_a_topics_rate_is_the_slowest_of_its_own_sources() -> None:
    """Two sources of /js at 30 and 20 Hz: 20; /fast's own 100 Hz is not /js's; nothing
    recorded is None, not an error."""
    sources = [{**JS, 'rate_hz': 30.0}, {**JS, 'rate_hz': 20.0},
               {'kind': 'joint_state', 'topic': '/fast', 'width': 1, 'rate_hz': 100.0}]
    assert rate_hz(sources[:2]) == 20.0
    assert rate_hz(sources, '/fast') == 100.0
    assert rate_hz(None) is None and rate_hz([]) is None


def test_one_source_on_sim_time_says_sim_time_and_the_reference_is_per_topic() -> None:
    sources = [{**JS, 'sim_time': True}, {**CAM, 'reference': True}]
    assert on_sim_time(sources) and not on_sim_time([JS])
    assert is_reference(sources, '/cam') and not is_reference(sources, '/js')
    assert is_reference(sources)


def test_yaw_wraps_are_listed_once_and_one_wrap_does_not_differ() -> None:
    left = {**POSE, 'topic': '/left', 'yaw_min': 0.0}
    wraps = yaw_wraps([left, left, {**POSE, 'topic': '/right', 'yaw_min': -math.pi}])
    assert wraps == [('/left', 0.0), ('/right', -math.pi)]
    assert wraps_differ(wraps) and not wraps_differ(wraps[:1])
    assert describe_yaw_wraps(wraps) == '/left from 0, /right from -3.14159'


# --- per-value lists, slices ------------------------------------------------------------------

def test_per_value_lists_count_an_image_as_one_value_and_fields_only_of_joint_states() -> None:
    sources = [CAM, {**JS, 'field': 'velocity', 'prefix': 'left_'},
               {'kind': 'float_array', 'topic': '/f', 'width': 1, 'field': 'effort'}]
    assert value_topics(sources) == ['/cam', '/js', '/js', '/f']
    assert value_fields(sources) == [None, 'velocity', 'velocity', None]
    assert value_prefixes(sources) == ['', 'left_', 'left_', '']


def test_a_slice_keeps_each_sources_run_of_columns() -> None:
    """state[1:3] of /js (2) + /grip (2) keeps one column of each; a step of 1 is a run; an
    empty run of a source is no source; an image keeps its width None."""
    sources = [JS, {**JS, 'topic': '/grip'}]
    want = [{**JS, 'width': 1}, {**JS, 'topic': '/grip', 'width': 1}]
    assert sliced_sources(sources, slice(1, 3), 4) == want
    assert sliced_sources(sources, slice(1, 3, 1), 4) == want
    assert sliced_sources(sources, slice(0, 2), 4) == [JS]
    assert sliced_sources([CAM], slice(0, 1), 1) == [CAM]


def test_a_sliced_pose_keeps_its_yaw_min_where_its_own_prefixed_yaw_is_kept() -> None:
    """Two arms' x, yaw: slicing yaw and right_x keeps the left wrap only (the right arm's
    columns are judged by their own names); a kept right_yaw keeps the right wrap (the prefix
    taken off); without names every wrap is kept."""
    left = {'kind': 'pose', 'topic': '/l', 'width': 2, 'yaw_min': 0.0}
    right = {'kind': 'pose', 'topic': '/r', 'width': 2, 'prefix': 'right_', 'yaw_min': 0.0}
    names = ['x', 'yaw', 'right_x', 'right_yaw']
    no_wrap = {k: v for k, v in right.items() if k != 'yaw_min'}
    assert sliced_sources([left, right], slice(1, 3), 4, names) == [
        {**left, 'width': 1}, {**no_wrap, 'width': 1}]
    assert sliced_sources([left, right], slice(3, 4), 4, names) == [{**right, 'width': 1}]
    assert sliced_sources([left, right], slice(1, 3), 4) == [{**left, 'width': 1},
                                                            {**right, 'width': 1}]


# --- commands, cameras, comparisons -------------------------------------------------------------

def test_command_topics_keep_float_arrays_from_state_topics_and_list_each_once() -> None:
    arm = {'kind': 'float_array', 'topic': '/arm', 'width': 2}
    ee = {'kind': 'pose', 'topic': '/ee', 'width': 4}
    got = command_topics([arm, ee, {**arm, 'width': 1}], state_topics=['/arm'])
    assert got == (['/arm'] * 2 + ['/ee'] * 4 + ['/arm'], ['/arm'], ['/ee'])
    assert command_topics([arm, JS]) is None
    assert command_topic_values([JS]) is None
    assert command_topic_values([{**arm, 'width': None}, JS]) == ['/arm', None, None]


def test_a_compressed_camera_is_its_raw_topic() -> None:
    assert camera_base('/cam/image_raw/compressed') == '/cam/image_raw'
    assert camera_base('/cam/compressed_raw') == '/cam/compressed_raw'


def test_cameras_not_recorded_are_not_compared() -> None:
    """A recorded camera list with a None (not recorded) says nothing whatever is given."""
    assert compare_sources({'image_topics': ['/b', None]}, {'image_topics': ['/a', '/b']}) == []


def test_other_stream_topics_and_state_joint_topics_warn_and_the_same_do_not() -> None:
    recorded = {'state_joint_topics': ['/a', '/a'], 'action_stream_topics': ['/s'],
                'state_name_prefixes': ['l_', 'l_']}
    assert compare_sources(recorded, dict(recorded)) == []
    warnings = compare_sources(recorded, {'state_joint_topics': ['/b', '/c'],
                                          'action_stream_topics': ['/t'],
                                          'state_name_prefixes': ['', '']})
    assert warnings[0] == ("parameter state_joint_topics ['/b', '/c'] is not what the training "
                           'data was recorded from (/a)')
    assert "action_stream_topics ['/t']" in warnings[1]
    assert "puts ['', ''] before the state joints'" in warnings[2]
    assert len(warnings) == 3


def test_rotation_columns_need_sources_and_a_pose() -> None:
    names = ['left_qx', 'qy', 'x']
    pose = {'kind': 'pose', 'topic': '/p', 'width': 1, 'prefix': 'left_'}
    arm = {'kind': 'float_array', 'topic': '/a', 'width': 2}
    assert unit_rotation_columns(names, None) == []
    assert unit_rotation_columns(names, [pose, arm]) == [0]


# --- dp_ros/pose_fields.py ---------------------------------------------------------------------

def pose_msg(position: tuple[float, float, float] = (0.0, 0.0, 0.0),
             quaternion: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)):
    """A geometry_msgs/PoseStamped as a driver sends it."""
    from geometry_msgs.msg import PoseStamped

    msg = PoseStamped()
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = position
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = quaternion
    return msg


def about(axis: tuple[float, float, float], angle: float) -> np.ndarray:
    """The unit quaternion (x, y, z, w) of a turn by `angle` about `axis`."""
    a = np.asarray(axis, dtype=np.float64)
    return np.array([*(a / np.linalg.norm(a) * math.sin(angle / 2)), math.cos(angle / 2)])


def product(q1: np.ndarray, q0: np.ndarray) -> np.ndarray:
    """q1 * q0 (x, y, z, w): q0's turn, then q1's, in the fixed frame."""
    x1, y1, z1, w1 = q1
    x0, y0, z0, w0 = q0
    return np.array([w1 * x0 + x1 * w0 + y1 * z0 - z1 * y0, w1 * y0 - x1 * z0 + y1 * w0 + z1 * x0,
                     w1 * z0 + x1 * y0 - y1 * x0 + z1 * w0, w1 * w0 - x1 * x0 - y1 * y0 - z1 * z0])


@pytest.mark.parametrize('quaternion', [(0.0, 0.0, 0.0, 0.0), (math.nan, 0.0, 0.0, 1.0),
                                        (0.0, 0.0, 0.0, 1e-7)])
def test_an_orientation_of_no_direction_is_refused_beside_a_position(
        quaternion: tuple[float, ...]) -> None:
    """x with qx asks the orientation: a zero, NaN or 1e-7-long quaternion is refused; x alone
    reads the position of such a message."""
    with pytest.raises(ValueError, match='has no direction'):
        decode_pose(pose_msg(quaternion=quaternion), ['x', 'qx'])
    assert decode_pose(pose_msg((1.0, 2.0, 3.0), quaternion), ['x']).tolist() == [1.0]


def test_a_quaternion_too_long_to_normalize_is_refused() -> None:
    with pytest.raises(ValueError, match='too long to normalize'):
        decode_pose(pose_msg(quaternion=(0.0, 0.0, 1e200, 1e200)), ['yaw'])


def test_a_quaternion_is_flipped_whole_for_qw_below_zero_and_kept_at_qw_zero() -> None:
    fields = ['qx', 'qy', 'qz', 'qw']
    assert decode_pose(pose_msg(quaternion=(0.0, 0.0, 1.0, 0.0)), fields).tolist() == \
        [0.0, 0.0, 1.0, 0.0]
    assert decode_pose(pose_msg(quaternion=(0.6, 0.0, 0.0, -0.8)), fields).tolist() == \
        [-0.6, 0.0, 0.0, 0.8]


def test_yaw_is_the_heading_of_a_tilted_pose_wrapped_from_minus_pi_by_default() -> None:
    """A pose rolled and pitched too: yaw is atan2(r10, r00) of its matrix; a heading of
    -90 degrees is -pi/2 by default, 3 pi/2 from yaw_min 0."""
    q = product(about((0, 0, 1), 2.0), product(about((0, 1, 0), 0.4), about((1, 0, 0), 0.3)))
    x, y, z, w = q
    want = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    assert decode_pose(pose_msg(quaternion=tuple(q)), ['yaw'])[0] == pytest.approx(want)
    assert want == pytest.approx(2.0)
    south = tuple(about((0, 0, 1), -math.pi / 2))
    assert decode_pose(pose_msg(quaternion=south), ['yaw'])[0] == pytest.approx(-math.pi / 2)
    assert decode_pose(pose_msg(quaternion=south), ['yaw'], 0.0)[0] == \
        pytest.approx(1.5 * math.pi)


def test_matrix_entries_are_named_row_then_column() -> None:
    """A heading of +90 degrees turns x to y: r10 (row 1, column 0) is 1, r01 is -1."""
    values = decode_pose(pose_msg(quaternion=tuple(about((0, 0, 1), math.pi / 2))), MATRIX)
    got = dict(zip(MATRIX, values.tolist(), strict=True))
    assert got['r10'] == pytest.approx(1.0) and got['r01'] == pytest.approx(-1.0)
    assert set(MATRIX) <= set(UNIT_FIELDS)


def test_a_quaternions_matrix_is_that_of_its_direction() -> None:
    q = about((1, 2, 3), 1.0)
    assert np.allclose(quaternion_to_matrix(3.0 * q), quaternion_to_matrix(q))
    assert np.allclose(quaternion_to_matrix(q) @ quaternion_to_matrix(q).T, np.eye(3))


@pytest.mark.parametrize('axis, angle', [
    ((1, 2, 3), 0.5), ((1, 0.3, 0.2), 2.9), ((0.2, 1, 0.3), 2.9), ((0.3, 0.2, 1), 2.9),
    ((1, 0.3, 0.2), -2.9), ((0.2, 1, 0.3), -2.9), ((0.3, 0.2, 1), -2.9)])
def test_a_matrix_gives_back_its_quaternion_with_qw_not_below_zero(
        axis: tuple[float, ...], angle: float) -> None:
    """Turns near half a turn about each axis use each of Shepperd's four candidates."""
    q = about(axis, angle)
    q = -q if q[3] < 0 else q
    got = matrix_to_quaternion(quaternion_to_matrix(q))
    assert got[3] >= 0 and np.allclose(got, q)


def test_the_turn_between_two_orientations_is_the_short_way_in_the_fixed_frame() -> None:
    tilt = about((1, 0, 0), math.pi / 2)
    assert np.allclose(rotation_vector(tilt, product(about((0, 0, 1), math.pi / 2), tilt)),
                       [0.0, 0.0, math.pi / 2])
    assert np.allclose(rotation_vector(about((0, 0, 1), 0.0), about((0, 0, 1), math.radians(350))),
                       [0.0, 0.0, math.radians(-10)])
    assert rotation_vector(tilt, tilt).tolist() == [0.0, 0.0, 0.0]


def test_predicted_columns_are_made_orthonormal_and_parallel_ones_refused() -> None:
    """Columns x (1, 0, 0), y (1, 1, 0): y is made orthogonal to x, no turn; rows read as rows
    (a turn about z by +90 degrees: row 0 is (0, -1, 0))."""
    names = ['x', 'y', 'z', *MATRIX_COLUMNS]
    _, q = pose_target(np.array([0, 0, 0, 1.0, 0, 0, 1.0, 1.0, 0]), names)
    assert np.allclose(q, [0, 0, 0, 1])
    _, q = pose_target(np.array([0, 0, 0, 0, -1.0, 0, 1.0, 0, 0]), ['x', 'y', 'z', *MATRIX_ROWS])
    assert np.allclose(q, about((0, 0, 1), math.pi / 2))
    with pytest.raises(ValueError, match='have no direction apart'):
        pose_target(np.array([0, 0, 0, 1.0, 0, 0, 2.0, 0, 0]), names)


def test_a_pose_target_refuses_a_wrong_count_and_a_nan_by_name() -> None:
    names = ['x', 'y', 'z', 'yaw']
    with pytest.raises(ValueError, match=r'takes 4 values, got shape \(3,\)'):
        pose_target(np.zeros(3), names)
    with pytest.raises(ValueError, match='is not finite'):
        pose_target(np.array([0.0, 0.0, 0.0, math.nan]), names)
    assert pose_target_problem(names) is None


# --- dp_ros/dimension_names.py ---------------------------------------------------------------

def test_value_names_split_at_the_last_dot_and_lerobot_suffixes_only_for_lerobot() -> None:
    assert joint_value_name('j', 'velocity') == 'j.velocity'
    assert plain_value_name('arm.wrist.pos') == 'arm.wrist'
    assert plain_value_name('x.vel') == 'x.velocity'
    assert plain_value_name('.pos') == '.pos'
    assert plain_value_name('x.pos', lerobot=False) == 'x.pos'
    assert split_joint_value_name('x.vel', 'velocity') == 'x'
    assert split_joint_value_name('a.position', 'position') == 'a.position'
    assert named_field('a.position') is None and named_field('.velocity') is None
    assert named_field('x.vel') == 'velocity' and named_field('x.vel', lerobot=False) is None


@pytest.mark.parametrize('bad', [['a', ''], [1, 2], 'ab', ['a', 'a'], ['a', 'a', 'b']])
def test_names_that_are_not_distinct_strings_one_per_value_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match='^state: names'):
        check_names(bad, 2, 'state')


def test_checked_names_are_a_list_and_only_a_one_key_dict_is_unwrapped() -> None:
    assert check_names(('a', 'b'), 2, 'state') == ['a', 'b']
    assert type(check_names(('a', 'b'), 2, 'state')) is list
    assert names_of({'motors': ['a', 'b']}, 2) == ['a', 'b']
    assert names_of({'motors': ['a', 'b'], 'cameras': ['c', 'd']}, 2) is None


def test_lerobot_trained_names_compare_as_plain_joint_names() -> None:
    assert compare_names(None, ['a'], 'joints') is None
    assert compare_names(['a.pos', 'b.pos'], ['a', 'b'], 'joints') is None
    with pytest.raises(ValueError, match='another order'):
        compare_names(['a.pos', 'b.pos'], ['b', 'a'], 'joints')
    assert 'is not the joints' in compare_names(['a.pos'], ['a'], 'joints', lerobot=False)


# --- dp_ros/runtime/state_range.py -------------------------------------------------------------

def limits(low: list[float], high: list[float], scale: list[float], offset: list[float],
           kind: str = 'limits') -> dict:
    """A normalizer field as policy.json records it (Normalizer.to_dict)."""
    return {'kind': kind, 'min': low, 'max': high, 'scale': scale, 'offset': offset}


def normalizer(range_eps: float | None = 1e-4, **fields: dict) -> dict:
    return {'version': 1, 'mode': 'limits', 'fields': fields,
            **({} if range_eps is None else {'range_eps': range_eps})}


def test_a_state_of_another_length_is_refused_by_name() -> None:
    """One value against a 3-value range (numpy would broadcast it) is a clear error."""
    rng = state_range(normalizer(s=limits([0.0] * 3, [2.0] * 3, [1.0] * 3, [-1.0] * 3)),
                      ['s'], [3], ['a', 'b', 'c'])
    with pytest.raises(ValueError, match='^state of 1 values, the training range has 3$'):
        rng.far(np.zeros(1))


def test_exactly_one_whole_range_beyond_is_not_far_and_any_far_row_counts() -> None:
    """[0, 2] (scale 1, offset -1): 4 normalizes to 3.0, not above the limit; 4.5 is; a
    dimension far in one row of several is far."""
    rng = state_range(normalizer(s=limits([0.0], [2.0], [1.0], [-1.0])), ['s'], [1], ['j'])
    assert rng.far(np.array([4.0])) == [] and rng.far(np.array([4.5]))
    assert rng.far_dimensions(np.array([[1.0], [9.0]])).tolist() == [True]


def test_names_of_another_count_than_the_values_give_no_range() -> None:
    norm = normalizer(s=limits([0.0], [2.0], [1.0], [-1.0]))
    assert state_range(norm, ['s'], [1], ['a', 'b']) is None


@pytest.mark.parametrize('norm', [
    None,  # policy.json without a normalizer mapping
    normalizer(s=limits([0.0], [2.0], [1.0], [-1.0], kind='gaussian')),
    normalizer(s=limits({'a': 0.0}, [2.0], [1.0], [-1.0])),  # numpy's TypeError
], ids=['none', 'not-limits', 'a-dict'])
def test_stats_of_no_limits_field_give_no_range(norm: object) -> None:
    assert state_range(norm, ['s'], [1], ['j']) is None


def test_the_policys_own_range_eps_decides_what_was_constant() -> None:
    """A span of 1e-3 under range_eps 1e-2 was constant in training: not judged; a span of
    exactly range_eps was not: judged; without range_eps the normalizer's 1e-4 counts."""
    from dp_ros.policy.normalizer import RANGE_EPS

    entry = limits([0.0], [1e-3], [2e3], [-1.0])
    assert state_range(normalizer(1e-2, s=entry), ['s'], [1], ['j']).far(np.ones(1)) == []
    assert state_range(normalizer(1e-3, s=entry), ['s'], [1], ['j']).far(np.ones(1))
    at_default = limits([0.0], [1e-5], [2e5], [-1.0])
    assert state_range(normalizer(None, s=at_default), ['s'], [1], ['j']).far(np.ones(1)) == []
    at_eps = limits([0.0], [RANGE_EPS], [2 / RANGE_EPS], [-1.0])
    assert state_range(normalizer(None, s=at_eps), ['s'], [1], ['j']).far(np.ones(1))


def test_a_symmetric_range_and_an_identity_range_of_minus_one_to_one_are_judged() -> None:
    """[-5, 5] has offset 0 but scale 0.2 (not left as it is); a quaternion entry whose
    range was [-1, 1] (scale 1, offset 0) is judged too."""
    norm = normalizer(s=limits([-5.0, -1.0], [5.0, 1.0], [0.2, 1.0], [0.0, 0.0]))
    rng = state_range(norm, ['s'], [2], ['x', 'qx'])
    assert [v.name for v in rng.far(np.array([100.0, 5.0]))] == ['x', 'qx']


@pytest.mark.parametrize('low, high', [(-math.inf, 1.0), (0.0, math.inf)])
def test_a_dimension_with_an_infinite_bound_is_not_judged(low: float, high: float) -> None:
    rng = state_range(normalizer(s=limits([low], [high], [1.0], [10.0])), ['s'], [1], ['j'])
    assert rng.far(np.zeros(1)) == []


def test_far_values_are_listed_comma_separated() -> None:
    rng = state_range(normalizer(s=limits([0.0, 0.0], [2.0, 2.0], [1.0, 1.0], [-1.0, -1.0])),
                      ['s'], [2], ['a', 'b'])
    text = far_state_warning(rng.far(np.array([9.0, 10.0])))
    assert 'beyond it): a 9 (trained 0..2), b 10 (trained 0..2); another unit' in text


def test_unit_warning_needs_the_ranges_names_and_a_span_above_four_pi() -> None:
    """Names of another count than the range say nothing (no zip error); a '.pos' range of
    exactly 4 pi is still a joint's in radians."""
    wide = state_range(normalizer(s=limits([0.0, 0.0], [100.0, 4 * np.pi], [0.02, 1.0],
                                           [-1.0, -1.0])), ['s'], [2], ['a', 'b'])
    assert unit_warning(wide, ['gripper.pos'], lerobot=True) is None
    assert "radians (j.pos 0..100): degrees" in unit_warning(wide, ['j.pos', 'k.pos'],
                                                             lerobot=True)


# --- defects found, mended ---------------------------------------------------------------

@pytest.mark.parametrize('yaw_min', [math.nan, math.inf, True])
def test_a_yaw_min_that_is_no_angle_is_refused(yaw_min: object) -> None:
    with pytest.raises(ValueError, match=r'source 0: its yaw_min \S+ is not a finite angle'):
        check_sources([{**POSE, 'yaw_min': yaw_min}], 4, 'low_dim obs')


def test_a_bool_width_is_refused() -> None:
    with pytest.raises(ValueError, match='source 0: its width True is not a positive whole'):
        check_sources([{**JS, 'width': True}], 1, 'low_dim obs')


def test_a_low_dim_source_without_a_width_is_refused() -> None:
    """A pose source without a width beside a 3-wide one passes as 3 values; value_topics then
    lists 4 and unit_rotation_columns fails on zip's length."""
    sources = [{**POSE, 'width': None}, {**JS, 'width': 3}]
    with pytest.raises(ValueError, match='source 0: its width None is not a positive whole'):
        check_sources(sources, 3, 'low_dim obs')


def test_a_yaw_just_below_the_wrap_stays_inside_the_half_open_range() -> None:
    """A heading of -1e-17 rad (a driver's rounding of 0) from yaw_min 0: (-1e-17) % 2 pi
    rounds to 2 pi, so the value is 2 pi itself."""
    yaw = decode_pose(pose_msg(quaternion=(0.0, 0.0, -5e-18, 1.0)), ['yaw'], 0.0)[0]
    assert 0.0 <= yaw < 2 * math.pi
