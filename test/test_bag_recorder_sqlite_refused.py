"""A sqlite3 bag the machine refuses to write is an OSError naming the bag, as an mcap one's is.

sqlite3 says a full disk as sqlite3.OperationalError ('database or disk is full'; 'disk I/O
error' past a file-size limit), which record_demo's callback, catching OSError for its one-line
'cannot write <bag>', did not catch: a traceback and a cut-off bag. A real write in a child
whose files are capped at 64 KiB (RLIMIT_FSIZE, as test_record_demo_full_disk does).
"""
from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap

import pytest
from support import checkout_env

from dp_ros.bags.recorder import BagRecorder, string_message

WRITER = textwrap.dedent('''
    import json, resource, sys
    import numpy as np
    from dp_ros.bags.recorder import BagRecorder, image_message
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    rec = BagRecorder(sys.argv[1], storage='sqlite3')
    frame = np.zeros((96, 96, 3), np.uint8)
    try:
        for n in range(1000):  # 27 kB a frame: sqlite's page cache spills past 64 KiB soon
            t = 10**18 + n * 10**7
            rec.write('/cam', 'sensor_msgs/msg/Image', t, image_message(rec.typestore, frame, t))
    except Exception as exc:
        print(json.dumps([type(exc).__name__, exc.errno, exc.filename, exc.strerror, n]))
''')


def test_a_full_sqlite3_bag_is_an_oserror_naming_the_bag(tmp_path):
    bag = tmp_path / 'bag'
    proc = subprocess.run([sys.executable, '-c', WRITER, str(bag)], env=checkout_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout, proc.stderr[-3000:]
    name, code, filename, strerror, n = json.loads(proc.stdout)
    assert (name, code, filename) == ('OSError', errno.EIO, str(bag)), proc.stdout
    assert strerror.startswith('disk I/O error (SQLITE_IOERR'), strerror
    assert 0 < n < 1000


def test_a_topic_refused_at_its_first_message_is_an_oserror_naming_the_bag(tmp_path):
    """sqlite3 inserts a topic's rows at its first message (add_topic): a refusal there (the
    disk filled since the last topic) is the same OSError. The recorder's connection made
    query-only stands in for the full disk (root may write anywhere, a cap lets the journal
    write)."""
    bag = BagRecorder(tmp_path / 'bag', storage='sqlite3')
    bag.write('/a', 'std_msgs/msg/String', 1, string_message(bag.typestore, 'kept'))
    bag._db.execute('PRAGMA query_only = 1')
    with pytest.raises(OSError) as refused:
        bag.write('/b', 'std_msgs/msg/String', 2, string_message(bag.typestore, 'refused'))
    assert (refused.value.errno, refused.value.filename) == (errno.EROFS, str(bag.path))
    assert 'SQLITE_READONLY' in refused.value.strerror
