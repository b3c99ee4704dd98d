"""dp_ros/bags/recorder.py and dp_ros/bags/storage.py where a mutation review found changes no
other test noticed. Recorder: the errno of a sqlite3 bag that cannot be made, on a full disk,
moved away while recording or refusing a too-big message; the serializer code made when a
topic is registered; when a sqlite3 bag commits (what a recorder killed at that moment
leaves) and the spin loop's commit after close. Storage: a killed recorder's hot journal
and an empty one, a WAL folded in and the metadata recounted, a split recording's span, its
topics, its lost first file and mixed storages, a `.mcap` dotfile, an .mcap of its start
magic alone. And two defects it found: a sqlite3 bag whose disk filled mid-recording got a
metadata.yaml counting messages sqlite3 rolled back, and a message-compressed sqlite3
recording killed outright held committed messages no reader could decode.

Real bags, the project's writer; read back by the project's reader, by sqlite3 itself (what
a kill leaves on disk) and by rosbags. A full disk is the recorder's own connection capped
(`PRAGMA max_page_count`: sqlite3's SQLITE_FULL, exactly what a full disk gives; root
writes anywhere), as test_bag_recorder_sqlite_refused.py makes a refused write.
"""
from __future__ import annotations

import errno
import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from support import checkout_env
from test_bag_recorder_edges import metadata

from dp_ros.bags import recorder as recorder_module
from dp_ros.bags.reader import BagReadError, find_bags, open_bag
from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    string_message,
)
from dp_ros.bags.storage import MCAP_MAGIC, cut_off_mcaps
from dp_ros.bags.typestore import default_typestore

JS = 'sensor_msgs/msg/JointState'
STRING = 'std_msgs/msg/String'
T0 = 10**18
COMMIT_EVERY_MESSAGES = 1000  # recorder.COMMIT_EVERY_MESSAGES, as the review pinned it


def write_joint_states(rec: BagRecorder, first: int, n: int) -> None:
    """Joint states number first .. first + n - 1 on /js, received (and stamped) 1 ms apart;
    position i for number i."""
    for i in range(first, first + n):
        t = T0 + i * 10**6
        rec.write('/js', JS, t, joint_state_message(rec.typestore, ['j1'], [float(i)], t))


def committed_rows(bag, into) -> int:
    """The messages a recorder killed now leaves in its .db3: the bag's files copied as they
    are (a rollback journal too), the copy opened by sqlite3, which rolls an uncommitted
    transaction back as the next reader of a killed bag does."""
    copy = into / f'{bag.name}_killed_{len(list(into.glob("*_killed_*")))}'
    shutil.copytree(bag, copy)
    (db,) = copy.glob('*.db3')
    con = sqlite3.connect(db)
    try:
        return con.execute('SELECT count(*) FROM messages').fetchone()[0]
    finally:
        con.close()


def fill_the_disk(rec: BagRecorder, pages: int = 3) -> None:
    """The recorder's .db3 may grow by `pages` pages more: then a write is SQLITE_FULL."""
    now = rec._db.execute('PRAGMA page_count').fetchone()[0]
    rec._db.execute(f'PRAGMA max_page_count = {now + pages}')


# --------------------------------------------------------------------- refused writes
# opens a sqlite3 bag with the files it may write capped at 1 kB: sqlite3 cannot make the
# .db3 (its schema is written at open); says what the open raised
OPEN_CAPPED = textwrap.dedent('''
    import json, resource, sys
    from dp_ros.bags.recorder import BagRecorder
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
    try:
        BagRecorder(sys.argv[1], storage='sqlite3')
    except Exception as exc:
        print(json.dumps([type(exc).__name__, getattr(exc, 'errno', None),
                          getattr(exc, 'filename', None), str(exc)]))
''')


def test_a_sqlite3_bag_that_cannot_be_made_is_an_oserror_naming_the_bag(tmp_path):
    """A .db3 sqlite3 cannot write at open (its schema: the disk full or a file-size cap)
    is an OSError naming the bag, which arm-record's one-line 'cannot write' catches; not a
    sqlite3.OperationalError traceback. A real open in a child whose files are capped."""
    bag = tmp_path / 'bag'
    proc = subprocess.run([sys.executable, '-c', OPEN_CAPPED, str(bag)], env=checkout_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout, proc.stderr[-3000:]
    name, code, filename, text = json.loads(proc.stdout)
    assert (name, code, filename) == ('OSError', errno.EIO, str(bag)), text
    assert text.endswith(f'disk I/O error (SQLITE_IOERR_WRITE): {str(bag)!r}'), text


def test_a_full_disk_under_a_sqlite3_bag_is_enospc_naming_the_bag(tmp_path):
    """sqlite3's SQLITE_FULL ('database or disk is full') is ENOSPC naming the bag: the
    errno the recorder's one-line 'no space left' error and its callers key on, as an
    mcap bag's full disk is; not a generic I/O error."""
    rec = BagRecorder(tmp_path / 'bag', storage='sqlite3')
    rec.add_topic('/js', JS)
    fill_the_disk(rec)
    with pytest.raises(OSError) as full:
        write_joint_states(rec, 0, 5000)
    assert (full.value.errno, full.value.filename) == (errno.ENOSPC, str(tmp_path / 'bag'))
    assert full.value.strerror.startswith('database or disk is full (SQLITE_FULL)')
    assert isinstance(full.value.__cause__, sqlite3.OperationalError)


def test_a_sqlite3_bag_moved_away_while_recording_is_a_refused_write_naming_it(tmp_path):
    """sqlite3 refuses to write a .db3 moved (or deleted) since it was opened with an
    extended code, SQLITE_READONLY_DBMOVED ('attempt to write a readonly database'): said as
    the file gone (ENOENT, a FileNotFoundError) naming the bag and the code; not an
    unexplained EIO, nor the read-only file system (EROFS) the disk was not."""
    bag = tmp_path / 'bag'
    rec = BagRecorder(bag, storage='sqlite3')
    rec.write('/s', STRING, 1, string_message(rec.typestore, 'kept'))
    rec._commit()
    bag.rename(tmp_path / 'moved')
    with pytest.raises(FileNotFoundError) as moved:
        rec.write('/s', STRING, 2, string_message(rec.typestore, 'refused'))
        rec._commit()
    assert (moved.value.errno, moved.value.filename) == (errno.ENOENT, str(bag))
    assert moved.value.strerror == ('its .db3 file was moved or deleted while the bag was '
                                    'open (SQLITE_READONLY_DBMOVED)')


def test_a_message_sqlite3_refuses_as_too_big_is_an_oserror_naming_the_bag(tmp_path):
    """Not only sqlite3's OperationalError: a message over sqlite3's length limit
    (SQLITE_TOOBIG, a sqlite3.DataError; the connection's limit lowered to stand in for a
    frame over 1 GB) is the same OSError naming the bag, which a recorder catching OSError
    reports in one line; the bag keeps what came before."""
    bag = tmp_path / 'bag'
    with BagRecorder(bag, storage='sqlite3') as rec:
        rec.write('/s', STRING, 1, string_message(rec.typestore, 'kept'))
        rec._db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)
        with pytest.raises(OSError) as big:
            rec.write('/s', STRING, 2, string_message(rec.typestore, 'x' * 2000))
    assert (big.value.errno, big.value.filename) == (errno.EIO, str(bag))
    assert big.value.strerror == 'string or blob too big (SQLITE_TOOBIG)'
    assert rec.counts == {'/s': 1}
    with open_bag(bag) as b:
        assert [m.data for _, _, m in b.messages(['/s'], progress=False)] == ['kept']


# --------------------------------------------------------------------- finding bags
def test_a_file_named_only_by_a_storage_suffix_is_no_bag(tmp_path):
    """A dotfile named `.mcap` (or `.db3`) beside a bag has no name before its suffix: it is
    no storage file (storage_kind None), so a folder search finds the bag alone and not a
    second, unreadable one."""
    bag = tmp_path / 'session' / 'rec'
    with BagRecorder(bag) as rec:
        rec.write('/s', STRING, 1, string_message(rec.typestore, 'a'))
    for name in ('.mcap', '.db3', '.mcap.zstd'):
        (tmp_path / 'session' / name).write_bytes(b'')
    assert find_bags([tmp_path / 'session']) == [bag.resolve()]


# --------------------------------------------------------------------- split recordings
def split_recording(tmp_path, parts: list[tuple[str, list[int]]], topic: str = '/s'):
    """demo/demo_<n>.<suffix> without metadata.yaml, part n a bag of its storage ('mcap' or
    'sqlite3') holding strings received at its times (ns after T0), each saying its time:
    on `topic` in the first part, on /s in the others."""
    demo = tmp_path / 'bags' / 'demo'
    demo.mkdir(parents=True)
    for n, (storage, times) in enumerate(parts):
        with BagRecorder(tmp_path / f'part{n}', storage=storage) as rec:
            for t in times:
                rec.write(topic if n == 0 else '/s', STRING, T0 + t,
                          string_message(rec.typestore, str(t)))
        (file,) = [f for f in (tmp_path / f'part{n}').iterdir() if f.suffix in ('.mcap', '.db3')]
        shutil.move(file, demo / f'demo_{n}{file.suffix}')
    return demo


def test_a_split_recording_spans_its_earliest_to_its_latest_message(tmp_path):
    """A split recording whose second file holds earlier receive times than its first (a
    sim clock reset mid-recording, `ros2 bag record --use-sim-time`): the bag starts at the
    earliest message of any file and ends at the latest, not at its first file's start
    and its last file's end; read in file order."""
    demo = split_recording(tmp_path, [('mcap', [500, 900]), ('mcap', [100, 300])])
    with open_bag(demo) as b:
        # rosbags' end_time: one past the last message
        assert (b.start_ns, b.end_ns) == (T0 + 100, T0 + 901)
        assert [m.data for _, _, m in b.messages(['/s'], progress=False)] == [
            '500', '900', '100', '300']


def test_a_topic_only_in_a_split_recordings_first_file_reads_only_its_messages(tmp_path):
    """Reading /a, which only the first file holds, reads its messages alone: the second
    file, with none of /a's connections, is asked for nothing (rosbags reads an empty list
    of connections as all of them)."""
    demo = split_recording(tmp_path, [('mcap', [1, 2]), ('mcap', [3, 4])], topic='/a')
    with open_bag(demo) as b:
        assert [(t, m.data) for t, _, m in b.messages(['/a'], progress=False)] == [
            ('/a', '1'), ('/a', '2')]


def test_a_split_recordings_lost_first_file_is_named_in_its_note(tmp_path):
    """demo_1.mcap and demo_2.mcap without demo_0.mcap (the first file lost or deleted): the
    note names demo_0.mcap as missing, its time a gap, as it names any other lost part."""
    demo = split_recording(tmp_path, [('mcap', [1]), ('mcap', [2])])
    (demo / 'demo_1.mcap').rename(demo / 'demo_2.mcap')
    (demo / 'demo_0.mcap').rename(demo / 'demo_1.mcap')
    with open_bag(demo) as b:
        assert b.notes == ['2 files demo_1.mcap .. demo_2.mcap without metadata.yaml (a split '
                           'recording whose recorder was stopped before writing it): read as '
                           'one bag, in index order; demo_0.mcap missing: its time is a gap']


def test_a_split_recording_with_its_metadata_is_read_as_rosbag2_wrote_it(tmp_path):
    """demo/demo_0.mcap, demo_1.mcap with the metadata.yaml listing both (a split recording
    whose recorder finished): a bag directory rosbags reads through metadata.yaml, with no
    note of a lost metadata.yaml."""
    demo = split_recording(tmp_path, [('mcap', [1, 2]), ('mcap', [3])])
    info = metadata(tmp_path / 'part0')
    info['relative_file_paths'] = ['demo_0.mcap', 'demo_1.mcap']
    info['files'] = []
    info['message_count'] = info['topics_with_message_count'][0]['message_count'] = 3
    info['duration']['nanoseconds'] = 2
    (demo / 'metadata.yaml').write_text(yaml.safe_dump({'rosbag2_bagfile_information': info}))
    with open_bag(demo) as b:
        assert b.notes == []
        assert [m.data for _, _, m in b.messages(['/s'], progress=False)] == ['1', '2', '3']


def test_files_of_both_storages_are_no_split_recording(tmp_path):
    """demo_0.mcap beside demo_1.db3 (no metadata.yaml) are not one recording's parts (a
    recorder writes one storage): each is a bag of its own, as any bare storage file is."""
    demo = split_recording(tmp_path, [('mcap', [1]), ('sqlite3', [2])])
    assert find_bags([tmp_path / 'bags']) == [demo / 'demo_0.mcap', demo / 'demo_1.db3']


# --------------------------------------------------------------------- registering a topic
def test_registering_a_topic_makes_its_serializer_code_then(tmp_path):
    """add_topic makes the (de)serializer code of the topic's type and of every type in it
    (prepare_type, Ctrl-C held back), not the first write: a Ctrl-C that came while rosbags
    exec()s that code mid-recording ended arm-record by SIGINT, not its own exit code
    (dp_ros/bags/typestore.py)."""
    store = default_typestore()
    with BagRecorder(tmp_path / 'bag', typestore=store) as rec:
        assert sorted(store.cache) == []
        rec.add_topic('/js', JS)
        assert sorted(store.cache) == ['builtin_interfaces/msg/Time', JS, 'std_msgs/msg/Header']


# --------------------------------------------------------------------- commits
def test_a_sqlite3_bag_commits_each_thousand_messages_and_no_sooner(tmp_path, monkeypatch):
    """Without the time-based commit (COMMIT_EVERY_S out of reach), a sqlite3 bag commits at
    its COMMIT_EVERY_MESSAGES-th message exactly and starts counting again: a recorder
    killed just before keeps nothing, just after all of them, one message later still those
    (the bound on what a kill loses)."""
    monkeypatch.setattr(recorder_module, 'COMMIT_EVERY_S', 3600.0)
    bag = tmp_path / 'bag'
    kills = tmp_path / 'kills'
    kills.mkdir()
    with BagRecorder(bag, storage='sqlite3') as rec:
        write_joint_states(rec, 0, COMMIT_EVERY_MESSAGES - 1)
        before = committed_rows(bag, kills)
        write_joint_states(rec, COMMIT_EVERY_MESSAGES - 1, 1)
        at = committed_rows(bag, kills)
        write_joint_states(rec, COMMIT_EVERY_MESSAGES, 1)
        after = committed_rows(bag, kills)
    assert (recorder_module.COMMIT_EVERY_MESSAGES, before, at, after) == (1000, 0, 1000, 1000)
    assert rec.counts == {'/js': 1001}
    with open_bag(bag) as b:
        assert sum(1 for _ in b.messages(['/js'], progress=False)) == 1001


def test_the_spin_loops_commit_after_close_does_nothing(tmp_path, monkeypatch):
    """A recorder's spin loop (or a timer) that calls commit_if_due once the bag is closed,
    a second after the last commit with messages that close() committed, neither raises nor
    touches the closed bag."""
    monkeypatch.setattr(recorder_module, 'COMMIT_EVERY_S', 3600.0)
    bag = tmp_path / 'bag'
    rec = BagRecorder(bag, storage='sqlite3')
    write_joint_states(rec, 0, 3)
    rec.close()
    monkeypatch.setattr(recorder_module, 'COMMIT_EVERY_S', 0.0)  # a commit now due
    rec.commit_if_due()
    assert metadata(bag)['message_count'] == 3


def test_a_killed_recorders_hot_journal_is_rolled_back_and_its_commits_counted(
        tmp_path, monkeypatch):
    """A sqlite3 recording killed mid-transaction after its camera frames spilled into the
    .db3 (a hot journal): its bare .db3 reads the 1000 committed joint states exactly, the
    note counting them from the rolled-back copy, not from the .db3 as the kill left it."""
    monkeypatch.setattr(recorder_module, 'COMMIT_EVERY_S', 3600.0)
    bag = tmp_path / 'bag'
    frame = np.zeros((96, 96, 3), np.uint8)
    with BagRecorder(bag, storage='sqlite3') as rec:
        write_joint_states(rec, 0, COMMIT_EVERY_MESSAGES)
        for i in range(120):  # 3.3 MB uncommitted: past sqlite3's page cache
            t = T0 + (COMMIT_EVERY_MESSAGES + i) * 10**6
            rec.write('/cam', 'sensor_msgs/msg/Image', t, image_message(rec.typestore, frame, t))
        shutil.copytree(bag, tmp_path / 'killed')
    with open_bag(tmp_path / 'killed' / 'bag.db3') as b:
        assert b.notes == ['bag.db3-journal: the recorder of bag.db3 was killed mid-write: its '
                           'last uncommitted messages are lost (1000 committed message(s) read '
                           'from a private copy rolled back)']
        positions = [m.position[0] for _, _, m in b.messages(['/js'], progress=False)]
    assert positions == [float(i) for i in range(COMMIT_EVERY_MESSAGES)]


def test_an_empty_journal_beside_a_db3_is_no_killed_recorder(tmp_path):
    """sqlite3 in journal_mode TRUNCATE leaves an empty `<file>.db3-journal` after each
    commit: a whole bag, read with no note that its recorder was killed."""
    bag = tmp_path / 'bag'
    with BagRecorder(bag, storage='sqlite3') as rec:
        rec.write('/s', STRING, 1, string_message(rec.typestore, 'a'))
    (bag / 'bag.db3-journal').write_bytes(b'')
    for path in (bag, bag / 'bag.db3'):
        with open_bag(path) as b:
            assert (b.notes, [m.data for _, _, m in b.messages(['/s'], progress=False)]) == (
                [], ['a'])


def test_a_bare_db3_compressed_per_message_in_another_format_is_refused_naming_it(tmp_path):
    """A bare .db3 whose metadata table records compression per message in a format other
    than rosbag2's zstd (a foreign plugin's lz4): refused with the format named, not read as
    zstd frames nor handed on as CDR."""
    bag = tmp_path / 'bag'
    with BagRecorder(bag, storage='sqlite3', compression='message') as rec:
        rec.write('/s', STRING, 1, string_message(rec.typestore, 'a'))
    con = sqlite3.connect(bag / 'bag.db3')
    with con:
        con.execute("UPDATE metadata SET metadata = replace(metadata, 'zstd', 'lz4')")
    con.close()
    with pytest.raises(BagReadError) as refused, open_bag(bag / 'bag.db3'):
        pass
    assert str(refused.value) == (
        f"cannot open bag {bag / 'bag.db3'}: bag.db3 records compression per message in "
        "'lz4' in its metadata table, not zstd (the one format rosbag2 writes): it cannot be "
        'decompressed here')


def test_an_mcap_holding_only_its_start_magic_is_cut_off(tmp_path):
    """A recorder killed right after opening its .mcap leaves the 8-byte start magic alone:
    cut off (its end magic missing), though its last 8 bytes equal the magic."""
    (tmp_path / 'x.mcap').write_bytes(MCAP_MAGIC)
    assert cut_off_mcaps(tmp_path / 'x.mcap') == [tmp_path / 'x.mcap']


def test_a_wal_folded_in_recounts_metadata_counts_start_and_duration(tmp_path):
    """Messages a WAL-mode writer committed into `<file>.db3-wal` (never checkpointed) are
    folded in, and the bag's counts, start and end are recounted from the .db3: a topic
    never written stays 0 (wherever it is listed), the earliest message may be in the WAL,
    the latest in the .db3, and the topic listed last need not hold it."""
    bag = tmp_path / 'bag'
    with BagRecorder(bag, storage='sqlite3') as rec:
        rec.write('/a', STRING, T0 + 900, string_message(rec.typestore, '900'))
        rec.write('/b', STRING, T0 + 200, string_message(rec.typestore, '200'))
        rec.add_topic('/silent', STRING)  # listed last, with no message
    con = sqlite3.connect(bag / 'bag.db3')  # a WAL-mode writer, still open
    try:
        con.execute('PRAGMA journal_mode=WAL')
        con.execute('PRAGMA wal_autocheckpoint=0')
        ids = dict(con.execute('SELECT name, id FROM topics').fetchall())
        con.executemany('INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)',
                        [(ids['/b'], T0 + t, bytes(rec.typestore.serialize_cdr(
                            string_message(rec.typestore, str(t)), STRING))) for t in (100, 300)])
        con.commit()
        assert (bag / 'bag.db3-wal').stat().st_size > 32
        with open_bag(bag) as b:
            counts = {t: i.count for t, i in b.topics.items()}
            span = (b.start_ns, b.end_ns)
            read = [m.data for _, _, m in b.messages(['/a', '/b'], progress=False)]
            notes = b.notes
    finally:
        con.close()
    assert counts == {'/a': 1, '/b': 3, '/silent': 0}
    assert span == (T0 + 100, T0 + 901)
    assert read == ['100', '200', '300', '900']
    assert notes == ['bag.db3-wal: 2 message(s) not yet checkpointed into bag.db3 (its recorder '
                     'was stopped before a checkpoint), read from a private copy']


# --------------------------------------------------------------------- defects
def test_a_full_disk_leaves_metadata_counting_only_what_the_db3_holds(tmp_path):
    """SQLITE_FULL rolls back the whole open transaction (every message since the last
    commit); the recorder's context manager then closes the bag. Its metadata.yaml (what
    `ros2 bag info` and the reader report) and the recorder's counts must say what the .db3
    holds, and the error how many were lost (a defect the review found: they counted the
    rolled-back messages as recorded, and the reader reported /js with messages it then
    never read)."""
    bag = tmp_path / 'bag'
    with pytest.raises(OSError, match=r'SQLITE_FULL\); sqlite3 rolled back the \d+ message\(s\) '
                                      'written since its last commit'), \
            BagRecorder(bag, 'sqlite3') as rec:
        rec.add_topic('/js', JS)
        rec._commit()
        fill_the_disk(rec)
        write_joint_states(rec, 0, 5000)
    with open_bag(bag) as b:
        read = sum(1 for _ in b.messages(['/js'], progress=False))
        reported = b.topics['/js'].count
    assert (metadata(bag)['message_count'], reported, rec.counts['/js']) == (read, read, read)


def test_a_killed_message_compressed_sqlite3_recording_reads_what_it_committed(tmp_path):
    """A `compression='message'` sqlite3 recording killed after a commit (no metadata.yaml):
    its .db3 holds zstd frames; rosbag2 writes the bag's metadata (compression_mode
    message) into the .db3's metadata table when it opens the file, which is how the reader
    knows to decompress a bare .db3 (storage._message_compression). BagRecorder's table
    stayed empty until close, so the committed messages read as corrupt CDR ('Invalid or
    unsupported CDR encapsulation') instead of the 1000 joint states (a defect the review
    found); it gets a row at open as rosbag2's does."""
    bag = tmp_path / 'bag'
    with BagRecorder(bag, storage='sqlite3', compression='message') as rec:
        write_joint_states(rec, 0, COMMIT_EVERY_MESSAGES)  # the last one commits them all
        killed = tmp_path / 'killed'
        shutil.copytree(bag, killed)  # what a SIGKILL now leaves: no metadata.yaml
    assert not (killed / 'metadata.yaml').exists()
    with open_bag(killed / 'bag.db3') as b:
        positions = [m.position[0] for _, _, m in b.messages(['/js'], progress=False)]
    assert positions == [float(i) for i in range(COMMIT_EVERY_MESSAGES)]
