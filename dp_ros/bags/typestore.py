"""The rosbags typestores dp_ros reads and writes bags with, and how their code is made.

rosbags writes each message type's (de)serializers as Python source and exec()s it on the
type's first use in a store. Two consequences shape this module:
- Making them costs more than reading a small bag, so bags share a store for the whole
  process (its code is made once): bags of standard types the Jazzy store, bags that
  define types of their own one store per set of such definitions.
- CPython 3.11 marks a KeyboardInterrupt that passes through code run by exec() of a
  string as unhandled even when the program catches it further up, and then ends the
  process by SIGINT instead of the program's exit code (bag2zarr's 130). The code is
  therefore made with Ctrl-C held back; a Ctrl-C that came meanwhile is raised right after.
"""
from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore


def default_typestore() -> Typestore:
    """A fresh store of ROS 2 Jazzy's message definitions (every store here starts as one)."""
    return get_typestore(Stores.ROS2_JAZZY)


def shared_typestore() -> Typestore:
    """The process's one Jazzy store for bags of standard types only (and for writing):
    nothing is ever registered in it, so what one bag made serves the next unchanged."""
    return _store_with(())


def reading_typestore(definitions: Iterable[tuple[str, str] | tuple[str, str, str]]
                      ) -> Typestore:
    """The store to read a bag whose connections carry these (type, definition text) pairs,
    or (type, text, 'idl') for a definition rosbag2 stored as IDL (encoding ros2idl: a type
    it found no .msg file of): one per set of types the bag defines itself (none: the
    shared store). Bags that define the same types alike share it; two bags that define one
    name differently each get their own.
    """
    standard = shared_typestore().types
    return _store_with(tuple(sorted({(t, d, *f) for t, d, *f in definitions
                                     if t not in standard and d})))


@functools.cache
def _store_with(custom: tuple[tuple[str, ...], ...]) -> Typestore:
    """A Jazzy store with these (type, definition text[, 'idl']) registered on top. A
    definition that cannot be parsed is left out: its topic fails to deserialize, which is
    reported only where that topic is used."""
    store = default_typestore()
    for msgtype, text, *form in custom:
        if msgtype in store.types:  # registered with another type's definition
            continue
        try:
            with sigint_held_back():
                store.register(_idl_types(text) if form == ['idl']
                               else get_types_from_msg(text, msgtype))
        except Exception:  # noqa: BLE001 - only a problem if the topic is used
            pass
    return store


def _idl_types(text: str) -> dict:
    """The types of an IDL definition as rosbag2 stores it: each type's IDL after a line of
    80 '=' and an 'IDL: pkg/msg/Type' line (rosbags' AnyReader reads it so), or bare IDL."""
    separator = '=' * 80 + '\n'
    if not text.startswith(f'{separator}IDL: '):
        return get_types_from_idl(text)
    types: dict = {}
    for part in text.split(separator)[1:]:
        types.update(get_types_from_idl(part.split('\n', 1)[1]))
    return types


def prepare_type(store: Typestore, msgtype: str) -> None:
    """Make the serializer code of msgtype and every type it contains, with Ctrl-C held
    back (the module docstring says why). An unknown or broken type is left for
    deserialization to report."""
    if msgtype in store.cache:
        return
    with sigint_held_back():
        for name in _contained_types(store, msgtype):
            try:
                store.get_msgdef(name)
            except Exception:  # noqa: BLE001 - deserialize_cdr raises it where it matters
                return


def _contained_types(store: Typestore, msgtype: str) -> list[str]:
    """msgtype and the message types in its fields, at any depth, innermost first."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order or name not in store.fielddefs:
            return
        for found in _type_names(store.fielddefs[name][1], store):
            visit(found)
        order.append(name)

    visit(msgtype)
    return order


def _type_names(tree: object, store: Typestore) -> Iterator[str]:
    """Every string in a field-definition tree that names a type of the store."""
    if isinstance(tree, str):
        if tree in store.fielddefs:
            yield tree
    elif isinstance(tree, (tuple, list)):
        for item in tree:
            yield from _type_names(item, store)


@contextmanager
def sigint_held_back() -> Iterator[None]:
    """Ctrl-C does not interrupt the block; one that came during it is raised after it.

    Only where Python's default Ctrl-C handler is in place and on the main thread (the
    only thread that may change handlers); anywhere else the block runs as it is.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    came: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if came:
        raise KeyboardInterrupt
