"""`dp-ros inspect` on a lockstep bag, as the sim records one: every stream stamped on the
sim's clock (10 Hz steps), received on the recorder's wall clock at whatever pace the
lockstep loop ran (here 25 steps a wall second). bag2zarr aligns such streams on their
stamps, so the rates that matter are on the stamp clock, and sim time shared by all the
stamped streams is no clock mismatch. Pinned: stamp-clock rates and gaps, no 'another
clock' warning, a note naming the shared clock; streams on two clocks are still named."""
from __future__ import annotations

import numpy as np
import pytest
from bag_support import MS, NS, T0

from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    trajectory_message,
)
from training.inspect_bags import format_bag, summarize_bag
from training.inspect_dataset import main as inspect

SIM_PERIOD = 100 * MS  # one sim step
T0_PERIOD = 40 * MS  # how long a lockstep step took on the wall clock
STEPS = 40


def _lockstep_bag(path, joints_on_wall: bool = False) -> None:
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for k in range(STEPS):
            sim = (k + 1) * SIM_PERIOD
            recv = T0 + k * T0_PERIOD
            if k != 20:  # one camera frame lost: a two-step gap on the sim clock
                rec.write('/pusht/image_raw', 'sensor_msgs/msg/Image', recv + MS,
                          image_message(ts, np.full((4, 4, 3), k, np.uint8), sim))
            rec.write('/pusht/joint_states', 'sensor_msgs/msg/JointState', recv + 2 * MS,
                      joint_state_message(ts, ['agent_x', 'agent_y'], np.array([k, 1.0]),
                                          recv if joints_on_wall else sim))
            rec.write('/pusht/joint_trajectory', 'trajectory_msgs/msg/JointTrajectory',
                      recv + 10 * MS, trajectory_message(ts, ['agent_x', 'agent_y'],
                                                         np.full((1, 2), k / 10), sim,
                                                         SIM_PERIOD))


def test_a_lockstep_bag_reports_stamp_clock_rates_and_no_clock_mismatch(tmp_path, capsys):
    _lockstep_bag(tmp_path / 'bag')
    summary = summarize_bag(tmp_path / 'bag')
    topics = {t.topic: t for t in summary.topics}
    for topic in topics.values():
        assert topic.rate_hz == pytest.approx(10.0), topic.topic
        assert topic.problems == [], topic.topic
        assert topic.stamp_offset_s == pytest.approx(-T0 / NS, abs=10)
    assert topics['/pusht/image_raw'].max_gap_s == pytest.approx(0.2)  # the lost frame
    assert topics['/pusht/joint_states'].max_gap_s == pytest.approx(0.1)
    (note,) = summary.notes
    assert note.startswith('header stamps of /pusht/image_raw, /pusht/joint_states, '
                           '/pusht/joint_trajectory sit -1.7e+09 s from receive times: one '
                           'clock (a sim\'s)')
    assert 'another clock' not in format_bag(summary)
    assert inspect([str(tmp_path / 'bag'), '--no-progress']) == 0
    assert 'another clock' not in capsys.readouterr().out


def test_streams_on_two_clocks_are_still_named(tmp_path):
    """The joints stamped on the wall clock beside sim-stamped camera and commands: those
    cannot be aligned, so the sim-stamped streams get the warning, on receive-time rates."""
    _lockstep_bag(tmp_path / 'bag', joints_on_wall=True)
    summary = summarize_bag(tmp_path / 'bag')
    topics = {t.topic: t for t in summary.topics}
    assert summary.notes == []
    assert topics['/pusht/joint_states'].problems == []
    for name in ('/pusht/image_raw', '/pusht/joint_trajectory'):
        (clock,) = topics[name].problems
        assert 'another clock' in clock
        assert topics[name].rate_hz == pytest.approx(25.0)
