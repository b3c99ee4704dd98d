"""A sqlite3 bag cut off with its last messages in the write-ahead log: `ros2 bag record -s
sqlite3 --storage-preset-profile resilient` writes in WAL mode, and a recorder killed before
a checkpoint leaves them in `<bag>.db3-wal` beside the .db3 (sqlite3 itself reads them;
rosbags, opening the .db3 immutable, does not). Pinned: bag2zarr converts them and inspect
counts them, read from a private copy (dp_ros/bags/storage.py) with a note; the user's files
are never written; where no copy can be made the bag is refused naming the -wal file.
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from bag_support import CAMERA_JOINTS_CONFIG as CONFIG
from bag_support import MS, T0

from dp_ros.bags import storage
from dp_ros.bags.reader import BagError
from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.inspect_bags import summarize_bag

FRAMES = 30  # 10 Hz camera, 3 s
COMMITTED = 10  # the first second checkpointed into the .db3, the rest in the -wal


def _rows(ts, frames):
    rows = []
    for i in frames:
        t = T0 + i * 100 * MS
        rows.append(('/cam/image_raw', t + MS, image_message(ts, np.full((4, 4, 3), i, np.uint8),
                                                             t), 'sensor_msgs/msg/Image'))
        for k in range(10):
            tj = t + k * 10 * MS
            rows.append(('/joint_states', tj + MS, joint_state_message(ts, ['j1'],
                                                                       [i + k / 10], tj),
                         'sensor_msgs/msg/JointState'))
    return rows


@pytest.fixture
def wal_bag(tmp_path):
    bag = tmp_path / 'demo'
    with BagRecorder(bag, storage='sqlite3') as rec:
        for topic, recv, msg, msgtype in _rows(rec.typestore, range(COMMITTED)):
            rec.write(topic, msgtype, recv, msg)
        ts = rec.typestore
    (db,) = bag.glob('*.db3')
    later = tmp_path / 'later.npy'
    rows = [(t, r, bytes(ts.serialize_cdr(m, ty))) for t, r, m, ty in
            _rows(ts, range(COMMITTED, FRAMES))]
    np.save(later, np.array(rows, dtype=object), allow_pickle=True)
    # the recorder's process: WAL mode, its inserts committed, killed before a checkpoint
    script = textwrap.dedent(f"""
        import os, sqlite3, numpy as np
        rows = np.load({str(later)!r}, allow_pickle=True)
        con = sqlite3.connect({str(db)!r})
        con.execute('PRAGMA journal_mode=WAL')
        con.execute('PRAGMA wal_autocheckpoint=0')
        ids = dict(con.execute('SELECT name, id FROM topics').fetchall())
        con.executemany('INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)',
                        [(ids[t], int(r), d) for t, r, d in rows])
        con.commit()
        os._exit(0)
    """)
    subprocess.run([sys.executable, '-c', script], check=True, timeout=60)
    assert db.with_name(db.name + '-wal').stat().st_size > 0
    con = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    assert con.execute('SELECT count(*) FROM messages').fetchone()[0] == FRAMES * 11
    con.close()
    return bag


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_messages_in_the_wal_file_are_converted(wal_bag, tmp_path):
    """The 2 s of a demonstration that sit in the -wal file are converted, the report says
    so, and the bag's files stay as they were (no -shm made, no checkpoint run)."""
    before = _files(wal_bag)
    summary = bag2zarr.convert([wal_bag], config_from_dict(CONFIG), tmp_path / 'out.zarr',
                               progress=False)
    assert summary.total_steps == FRAMES, (
        f'{summary.total_steps} steps converted of the {FRAMES} frames the bag holds')
    (report,) = summary.bags
    assert any(f'demo.db3-wal: {(FRAMES - COMMITTED) * 11} message(s) not yet checkpointed'
               in note for note in report.notes), report.notes
    assert _files(wal_bag) == before


def test_inspect_counts_the_messages_in_the_wal_file(wal_bag):
    """inspect's counts and duration are the bag's with its WAL, not metadata.yaml's."""
    summary = summarize_bag(wal_bag)
    assert {t.topic: t.count for t in summary.topics} == {'/cam/image_raw': FRAMES,
                                                          '/joint_states': FRAMES * 10}
    assert summary.duration_s == pytest.approx(2.99, abs=0.01)
    assert any('-wal' in note for note in summary.notes)


def test_a_bare_db3_with_its_wal_file_converts(wal_bag, tmp_path):
    """A .db3 copied out of its bag directory together with its -wal: the same messages."""
    bare = tmp_path / 'bare'
    bare.mkdir()
    for name in ('demo.db3', 'demo.db3-wal'):
        shutil.copyfile(wal_bag / name, bare / name)
    summary = bag2zarr.convert([bare / 'demo.db3'], config_from_dict(CONFIG),
                               tmp_path / 'out.zarr', progress=False)
    assert summary.total_steps == FRAMES


def test_a_wal_file_that_cannot_be_read_refuses_the_bag_naming_it(wal_bag, tmp_path,
                                                                  monkeypatch):
    """No room for the private copy: refused in one line naming the -wal file, not
    converted without its messages."""
    def full(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(storage.shutil, 'copyfile', full)
    with pytest.raises(BagError, match=r'demo\.db3-wal holds messages not yet checkpointed'):
        bag2zarr.convert([wal_bag], config_from_dict(CONFIG), tmp_path / 'out.zarr',
                         progress=False)
    assert not (tmp_path / 'out.zarr').exists()
