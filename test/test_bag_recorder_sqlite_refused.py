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

from support import checkout_env

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
