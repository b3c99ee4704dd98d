"""sim_bridge.record_demo and a topic whose message type the recording machine lacks: said
once, not recorded, and the other topics recorded as ever (as `ros2 bag record` does).

A real record_demo process whose interpreter cannot import nav_msgs (the package blocked in
sys.modules before the recorder starts: a machine without it), real publishers of a probe
node, a real mcap bag read back.
"""
from __future__ import annotations

import sys

import pytest
from nav_msgs.msg import Odometry
from ros_harness import LATCHED, RELIABLE
from std_msgs.msg import String

from dp_ros.bags.reader import open_bag

pytestmark = pytest.mark.ros

NS = '/rec_unknown'
ODOM, NOTE, RESULT = f'{NS}/odom', f'{NS}/note', f'{NS}/episode_result'

# record_demo's main, in an interpreter where `import nav_msgs.msg` fails (ImportError)
WITHOUT_NAV_MSGS = ("import sys; sys.modules['nav_msgs'] = sys.modules['nav_msgs.msg'] = None; "
                    "from sim_bridge.record_demo import main; sys.exit(main(sys.argv[1:]))")


def test_a_topic_of_a_type_this_machine_lacks_is_said_once_and_the_rest_recorded(
        tmp_path, ros_probe, ros_processes):
    odom = ros_probe.publisher(Odometry, ODOM, RELIABLE)
    note = ros_probe.publisher(String, NOTE, RELIABLE)
    result = ros_probe.publisher(String, RESULT, LATCHED)
    bag = tmp_path / 'bag'
    rec = ros_processes.start('record', [
        sys.executable, '-c', WITHOUT_NAV_MSGS, '-o', str(bag), '--namespace', NS,
        '--topics', ODOM, NOTE, RESULT, '--stop-after-results', '1'])
    rec.wait_for_log('ready:', 60)
    ros_probe.wait_for_subscribers(note, 1, 30)
    ros_probe.wait_for_subscribers(result, 1, 30)
    for i in range(5):  # odometry all along: the recorder goes on seeing its publisher
        odom.publish(Odometry())
        note.publish(String(data=f'note {i}'))
    result.publish(String(data='{}'))
    assert rec.popen.wait(60) == 0, rec.log()[-3000:]
    log = rec.log()
    said = (f'record_demo: {ODOM} is of type nav_msgs/msg/Odometry, which this machine '
            'cannot load')
    assert log.count(said) == 1, log[-3000:]
    assert 'not recorded (install its message package)' in log
    assert 'ready: recording 2 topics' in log, log[-3000:]  # it did not wait for odom
    assert 'never saw a publisher' not in log, log[-3000:]  # it saw one: of a type it lacks
    assert f'recording {ODOM}' not in log, log[-3000:]
    with open_bag(bag) as b:
        assert set(b.topics) == {NOTE, RESULT}, list(b.topics)
        notes = [m.data for _, _, m in b.messages([NOTE], progress=False)]
    assert notes == [f'note {i}' for i in range(5)], notes
