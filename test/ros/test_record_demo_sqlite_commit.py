"""`record_demo --storage sqlite3` commits a burst that silence follows.

BagRecorder committed a sqlite3 bag only inside write() (every COMMIT_EVERY_S): the messages of
a burst that no message followed (an episode's last ones, a topic that stopped) stayed in the
open transaction until the next message or close(), and a recorder killed then (SIGKILL, the
OOM killer) lost them. The spin loop now commits them once COMMIT_EVERY_S has passed. Real
processes: record_demo in a child, a probe publisher, the .db3 read by a second connection
(which sees committed rows only), then the child SIGKILLed and its bag read back.
"""
from __future__ import annotations

import contextlib
import sqlite3
import subprocess

import pytest
from ros_harness import RELIABLE
from std_msgs.msg import String
from support import checkout_env, module_cmd

from dp_ros.bags.reader import open_bag

pytestmark = pytest.mark.ros

TOPIC = '/rec_burst/chatter'
BURST = 5


def committed(db) -> int:
    """Rows a second connection sees in the recorder's .db3 (-1 while it cannot read it)."""
    try:
        with contextlib.closing(sqlite3.connect(f'file:{db}?mode=ro', uri=True,
                                                timeout=0.1)) as conn:
            return int(conn.execute('SELECT count(*) FROM messages').fetchone()[0])
    except sqlite3.Error:
        return -1


def test_a_killed_recorder_keeps_a_burst_that_silence_followed(tmp_path, ros_probe):
    pub = ros_probe.publisher(String, TOPIC, RELIABLE)
    bag = tmp_path / 'bag'
    proc = subprocess.Popen(module_cmd('sim_bridge.record_demo', '-o', str(bag), '--storage',
                                       'sqlite3', '--topics', TOPIC),
                            env=checkout_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        while not (line := proc.stdout.readline()).startswith('ready:'):
            assert line, 'record_demo ended before it was ready'
        ros_probe.wait_for_subscribers(pub)
        for i in range(BURST):
            pub.publish(String(data=str(i)))
        ros_probe.wait_for(lambda: committed(bag / 'bag.db3') == BURST, 30,
                           f'the {BURST} messages committed with none after them')
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    with open_bag(bag / 'bag.db3') as read:
        got = [m.data for _, _, m in read.messages([TOPIC], progress=False)]
    assert got == [str(i) for i in range(BURST)]
