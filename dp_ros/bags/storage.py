"""A bag's storage files opened for rosbags, including the recordings rosbags alone misreads.

- A sqlite3 file written in WAL mode (`ros2 bag record -s sqlite3 --storage-preset-profile
  resilient`) whose recorder was stopped before a checkpoint keeps its last messages in
  `<file>.db3-wal`; rosbags opens the .db3 immutable and never sees them. Such a file is read
  from a private copy with the WAL folded in by sqlite3: the user's files are never written.
- A .db3 beside a rollback journal `<file>.db3-journal` (a recorder killed mid-write) lost
  its uncommitted messages, which a note says; one whose journal is hot may hold pages of
  that transaction, and is read from a private copy rolled back by sqlite3 (hot_journal).
- A split recording (`--max-bag-size`) that lost its metadata.yaml (a recorder killed before
  writing it) leaves `<dir>/<dir>_0.mcap`, `<dir>_1.mcap`, ...: one recording, read as one
  bag, its files in index order (split_parts), not one bag (and episode) per file.
- A storage file compressed whole (`x.mcap.zstd`, `x.db3.zstd`: `ros2 bag record
  --compression-mode file`, which compresses each file as it closes) without metadata.yaml
  (a recorder killed: the file it was writing stays uncompressed; or a copy that lost it) is
  read from a private decompressed copy, as rosbags reads such files when metadata.yaml says
  so: alone, or as a part of a split recording, never left out (storage_kind).
- A .db3 recorded with `--compression-mode message` without its metadata.yaml (a recorder
  killed) holds zstd frames that rosbags, reading the file alone, hands on as CDR; its own
  metadata table (written by rosbag2 at open) says so, and its messages are decompressed
  (ZstdMessages).
- An .mcap cut off (no end magic: its recorder killed mid-file) is named as such, with
  `mcap recover`, which rescues its messages (cut_off_mcaps).
- A metadata.yaml that disagrees with its storage files (a topic's offered QoS or type hash
  edited, or written by another recorder): rosbags reads only the messages of a file's topic
  whose QoS and hash equal metadata.yaml's, and silently none of the others; such a topic
  is read as the file records it, and said (_reconcile).
"""
from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Collection, Iterator
from contextlib import ExitStack
from itertools import groupby
from pathlib import Path
from typing import Any

import yaml

try:  # the zstd rosbags itself decompresses `--compression-mode file` bags with
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd  # type: ignore[import-not-found,no-redef]
from rosbags.interfaces import MessageDefinition, MessageDefinitionFormat, TopicInfo
from rosbags.rosbag2 import Reader

from dp_ros.bags import rosbags_adapt
from dp_ros.safe_yaml import safe_load

rosbags_adapt.install()

STORAGE_SUFFIXES = ('.mcap', '.db3')
MCAP_MAGIC = b'\x89MCAP0\r\n'  # an mcap file starts and ends with it
WAL_HEADER_BYTES = 32  # a WAL file's header; the pages not yet checkpointed follow it
JOURNAL_MAGIC = bytes.fromhex('d9d505f920a163d7')  # a hot rollback journal starts with it
METADATA = 'metadata.yaml'
ZSTD_SUFFIX = '.zstd'  # a storage file compressed whole: `--compression-mode file`


class StorageError(Exception):
    """A storage file that cannot be read as it is; the message says which and what to do."""


def storage_kind(path: Path) -> str | None:
    """The storage suffix (.mcap or .db3) of a storage file's name, compressed whole
    (`x.mcap.zstd`) or not; None for any other name."""
    name = path.name.removesuffix(ZSTD_SUFFIX)
    return next((s for s in STORAGE_SUFFIXES if name.endswith(s) and name != s), None)


def is_compressed(path: Path) -> bool:
    """Whether a storage file is compressed whole (`x.mcap.zstd`)."""
    return path.name.endswith(ZSTD_SUFFIX) and storage_kind(path) is not None


def is_shadowed(path: Path) -> bool:
    """Whether path is a storage file compressed whole (`x.mcap.zstd`) with its uncompressed
    file (`x.mcap`) beside it: a recorder killed while compressing it, the .zstd maybe cut
    short; the same file, read from the uncompressed one and never as a bag of its own."""
    return is_compressed(path) and path.with_name(path.name.removesuffix(ZSTD_SUFFIX)).is_file()


def _shadow_note(path: Path) -> list[str]:
    """A note naming the compressed copy (`x.mcap.zstd`) left unread beside an uncompressed
    storage file x.mcap; [] when there is none."""
    twin = path.with_name(path.name + ZSTD_SUFFIX)
    if not twin.is_file() or not storage_kind(path) or is_compressed(path):
        return []
    return [f'{twin.name} skipped: the same storage file as {path.name} beside it, compressed '
            '(a recorder killed while compressing it leaves both); read from '
            f'{path.name}, which is whole']


# --- split recordings without metadata.yaml ---------------------------------------------------

def _indexed_parts(folder: Path) -> list[tuple[int, Path]]:
    """(index, file) of the files `<folder name>_<index>.mcap` (or .db3, either compressed
    whole: `.mcap.zstd`) in folder, sorted; [] when they are fewer than two or of both kinds.
    A part found both compressed and not (a recorder killed while compressing it) is read
    from its uncompressed file, which is whole."""
    pattern = re.compile(re.escape(folder.name) + r'_(\d+)(\.mcap|\.db3)(\.zstd)?')
    found: dict[int, tuple[str, Path]] = {}
    for p in folder.iterdir():
        if (m := pattern.fullmatch(p.name)) and p.is_file() and not is_shadowed(p):
            found[int(m[1])] = (m[2], p)
    if len(found) < 2 or len({suffix for suffix, _ in found.values()}) > 1:
        return []
    return [(index, p) for index, (_, p) in sorted(found.items())]


def split_parts(folder: Path) -> list[Path]:
    """The files of a split recording that lost its metadata.yaml, in index order:
    `<folder name>_<n>.mcap` (or .db3) in a folder without metadata.yaml, at least two of
    them; [] for any other folder."""
    if not folder.is_dir() or (folder / METADATA).is_file():
        return []
    return [p for _, p in _indexed_parts(folder)]


def _split_note(folder: Path) -> str:
    parts = _indexed_parts(folder)
    indices = {i for i, _ in parts}
    suffix = storage_kind(parts[0][1])
    missing = [f'{folder.name}_{i}{suffix}' for i in range(parts[-1][0]) if i not in indices]
    return (f'{len(parts)} files {parts[0][1].name} .. {parts[-1][1].name} without '
            f'{METADATA} (a split recording whose recorder was stopped before writing it): '
            'read as one bag, in index order'
            + (f"; {', '.join(missing)} missing: its time is a gap" if missing else ''))


class SplitReader:
    """Open readers of a recording's files, in order, read as one bag: the part of
    rosbags.rosbag2.Reader's interface dp_ros.bags.reader.Bag uses."""

    def __init__(self, readers: list[Reader]):
        self.readers = readers

    @property
    def connections(self) -> list[Any]:
        return [c for r in self.readers for c in r.connections]

    @property
    def topics(self) -> dict[str, TopicInfo]:
        """As rosbags' Reader.topics: each topic's type (None: several), message count and
        connections, over every file."""
        topics: dict[str, TopicInfo] = {}
        for topic, group in groupby(sorted(self.connections, key=lambda c: c.topic),
                                    key=lambda c: c.topic):
            conns = list(group)
            msgtypes = {c.msgtype for c in conns}
            msgdefs = {c.msgdef for c in conns}
            topics[topic] = TopicInfo(
                msgtypes.pop() if len(msgtypes) == 1 else None,
                msgdefs.pop() if len(msgdefs) == 1
                else MessageDefinition(MessageDefinitionFormat.NONE, ''),
                sum(c.msgcount for c in conns), conns)
        return topics

    @property
    def start_time(self) -> int:
        return min(r.start_time for r in self.readers)

    @property
    def end_time(self) -> int:
        return max(r.end_time for r in self.readers)

    def messages(self, connections: Collection[Any] = ()) -> Iterator[tuple[Any, int, bytes]]:
        """Every file's messages in turn (of these connections; none given: all)."""
        wanted = {id(c) for c in connections}
        for reader in self.readers:
            if not connections:
                yield from reader.messages()
                continue
            mine = [c for c in reader.connections if id(c) in wanted]
            if mine:  # an empty list would mean every connection
                yield from reader.messages(mine)


# --- a bare .db3 of a message-compressed recording -----------------------------------------------

class ZstdMessages:
    """A reader whose messages are zstd frames, decompressed as they are read (rosbags does
    it only where metadata.yaml says compression_mode message): the part of rosbags'
    Reader interface dp_ros.bags.reader.Bag uses, the rest the reader's own."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)

    def messages(self, connections: Collection[Any] = ()) -> Iterator[tuple[Any, int, bytes]]:
        for connection, time_ns, data in self.reader.messages(connections):
            yield connection, time_ns, zstd.decompress(data)


def _message_compression(db: Path) -> str | None:
    """The format where a .db3's own metadata table records compression per
    message: rosbag2 (schema 3 and later) writes the bag's metadata there when it opens the
    file, so a file without its metadata.yaml (a recorder killed before writing it) still
    says that its messages are compressed. None where it records no such mode."""
    try:
        rows = _query(db, 'SELECT metadata FROM metadata ORDER BY id DESC LIMIT 1')
        metadata = safe_load(rows[0][0]) if rows else None
    except (sqlite3.Error, yaml.YAMLError, ValueError):  # schema < 3: no such table
        return None
    if not isinstance(metadata, dict):
        return None
    # 'file': the file is compressed whole once closed; this one is not (or is our copy)
    if str(metadata.get('compression_mode') or '').lower() != 'message':
        return None
    return str(metadata.get('compression_format') or '')


def compression_reader(reader: Any, name: str, fmt: str) -> tuple[ZstdMessages, str]:
    """The reader of a bare .db3 `name` whose messages are compressed in `fmt`
    (_message_compression), with a note; StorageError for a format other than rosbag2's
    zstd."""
    if fmt != 'zstd':
        raise StorageError(f'{name} records compression per message in {fmt!r} in its '
                           'metadata table, not zstd (the one format rosbag2 writes): it '
                           'cannot be decompressed here')
    return ZstdMessages(reader), (f'{name}: recorded with `--compression-mode message` (its '
                                  f'metadata table says so), read without {METADATA}: its '
                                  'messages decompressed here')


# --- sqlite3 write-ahead logs ------------------------------------------------------------------

def pending_wal(db: Path) -> Path | None:
    """The write-ahead log beside a .db3 when it holds pages (messages a recorder committed
    but never checkpointed into the .db3); None when there is none."""
    wal = db.with_name(db.name + '-wal')
    try:
        return wal if wal.stat().st_size > WAL_HEADER_BYTES else None
    except OSError:
        return None


def killed_journal(db: Path) -> Path | None:
    """The rollback journal a writer killed mid-transaction left beside a .db3 (`ros2 bag
    record -s sqlite3` and BagRecorder commit now and then; rosbags alone, an older dp_ros,
    only at close): its uncommitted messages are lost. None when there is none (a commit
    deletes it)."""
    journal = db.with_name(db.name + '-journal')
    try:
        return journal if journal.stat().st_size > 0 else None
    except OSError:
        return None


def hot_journal(db: Path) -> Path | None:
    """killed_journal when it is hot (its header written: sqlite3's sign that the .db3 may
    hold pages of the uncommitted transaction, to be rolled back from it); a zeroed header:
    the .db3 is whole by itself."""
    journal = killed_journal(db)
    try:
        with journal.open('rb') as f:  # type: ignore[union-attr]
            return journal if f.read(len(JOURNAL_MAGIC)) == JOURNAL_MAGIC else None
    except (OSError, AttributeError):
        return None


def journal_note(db: Path, journal: Path, committed: int | None = None) -> str:
    """What a killed recorder's journal means for the bag read."""
    how = '' if committed is None else (f' ({committed} committed message(s) read from a '
                                        'private copy rolled back)')
    return (f'{journal.name}: the recorder of {db.name} was killed mid-write: its last '
            f'uncommitted messages are lost{how}')


def pending_changes(db: Path) -> Path | None:
    """The WAL (pending_wal) or the hot rollback journal (hot_journal) a .db3 must be read
    with, from a private copy; None when the file is whole by itself."""
    return pending_wal(db) or hot_journal(db)


@contextlib.contextmanager
def _immutable(db: Path) -> Iterator[sqlite3.Connection]:
    """A .db3 opened immutable: the user's file neither written nor locked, its WAL (if any)
    not read."""
    con = sqlite3.connect(f'{db.resolve().as_uri()}?immutable=1', uri=True)
    try:
        yield con
    finally:
        con.close()


def _query(db: Path, sql: str) -> list[tuple]:
    """The rows of `sql` on a .db3 opened immutable (_immutable)."""
    with _immutable(db) as con:
        return con.execute(sql).fetchall()


def message_spans(con: sqlite3.Connection) -> dict[int, tuple[int, int, int]]:
    """Per topic id of a rosbag2 .db3, the messages it holds: their count, first and last
    timestamp (topics without messages absent). What metadata.yaml's counts and times must
    say: the reader recounts with it after folding a WAL in, the recorder after sqlite3
    rolled back an open transaction."""
    return {int(tid): (int(n), int(lo), int(hi)) for tid, n, lo, hi in con.execute(
        'SELECT topic_id, count(*), min(timestamp), max(timestamp) FROM messages '
        'GROUP BY topic_id')}


def _count(db: Path) -> int:
    return int(_query(db, 'SELECT count(*) FROM messages')[0][0])


def _private_copy(db: Path, side: Path, into: Path) -> tuple[Path, str]:
    """A copy of db in `into` made whole with its WAL or hot journal; a note saying how."""
    return (_roll_back(db, side, into) if side.name.endswith('-journal')
            else _fold_wal(db, side, into))


def _roll_back(db: Path, journal: Path, into: Path) -> tuple[Path, str]:
    """(a copy of db in `into` with the transaction its hot journal records rolled back by
    sqlite3, as the next writer would; a note that its recorder was killed and how many
    messages were committed). StorageError naming the journal when it cannot be made."""
    copy = into / db.name
    try:
        shutil.copyfile(db, copy)
        shutil.copyfile(journal, into / journal.name)
        con = sqlite3.connect(copy)  # a first read rolls the hot journal back
        try:
            kept = int(con.execute('SELECT count(*) FROM messages').fetchone()[0])
        finally:
            con.close()
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(
            f'{journal} is the rollback journal of a recorder killed mid-write, and the '
            f'private copy to roll it back on could not be made in {tempfile.gettempdir()}: '
            f'{type(exc).__name__}: {exc}; free space there (or point TMPDIR elsewhere), or '
            f'roll it back on a copy of the bag: sqlite3 COPY.db3 "SELECT count(*) FROM '
            'messages"') from exc
    return copy, journal_note(db, journal, kept)


def _fold_wal(db: Path, wal: Path, into: Path) -> tuple[Path, str]:
    """(a copy of db in `into` with the pages of its WAL folded in by sqlite3, which takes
    only committed transactions; a note saying how many messages that added). StorageError
    naming the WAL when the copy cannot be made."""
    copy = into / db.name
    try:
        shutil.copyfile(db, copy)
        shutil.copyfile(wal, into / wal.name)
        con = sqlite3.connect(copy)
        try:
            con.execute('PRAGMA wal_checkpoint(TRUNCATE)')
            con.execute('PRAGMA journal_mode=DELETE')
        finally:
            con.close()
        added = _count(copy) - _count(db)
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(
            f'{wal} holds messages not yet checkpointed into {db.name} (its recorder was '
            f'stopped before a checkpoint), and the private copy to read them from could not '
            f'be made in {tempfile.gettempdir()}: {type(exc).__name__}: {exc}; free space '
            'there (or point TMPDIR elsewhere), or fold them in on a copy of the bag: sqlite3 '
            'COPY.db3 "PRAGMA wal_checkpoint(TRUNCATE)"') from exc
    return copy, (f'{wal.name}: {added} message(s) not yet checkpointed into {db.name} (its '
                  'recorder was stopped before a checkpoint), read from a private copy')


def _recounted_metadata(source: Path, target: Path, dbs: list[Path]) -> None:
    """The bag's metadata.yaml with its message counts, start and duration as the storage
    files hold them now that their WALs are folded in (the recorder counted without them);
    copied unchanged where it is not what rosbag2 writes (rosbags then says what is wrong)."""
    text = source.read_text()
    try:
        data = safe_load(text)
        info = data['rosbag2_bagfile_information']
        counts: dict[str, int] = {}
        first, last = None, None
        for db in dbs:
            with _immutable(db) as con:
                names = dict(con.execute('SELECT id, name FROM topics'))
                spans = message_spans(con)
            for tid, (n, lo, hi) in spans.items():
                if tid not in names:  # no topic: no message of the bag's (as rosbags reads)
                    continue
                counts[names[tid]] = counts.get(names[tid], 0) + n
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
        for topic in info['topics_with_message_count']:
            topic['message_count'] = counts.get(topic['topic_metadata']['name'], 0)
        info['message_count'] = sum(t['message_count'] for t in info['topics_with_message_count'])
        if first is not None:
            info['starting_time']['nanoseconds_since_epoch'] = int(first)
            info['duration']['nanoseconds'] = int(last) - int(first)
        text = yaml.safe_dump(data, sort_keys=False)
    except (yaml.YAMLError, sqlite3.Error, KeyError, TypeError):
        pass
    target.write_text(text)


def _private_dir(bag: Path, wals: dict[Path, Path], into: Path) -> tuple[Path, list[str]]:
    """A bag directory whose .db3 files have pending WALs or hot journals, as a private
    directory: those files copied with their WALs folded in (journals rolled back), the
    others linked, metadata.yaml recounted."""
    out = into / bag.name
    out.mkdir()
    notes = []
    for entry in sorted(bag.iterdir()):
        if entry.name == METADATA or entry.name.endswith(('-wal', '-shm', '-journal')):
            continue
        if entry in wals:
            notes.append(_private_copy(entry, wals[entry], out)[1])
        else:
            (out / entry.name).symlink_to(entry.resolve())
    _recounted_metadata(bag / METADATA, out / METADATA, sorted(out.glob('*.db3')))
    return out, notes


# --- storage files compressed whole ------------------------------------------------------------

def _decompress(file: Path, into: Path) -> tuple[Path, str]:
    """(a decompressed copy of a storage file compressed whole, in `into`; a note saying so).
    StorageError naming the file and the way out when it cannot be decompressed."""
    copy = into / file.name.removesuffix(ZSTD_SUFFIX)
    try:
        with file.open('rb') as raw, zstd.open(raw, 'rb') as stream, copy.open('wb') as out:
            shutil.copyfileobj(stream, out)
    except (OSError, EOFError, zstd.ZstdError) as exc:
        raise StorageError(
            f'{file.name} is a zstd-compressed storage file (`ros2 bag record --compression-mode'
            f' file`) that could not be decompressed to a private copy in {into.parent}: '
            f'{type(exc).__name__}: {exc}; decompress it yourself (`zstd -d {file.name}`, or '
            '`ros2 bag decompress` on a bag directory with its metadata.yaml) and convert '
            'the decompressed file') from exc
    return copy, (f'{file.name}: zstd-compressed storage file without {METADATA}, read from a '
                  'decompressed private copy')


# --- opening -----------------------------------------------------------------------------------

def _close_quietly(reader: Any) -> None:
    try:
        reader.close()
    except Exception:  # noqa: BLE001 - closing a corrupt bag may fail again; the cause counts
        pass


def _open(path: Path, stack: ExitStack) -> tuple[Reader, list[str]]:
    """An open rosbags Reader of a bag directory or a bare storage file, through a private
    copy where a .db3 has a pending WAL; and notes on how it was read."""
    notes: list[str] = _shadow_note(path) if path.is_file() else []
    if path.is_dir():
        wals = {db: wal for db in sorted(path.glob('*.db3')) if (wal := pending_changes(db))}
        notes = [journal_note(db, journal) for db in sorted(path.glob('*.db3'))
                 if db not in wals and (journal := killed_journal(db))]
        if wals:
            path, copied = _private_dir(path, wals, _private_folder(stack))
            notes += copied
    elif is_compressed(path):
        path, note = _decompress(path, _private_folder(stack))
        notes.append(note)
    elif path.suffix == '.db3' and (wal := pending_changes(path)):
        path, note = _private_copy(path, wal, _private_folder(stack))
        notes.append(note)
    elif path.suffix == '.db3' and (journal := killed_journal(path)):
        notes.append(journal_note(path, journal))
    reader = Reader(path)
    reader.open()
    stack.callback(_close_quietly, reader)
    if path.suffix == '.db3' and (fmt := _message_compression(path)) is not None:
        reader, note = compression_reader(reader, path.name, fmt)
        notes.append(note)
    return reader, notes + _reconcile(reader)


def _reconcile(reader: Reader) -> list[str]:
    """Notes on where a bag directory's metadata.yaml disagrees with its storage files, whose
    messages rosbags would then drop without a word: a topic whose offered QoS profiles or
    type hash differ is read as the files record them (its metadata connection takes theirs);
    a topic (or type) the files hold and metadata.yaml lacks is named, not read."""
    storage = reader.storage
    files = getattr(storage, 'storages', None)
    if files is None:  # a bare storage file: its own topics, nothing to disagree with
        return []
    stored = [c for f in files for c in f.connections]
    notes = []
    for i, meta in enumerate(storage.connections):
        same = [c for c in stored if c.topic == meta.topic and c.msgtype == meta.msgtype]
        if not same or any(c.ext == meta.ext and (not c.digest or not meta.digest
                                                  or c.digest == meta.digest) for c in same):
            continue
        found = same[0]
        what = []
        if found.ext != meta.ext:
            what.append('offered QoS profiles' if found.ext.offered_qos_profiles
                        != meta.ext.offered_qos_profiles else 'serialization format')
        if found.digest and meta.digest and found.digest != meta.digest:
            what.append('type hash')
        storage.connections[i] = meta._replace(ext=found.ext, digest=found.digest or meta.digest)
        notes.append(f'{meta.topic}: {METADATA} and the storage file disagree on its '
                     f'{" and ".join(what)}: read as the file records them')
    listed = {(c.topic, c.msgtype) for c in storage.connections}
    for topic, msgtype in sorted({(c.topic, c.msgtype) for c in stored} - listed):
        notes.append(f'{topic} [{msgtype}] is in the storage files but not in {METADATA}: not '
                     f'read (`ros2 bag reindex` rewrites {METADATA} from the files)')
    return notes


def _private_folder(stack: ExitStack) -> Path:
    """A temporary folder that lives until the bag is closed."""
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix='dp_ros_bag_')))


def open_reader(path: Path, stack: ExitStack) -> tuple[Reader | SplitReader, list[str]]:
    """An open reader of the bag at path: a bag directory, a bare storage file, or a split
    recording without metadata.yaml (split_parts); and notes on how it was read (a WAL
    folded in, files read as one). It, and any private copy, lives until `stack` closes."""
    parts = split_parts(path)
    if not parts:
        return _open(path, stack)
    readers, notes = [], [_split_note(path)]
    for part in parts:
        reader, more = _open(part, stack)
        readers.append(reader)
        notes += more
    return SplitReader(readers), notes


def cut_off_mcaps(path: Path) -> list[Path]:
    """The .mcap files of the bag at path that start as mcap but lack its end magic: cut
    off (a recorder killed mid-file)."""
    files = [path] if path.is_file() else sorted(path.glob('*.mcap'))
    cut = []
    for file in files:
        if file.suffix != '.mcap':
            continue
        try:
            with file.open('rb') as stream:
                start = stream.read(len(MCAP_MAGIC))
                size = stream.seek(0, 2)
                stream.seek(max(size - len(MCAP_MAGIC), 0))
                end = stream.read(len(MCAP_MAGIC))
        except OSError:
            continue
        if start == MCAP_MAGIC and (size < 2 * len(MCAP_MAGIC) or end != MCAP_MAGIC):
            cut.append(file)
    return cut
