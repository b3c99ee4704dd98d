"""What rosbag2 writes and rosbags (0.11.9, requirements.txt) refuses, adapted where rosbags
reads it: installed once, when dp_ros.bags.storage is imported (install()).

- A topic whose type rosbag2 could not find a definition of (an action's hidden
  `_action/feedback` topic, `pkg/action/X_FeedbackMessage`, recorded with
  `--include-hidden-topics`; a type not installed on the recording machine) is stored with
  the definition encoding 'unknown' (local_message_definition_source.cpp) or '' (the
  sequential writer's fallback), in an .mcap's schema or a .db3's message_definitions
  table. rosbags looks the encoding up in a table of 'ros2msg' and 'ros2idl' and raises
  KeyError, refusing the whole bag for a topic nobody asked for. Here such a definition
  reads as none stored (as a Humble .db3's): the topic is listed, and only a conversion that
  needs it is refused, naming it.
- An .mcap without chunks or message index (`--storage-preset-profile fastwrite` on Jazzy
  and later, whose recorder stamps each message with its middleware receive time but writes
  in the order the executor runs the callbacks) can hold messages slightly out of receive
  time order. rosbags reads such a file in file order and stops at the first message older
  than the one before; here its messages come in receive-time order through a buffer of
  REORDER_WINDOW_NS, and only a message later than that is refused, naming the file.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Collection, Iterator
from typing import Any

from rosbags.interfaces import MessageDefinition, MessageDefinitionFormat
from rosbags.rosbag2 import storage_mcap, storage_sqlite3
from rosbags.rosbag2.errors import ReaderError

KNOWN_ENCODINGS = ('ros2msg', 'ros2idl')  # what rosbags' sqlite3 reader maps
# rosbags' query for a .db3's definitions (storage_sqlite3, schema >= 4), and the same with
# the rows it cannot map left out: their types read as having no definition stored
DEFINITIONS_QUERY = ('SELECT topic_type, encoding, encoded_message_definition,'
                     ' type_description_hash FROM message_definitions ORDER BY id')
KNOWN_DEFINITIONS_QUERY = DEFINITIONS_QUERY.replace(  # SQL's list: a tuple's repr is not
    ' ORDER BY id',  # one with a single item ("('ros2msg',)")
    f" WHERE encoding IN ({', '.join(repr(e) for e in KNOWN_ENCODINGS)}) ORDER BY id")
# how far out of receive-time order an unindexed .mcap's messages may come: an executor's
# callback delay is milliseconds; the buffer holds this much of the recording
REORDER_WINDOW_NS = 2_000_000_000

_installed = False


def install() -> None:
    """Adapt rosbags' readers (once per process; idempotent). test_bag_rosbags_adapt.py
    reads bags with each case, so a rosbags whose code differs fails there."""
    global _installed
    if _installed:
        return
    _installed = True
    original_msgdef = storage_mcap.get_msgdef

    def get_msgdef(schema: Any) -> MessageDefinition:
        if schema is not None and schema.encoding not in (*KNOWN_ENCODINGS, 'omgidl'):
            return MessageDefinition(MessageDefinitionFormat.NONE, '')
        return original_msgdef(schema)

    storage_mcap.get_msgdef = get_msgdef
    storage_sqlite3.apsw = _Apsw(storage_sqlite3.apsw)
    original_messages = storage_mcap.McapReader.messages

    def messages(self: Any, connections: Collection[Any], start: int | None = None,
                 stop: int | None = None) -> Iterator[tuple[Any, int, bytes]]:
        if self.chunks:  # indexed: rosbags merges its chunks in time order
            return original_messages(self, connections, start, stop)
        return in_time_order(self.messages_scan(connections, start, stop), REORDER_WINDOW_NS,
                             str(self.path))

    storage_mcap.McapReader.messages = messages


def in_time_order(messages: Iterator[tuple[Any, int, bytes]], window_ns: int, where: str
                  ) -> Iterator[tuple[Any, int, bytes]]:
    """(connection, time ns, data) of `messages` sorted by time, stably, through a buffer
    of `window_ns`: a message is yielded once one `window_ns` later has been read. A message
    earlier than one already yielded is a ReaderError naming `where`."""
    heap: list[tuple[int, int, Any, bytes]] = []
    order = itertools.count()  # equal times keep file order
    last = None
    for connection, time_ns, data in messages:
        if last is not None and time_ns < last:
            raise ReaderError(
                f'{where}: unindexed MCAP message at {time_ns} ns comes after one at {last} ns, '
                f'more than {window_ns / 1e9:g} s out of receive-time order: re-index it '
                '(`mcap recover` writes an indexed copy) and convert that')
        heapq.heappush(heap, (time_ns, next(order), connection, data))
        while heap and heap[0][0] <= time_ns - window_ns:
            last, _, conn, payload = heapq.heappop(heap)
            yield conn, last, payload
    while heap:
        last, _, conn, payload = heapq.heappop(heap)
        yield conn, last, payload


class _Apsw:
    """rosbags' apsw module, whose connections answer the definitions query with the rows
    rosbags can map (the others: no definition stored); everything else is apsw's."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def Connection(self, *args: Any, **kwargs: Any) -> _Connection:  # noqa: N802 (apsw's)
        return _Connection(self._module.Connection(*args, **kwargs))


class _Connection:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def cursor(self) -> _Cursor:
        return _Cursor(self._connection.cursor())


class _Cursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def execute(self, statement: str, *args: Any, **kwargs: Any) -> Any:
        if statement == DEFINITIONS_QUERY:
            statement = KNOWN_DEFINITIONS_QUERY
        return self._cursor.execute(statement, *args, **kwargs)
