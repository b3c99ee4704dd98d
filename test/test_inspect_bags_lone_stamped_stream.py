"""`dp-ros inspect` on a lockstep bag whose only stamped stream is one topic: the camera
stamped on the sim's clock (10 Hz steps), the joint states and the commands without stamps
(a driver that leaves them 0, a forward controller's Float64MultiArray without a header),
all received on the recorder's wall clock at the lockstep loop's pace (25 steps a second).

bag2zarr aligns on that camera's stamps and places the unstamped streams at the step they
answer (training/resample.py place_unstamped), so its clock is the bag's one stamp clock,
not "another clock" mismatched against nothing. Pinned (README: "on the header-stamp clock
where the bag's stamped streams share one other than the recorder's, a lockstep sim's: not
called another clock, a note names it"): the camera's rate and gaps on its stamps, no clock
warning, a note naming it; the unstamped streams keep their receive-time rates. A second
stream stamped on the wall clock beside it is still a mismatch, named.
"""
from __future__ import annotations

import numpy as np
import pytest
from bag_support import MS, NS, T0

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training.inspect_bags import format_bag, summarize_bag
from training.inspect_dataset import main as inspect

SIM_PERIOD = 100 * MS  # one sim step
WALL_PERIOD = 40 * MS  # how long a lockstep step took on the wall clock
STEPS = 40
CAMERA, JOINTS, COMMANDS = '/sim/image_raw', '/sim/joint_states', '/sim/commands'


def _lone_stamped_bag(path, joints_stamped_on_wall: bool = False) -> None:
    with BagRecorder(path) as rec:
        ts = rec.typestore
        command = ts.types['std_msgs/msg/Float64MultiArray']
        layout = ts.types['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0)
        for k in range(STEPS):
            recv = T0 + k * WALL_PERIOD
            if k != 20:  # one frame lost: a two-step gap on the sim clock
                rec.write(CAMERA, 'sensor_msgs/msg/Image', recv + MS,
                          image_message(ts, np.full((4, 4, 3), k, np.uint8),
                                        (k + 1) * SIM_PERIOD))
            rec.write(JOINTS, 'sensor_msgs/msg/JointState', recv + 2 * MS,
                      joint_state_message(ts, ['j1'], np.array([k / 10]),
                                          recv if joints_stamped_on_wall else 0))
            rec.write(COMMANDS, 'std_msgs/msg/Float64MultiArray', recv + 10 * MS,
                      command(layout=layout, data=np.array([k / 10])))


def test_a_lone_stamped_stream_on_a_sim_clock_is_the_bags_clock(tmp_path, capsys):
    _lone_stamped_bag(tmp_path / 'bag')
    summary = summarize_bag(tmp_path / 'bag')
    topics = {t.topic: t for t in summary.topics}
    camera = topics[CAMERA]
    assert camera.problems == []
    assert camera.rate_hz == pytest.approx(10.0)  # sim steps, not the 25 Hz wall pace
    assert camera.max_gap_s == pytest.approx(0.2)  # the lost frame, on the sim clock
    assert camera.stamp_offset_s == pytest.approx(-T0 / NS, abs=10)
    for name in (JOINTS, COMMANDS):  # unstamped: their receive times
        assert topics[name].rate_hz == pytest.approx(25.0), name
    assert topics[JOINTS].problems == ['header stamps are 0: bag2zarr falls back to receive '
                                       'times for it (their jitter lands in the data)']
    (note,) = summary.notes
    assert note.startswith(f'header stamps of {CAMERA} sit -1.7e+09 s from receive times: one '
                           "clock (a sim's)")
    assert 'another clock' not in format_bag(summary)
    assert inspect([str(tmp_path / 'bag'), '--no-progress']) == 0
    assert 'another clock' not in capsys.readouterr().out


def test_a_second_stream_stamped_on_the_wall_clock_is_still_a_mismatch(tmp_path):
    """The joints stamped on the recorder's clock beside the sim-stamped camera: two clocks,
    which cannot be aligned; the camera is named, on receive-time rates, and no note."""
    _lone_stamped_bag(tmp_path / 'bag', joints_stamped_on_wall=True)
    summary = summarize_bag(tmp_path / 'bag')
    topics = {t.topic: t for t in summary.topics}
    assert summary.notes == []
    assert topics[JOINTS].problems == []
    (clock,) = topics[CAMERA].problems
    assert 'another clock' in clock
    assert topics[CAMERA].rate_hz == pytest.approx(25.0)


def test_a_bag_of_one_stream_on_a_sim_clock_has_no_clock_mismatch(tmp_path):
    """The sim camera alone in its bag: nothing to mismatch either; on its stamps, named."""
    with BagRecorder(tmp_path / 'bag') as rec:
        for k in range(STEPS):
            rec.write(CAMERA, 'sensor_msgs/msg/Image', T0 + k * WALL_PERIOD,
                      image_message(rec.typestore, np.zeros((4, 4, 3), np.uint8),
                                    (k + 1) * SIM_PERIOD))
    summary = summarize_bag(tmp_path / 'bag')
    (camera,) = summary.topics
    assert camera.problems == [] and camera.rate_hz == pytest.approx(10.0)
    (note,) = summary.notes
    assert note.startswith(f'header stamps of {CAMERA} sit -1.7e+09 s from receive times')


def test_the_draft_names_how_many_joints_a_float_array_takes(tmp_path):
    """A Float64MultiArray carries no names: the draft asks for as many as its values."""
    _lone_stamped_bag(tmp_path / 'bag')
    summary = summarize_bag(tmp_path / 'bag')
    assert {t.topic: t.width for t in summary.topics}[COMMANDS] == 1
    assert inspect([str(tmp_path / 'bag'), '--no-progress', '--draft-config',
                    str(tmp_path / 'draft.yaml')]) == 0
    draft = (tmp_path / 'draft.yaml').read_text()
    assert (f'#   - {{float_array: "{COMMANDS}", joints: [FILL IN: 1 name(s), one per value in '
            'order], tolerance: 3600}') in draft, draft
