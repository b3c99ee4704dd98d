"""Review tests of sim_bridge/record_demo.py's checks that run before any ROS node starts."""
from __future__ import annotations

import signal

import pytest

from sim_bridge import record_demo


def test_message_class_resolves_a_ros_type_name():
    """'pkg/msg/Name' -> the rclpy class of that message."""
    from std_msgs.msg import String

    assert record_demo.message_class('std_msgs/msg/String') is String


def test_a_relative_topic_is_refused_and_no_bag_is_made(tmp_path, capsys):
    """--topics needs absolute names: exit 2 naming them, before the bag is created."""
    out = tmp_path / 'bag'
    assert record_demo.main(['-o', str(out), '--topics', '/pusht/image_raw', 'joint_states',
                             '--duration', '0.5']) == 2
    assert "topics must be absolute names, got ['joint_states']" in capsys.readouterr().err
    assert not out.exists()


def test_an_existing_output_is_not_overwritten(tmp_path, capsys):
    """-o naming an existing path: exit 2, the path left as it was."""
    out = tmp_path / 'bag'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    assert record_demo.main(['-o', str(out), '--duration', '0.5']) == 2
    assert 'exists already; not overwriting' in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ['keep.txt']


def test_a_negative_result_count_is_refused(tmp_path, capsys):
    """--stop-after-results counts episodes: a negative count is an error (exit 2, no bag),
    not an immediate stop."""
    out = tmp_path / 'bag'
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = record_demo.main(['-o', str(out), '--stop-after-results', '-1',
                                 '--duration', '3'])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 2 and not out.exists()


@pytest.mark.parametrize('duration', ['-3', 'nan', 'inf'])
def test_a_duration_that_is_no_limit_by_accident_is_refused(tmp_path, capsys, duration):
    """--duration: seconds >= 0 (0: until Ctrl-C); -3 was read as no limit, nan likewise."""
    out = tmp_path / 'bag'
    assert record_demo.main(['-o', str(out), '--duration', duration]) == 2
    assert '--duration a finite number >= 0' in capsys.readouterr().err and not out.exists()
