"""`dp-ros bag2zarr` at its edges: what is checked before anything is read, what an append
must agree with (control period, value names) and what it merges (tolerances), the reports
printed when a later bag fails, and one pose topic read with two yaw wraps."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import MS, nonempty_lines

from dp_ros.bags.reader import BagError
from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message, pose_message
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.bag_episodes import BagReport, TopicReport
from training.replay_buffer import ReplayBuffer

WALL = 1_700_000_000 * 10**9
PERIOD = 100 * MS


def write_bag(path: Path, steps: int = 20, yaw: float = -0.5, pose: bool = True,
              empty_pose: bool = False) -> Path:
    """steps joint states (j1 = k / 10, the grid: 100 ms apart) and, beside each, a pose
    (x = k / 100, yaw) in frame 'base'; empty_pose: the pose topic recorded without messages."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        if empty_pose:
            rec.add_topic('/pose', 'geometry_msgs/msg/PoseStamped')
        for k in range(steps):
            t = WALL + k * PERIOD
            rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], np.array([k / 10]), t))
            if pose and not empty_pose:
                rec.write('/pose', 'geometry_msgs/msg/PoseStamped', t + 2 * MS,
                          pose_message(ts, k / 100, 0.0, yaw, t, frame_id='base'))
    return path


def write_camera_bag(path: Path, size: tuple[int, int], steps: int = 10) -> Path:
    """steps joint states (the grid, 100 ms apart) and a camera's frames of `size` (H, W)."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(steps):
            t = WALL + k * PERIOD
            rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], np.array([k / 10]), t))
            rec.write('/cam', 'sensor_msgs/msg/Image', t + 2 * MS,
                      image_message(ts, np.full((*size, 3), k, np.uint8), t))
    return path


def camera_config(**image) -> dict:
    return {'control_period_s': 0.1, 'reference_topic': '/js',
            'keys': {'img': {'image': '/cam', **image},
                     'state': {'joint_state': '/js', 'joints': ['j1']}}}


def raw_config(**top) -> dict:
    return {'control_period_s': 0.1, 'reference_topic': '/js',
            'keys': {'state': [{'joint_state': '/js', 'joints': ['j1']},
                               {'pose': '/pose', 'fields': ['x', 'yaw']}],
                     'action': {'future_of': 'state'}}, **top}


def write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def run(bags: list[Path], config: Path, output: Path) -> int:
    return bag2zarr.main([*map(str, bags), '-c', str(config), '-o', str(output),
                          '--no-progress'])


def error_line(capsys) -> tuple[str, str]:
    """(the one error line on stderr, stdout)."""
    out, err = capsys.readouterr()
    lines = nonempty_lines(err)
    assert len(lines) == 1 and lines[0].startswith('dp-ros bag2zarr: '), lines
    return lines[0], out


def snapshot(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob('*'))
            if p.is_file()}


def test_no_bags_is_an_error_naming_it_and_writes_nothing(tmp_path):
    """convert() given no bags says so (not 'no episode survived'), and writes no output."""
    config = config_from_dict(raw_config())
    with pytest.raises(BagError, match='no bags given'):
        bag2zarr.convert([], config, tmp_path / 'out.zarr', progress=False)
    assert not (tmp_path / 'out.zarr').exists()


def test_every_bags_topics_are_checked_before_any_bag_is_read(tmp_path, capsys):
    """A later bag missing a topic fails the conversion before the first bag is read: no bag
    report is printed or collected, the error names the later bag, nothing is written."""
    good = write_bag(tmp_path / 'a_good')
    bad = write_bag(tmp_path / 'b_no_pose', pose=False)
    config = write_config(tmp_path / 'c.yaml', raw_config())
    assert run([good, bad], config, tmp_path / 'out.zarr') == 2
    err, out = error_line(capsys)
    assert f'bag {bad}' in err and 'topic /pose' in err and 'not in the bag' in err
    assert out.strip() == ''
    assert not (tmp_path / 'out.zarr').exists()
    reports = []
    with pytest.raises(BagError):
        bag2zarr.convert([good, bad], config_from_dict(raw_config()), tmp_path / 'o2.zarr',
                         progress=False, reports=reports)
    assert reports == []


def test_the_bags_read_before_a_failure_are_reported(tmp_path, capsys):
    """A bag failing once reading has begun (a topic without messages) prints the reports of
    the bags read so far on stdout, the one error line on stderr; nothing is written."""
    good = write_bag(tmp_path / 'a_good')
    bad = write_bag(tmp_path / 'b_empty_pose', empty_pose=True)
    config = write_config(tmp_path / 'c.yaml', raw_config())
    assert run([good, bad], config, tmp_path / 'out.zarr') == 2
    err, out = error_line(capsys)
    assert 'topic /pose has no messages' in err and 'was not written' in err
    assert f'{good}: 1 episode(s)' in out
    assert not (tmp_path / 'out.zarr').exists()


def test_appending_at_another_control_period_is_refused(tmp_path, capsys):
    """A store sampled every 0.1 s is not appended to at 0.2 s (one array, two rates): a
    one-line error naming both, the store byte for byte as it was."""
    bag = write_bag(tmp_path / 'bag')
    output = tmp_path / 'out.zarr'
    assert run([bag], write_config(tmp_path / 'c.yaml', raw_config()), output) == 0
    before = snapshot(output)
    slow = write_config(tmp_path / 'slow.yaml', raw_config(control_period_s=0.2))
    assert run([bag], slow, output) == 2
    err, _ = error_line(capsys)
    assert ('its episodes were sampled every 0.1 s (control_period_s 0.1), the config says '
            'control_period_s 0.2' in err)
    assert snapshot(output) == before


def test_a_store_without_names_is_appended_to_and_keeps_none(tmp_path, capsys):
    """A store written before value names were recorded: its names are unknown, not
    contradicted, so an append goes ahead, and the store still records none (its older
    episodes' joints are unknown)."""
    bag = write_bag(tmp_path / 'bag')
    output = tmp_path / 'out.zarr'
    config = write_config(tmp_path / 'c.yaml', raw_config())
    assert run([bag], config, output) == 0
    old = ReplayBuffer.open(output, mode='r+')
    for key in ('state', 'action'):
        del old.data[key].attrs['names']
    # another recording (the same one again is refused: converted_bags)
    assert run([write_bag(tmp_path / 'bag2')], config, output) == 0, capsys.readouterr()
    buffer = ReplayBuffer.open(output)
    assert buffer.n_episodes == 2
    assert 'names' not in buffer.attrs('state') and 'names' not in buffer.attrs('action')


def test_an_append_keeps_the_larger_tolerance_of_a_source(tmp_path):
    """Each source records the larger of the store's and the appended bags' gap tolerances:
    the node then refuses no sample that some training data had."""
    bag = write_bag(tmp_path / 'bag')
    output = tmp_path / 'out.zarr'

    def tolerances() -> list[float]:
        return [s['tolerance_s'] for s in ReplayBuffer.open(output).attrs('state')['sources']]

    assert run([bag], write_config(tmp_path / 'a.yaml', raw_config()), output) == 0
    assert tolerances() == [0.05, 0.05]
    # other recordings (the same one again is refused: converted_bags)
    assert run([write_bag(tmp_path / 'bag2')],
               write_config(tmp_path / 'b.yaml', raw_config(tolerance=0.08)), output) == 0
    assert tolerances() == [0.08, 0.08]
    assert run([write_bag(tmp_path / 'bag3')],
               write_config(tmp_path / 'c.yaml', raw_config(tolerance=0.02)), output) == 0
    assert tolerances() == [0.08, 0.08]
    assert ReplayBuffer.open(output).n_episodes == 3


def test_one_pose_topic_read_with_two_yaw_wraps_gives_each_key_its_own(tmp_path):
    """Two keys reading one pose topic's yaw with different yaw_min are two decodings: a yaw
    of -0.5 rad is -0.5 in the key wrapped from -pi and 2 pi - 0.5 in the one from 0."""
    bag = write_bag(tmp_path / 'bag', yaw=-0.5)
    raw = {'control_period_s': 0.1, 'reference_topic': '/js',
           'keys': {'state': {'pose': '/pose', 'fields': ['yaw']},
                    'heading': {'pose': '/pose', 'fields': ['yaw'], 'yaw_min': 0.0}}}
    output = tmp_path / 'out.zarr'
    assert run([bag], write_config(tmp_path / 'c.yaml', raw), output) == 0
    buffer = ReplayBuffer.open(output)
    state, heading = np.asarray(buffer['state'][:]), np.asarray(buffer['heading'][:])
    assert len(state) > 0
    np.testing.assert_allclose(state[:, 0], -0.5, atol=1e-6)
    np.testing.assert_allclose(heading[:, 0], 2 * math.pi - 0.5, atol=1e-5)


def test_a_topics_rate_is_the_slowest_bags_whichever_comes_first():
    """topic_rates keeps each topic's lowest rate over the bags, also when the slowest bag is
    not the last one (not merely the last bag's rate)."""
    def report(rate_cam: float, rate_js: float) -> BagReport:
        return BagReport('b', topics=[
            TopicReport('/cam', 'sensor_msgs/msg/Image', 10, rate_cam, 0, 0.1, True),
            TopicReport('/js', 'sensor_msgs/msg/JointState', 10, rate_js, 0, 0.1, True)])

    assert bag2zarr.topic_rates([report(15.0, 100.0), report(30.0, 99.8),
                                 report(20.0, 100.2)]) == {'/cam': 15.0, '/js': 99.8}


def test_a_camera_that_changed_size_records_no_frame_size(tmp_path):
    """Bags of one camera at 4 x 4 and 6 x 6 px (fitted to one shape, no crop) convert; the
    camera's frame size is then unknown and not recorded (the node would check it against
    the wrong one), while a camera of one size records it."""
    small, large = write_camera_bag(tmp_path / 'a', (4, 4)), write_camera_bag(tmp_path / 'b',
                                                                               (6, 6))
    config = write_config(tmp_path / 'c.yaml', camera_config(shape=[4, 4]))
    assert run([small, large], config, tmp_path / 'two.zarr') == 0
    (source,) = ReplayBuffer.open(tmp_path / 'two.zarr').attrs('img')['sources']
    assert 'frame_size' not in source and source['topic'] == '/cam'
    assert run([large], config, tmp_path / 'one.zarr') == 0
    (source,) = ReplayBuffer.open(tmp_path / 'one.zarr').attrs('img')['sources']
    assert source['frame_size'] == [6, 6]


def test_an_empty_store_is_filled_whatever_crop_the_config_has(tmp_path, capsys):
    """A store with no episodes (created empty) has no crop or names to contradict: bags with
    a camera crop convert into it, and the crop is recorded."""
    ReplayBuffer.create(tmp_path / 'out.zarr')
    bag = write_camera_bag(tmp_path / 'bag', (6, 6))
    config = write_config(tmp_path / 'c.yaml', camera_config(crop=[1, 1, 4, 4]))
    assert run([bag], config, tmp_path / 'out.zarr') == 0, capsys.readouterr()
    buffer = ReplayBuffer.open(tmp_path / 'out.zarr')
    assert buffer.n_episodes == 1 and buffer.attrs('img')['camera_crop'] == [1, 1, 4, 4]
    np.testing.assert_array_equal(np.asarray(buffer['img'][:, 0, 0, 0]), np.arange(10))


def test_an_empty_store_records_the_names_and_sources_of_its_first_bags(tmp_path):
    """An empty store has no older episodes whose joints are unknown: the names and sources of
    the bags converted into it must be recorded, as in a fresh store."""
    ReplayBuffer.create(tmp_path / 'out.zarr')
    bag = write_camera_bag(tmp_path / 'bag', (6, 6))
    assert run([bag], write_config(tmp_path / 'c.yaml', camera_config()),
               tmp_path / 'out.zarr') == 0
    buffer = ReplayBuffer.open(tmp_path / 'out.zarr')
    assert buffer.attrs('state').get('names') == ['j1']
    assert 'sources' in buffer.attrs('img') and 'sources' in buffer.attrs('state')
