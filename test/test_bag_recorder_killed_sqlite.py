"""A sqlite3 recording killed outright (SIGKILL, the OOM killer): rosbags keeps one
transaction open until close(), so a review's `record_demo --storage sqlite3` killed after
5 s left a bag with no message ('the bag holds no message'). BagRecorder commits every
second (COMMIT_EVERY_S), so only the last second is lost; and the reader, finding the hot
rollback journal `<bag>.db3-journal` beside the .db3, reads a private copy rolled back by
sqlite3 and notes that the recorder was killed and its last messages are lost. Real
processes, real files: the recorder runs in a child that is SIGKILLed, where it stopped
itself (SIGSTOP) once it wrote for the time asked, having said how many it wrote: that count
is exact however late the parent reads it (read while the child ran on, it was behind)."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from support import checkout_env, wait_until_stopped

from dp_ros.bags.reader import open_bag

# writes joint states with 128x128 camera frames (sqlite3's page cache spills them into the
# .db3 before a commit, as a camera's do: the journal is hot) for `seconds`, then says how
# many it wrote and stops itself (SIGSTOP: mid-transaction, as a recorder killed while it
# writes); `raw`: through rosbags' Writer alone (what BagRecorder did before: nothing
# committed until close())
RECORDER = textwrap.dedent('''
    import os, signal, sys, time
    import numpy as np
    from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
    bag, raw, seconds = sys.argv[1], sys.argv[2] == 'raw', float(sys.argv[3])
    rec = BagRecorder(bag, storage='sqlite3')
    if raw:
        rec._db = None
    ts = rec.typestore
    frame = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    n = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        t = 10**18 + n * 10**7
        rec.write('/joint_states', 'sensor_msgs/msg/JointState', t,
                  joint_state_message(ts, ['j1'], [n * 0.01], t))
        rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', t, image_message(ts, frame, t))
        n += 2
        time.sleep(0.005)
    print(n, flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
    time.sleep(60)  # (killed while stopped; a hang guard if it is let go on)
''')


def _record_and_kill(tmp_path, how: str, seconds: float) -> tuple[int, int]:
    """(messages written when the recorder was SIGKILLed, messages the reader then reads),
    the recorder killed once it wrote for `seconds` (stopped by itself then: it writes no
    more than it said)."""
    bag = tmp_path / 'demo'
    proc = subprocess.Popen([sys.executable, '-c', RECORDER, str(bag), how, str(seconds)],
                            env=checkout_env(), stdout=subprocess.PIPE, text=True)
    try:
        wait_until_stopped(proc, 120, lambda rc: f'the recorder ended (rc {rc}) before it '
                           'was killed', 'the recorder never stopped itself')
        written = proc.stdout.readline()  # said before it stopped: in the pipe
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    with open_bag(bag / 'demo.db3') as read:  # no metadata.yaml: killed before it
        got = sum(1 for _ in read.messages(['/joint_states', '/cam/image_raw'], progress=False,
                                           deserialized=()))
        notes = list(read.notes)
    journal = bag / 'demo.db3-journal'
    if journal.exists():  # killed mid-transaction (nearly always: one is open but for a commit)
        assert any('demo.db3-journal: the recorder of demo.db3 was killed mid-write: its last '
                   'uncommitted messages are lost' in n for n in notes), notes
    return int(written), got


def test_a_killed_sqlite3_recording_keeps_what_it_committed(tmp_path):
    """Killed after 2.5 s of writing: at most the last second's messages (about 1.2 s at
    this rate, with the load of a test run) are lost, and none more is read than it wrote."""
    written, got = _record_and_kill(tmp_path, 'recorder', 2.5)
    assert 0 < got <= written
    assert got >= written * 0.2, (got, written)


def test_the_reader_says_a_killed_recorder_lost_its_uncommitted_messages(tmp_path):
    """A bag killed with its one transaction open (rosbags alone; BagRecorder before): none
    of its messages were committed, and the note says why the bag is empty."""
    written, got = _record_and_kill(tmp_path, 'raw', 1.0)
    assert written > 0 and got == 0
    assert (tmp_path / 'demo' / 'demo.db3-journal').exists()


