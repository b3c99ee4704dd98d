"""Two bags a real robot's session leaves that used to stop or puzzle a conversion.

Pinned: a bag without a single message (a recording started and stopped at once) in a folder
of demos is skipped with a note, as an episode without data is, instead of aborting the
folder's conversion (a bag where only some topics are empty stays an error:
test_bag2zarr_edges); and a bag whose camera is stamped on another clock than its joints
(sim time beside wall time) says so, as `dp-ros inspect` does, beside bag2zarr's "no grid
time has every stream".
"""
from __future__ import annotations

import pytest
from bag_support import CAMERA_JOINTS_CONFIG as CONFIG
from bag_support import write_camera_joints

from dp_ros.bags.reader import BagError
from dp_ros.bags.recorder import BagRecorder
from training import bag2zarr
from training.bag2zarr_config import config_from_dict


def _demo(path, frames: int = 10, camera_clock: int = 0) -> None:
    """A 10 Hz camera (stamped camera_clock + its time) and 100 Hz joints, wall-clock."""
    with BagRecorder(path) as rec:
        write_camera_joints(rec, range(frames), camera_clock)


def _empty(path, topics: bool = True) -> None:
    with BagRecorder(path) as rec:
        if topics:
            rec.add_topic('/cam/image_raw', 'sensor_msgs/msg/Image')
            rec.add_topic('/joint_states', 'sensor_msgs/msg/JointState')


@pytest.mark.parametrize('topics', [True, False], ids=['topics', 'no topics'])
def test_an_empty_bag_among_demos_is_skipped_with_a_note(tmp_path, topics):
    _empty(tmp_path / 'bags' / 'a_empty', topics)
    _demo(tmp_path / 'bags' / 'b_demo')
    summary = bag2zarr.convert([tmp_path / 'bags'], config_from_dict(CONFIG),
                               tmp_path / 'out.zarr', progress=False)
    empty, demo = summary.bags
    assert (empty.episode_lengths, demo.episode_lengths) == ([], [10])
    assert empty.notes == ['the bag holds no message (a recording stopped as soon as it '
                           'started?): skipped']
    assert summary.total_episodes == 1


def test_only_empty_bags_convert_to_nothing_and_say_so(tmp_path):
    _empty(tmp_path / 'bags' / 'a_empty')
    with pytest.raises(BagError, match='no episode survived the conversion'):
        bag2zarr.convert([tmp_path / 'bags'], config_from_dict(CONFIG), tmp_path / 'out.zarr',
                         progress=False)
    assert not (tmp_path / 'out.zarr').exists()


def test_a_camera_on_another_clock_is_named(tmp_path):
    """A camera stamped on sim time (from 0) beside wall-clock joints: the report names the
    two clocks, not only that no grid time had every stream."""
    _demo(tmp_path / 'demo', camera_clock=1)
    reports = []
    with pytest.raises(BagError, match='no episode survived'):
        bag2zarr.convert([tmp_path / 'demo'], config_from_dict(CONFIG), tmp_path / 'out.zarr',
                         progress=False, reports=reports)
    (report,) = reports
    assert 'no grid time has every stream' in report.notes
    assert ('/joint_states stamps sit -0.001 s from their receive times, the /cam/image_raw '
            'stamps -1.7e+09 s: two clocks, which no grid time aligns (`dp-ros inspect` the '
            'bag)') in report.notes, report.notes
