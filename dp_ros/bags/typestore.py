"""The rosbags typestores dp_ros reads and writes bags with, and how their code is made.

rosbags writes each message type's (de)serializers as Python source and exec()s it on the
type's first use in a store. Two consequences shape this module:
- Making them costs more than reading a small bag, so bags share a store for the whole
  process (its code is made once): bags of standard types the Jazzy store, bags that
  define types of their own one store per set of such definitions.
- CPython 3.11 marks a KeyboardInterrupt that passes through code run by exec() of a
  string as unhandled even when the program catches it further up, and then ends the
  process by SIGINT instead of the program's exit code (bag2zarr's 130). The code is
  therefore made with Ctrl-C (and SIGTERM) held back; one that came meanwhile is raised
  right after (dp_ros/held_signals.py).
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

from dp_ros.held_signals import signals_held_back


def default_typestore() -> Typestore:
    """A fresh store of ROS 2 Jazzy's message definitions (every store here starts as one);
    signals held back too: the first one imports the store's module, whose dataclasses run
    exec()'d code (a stop there ended bag2zarr and arm-record by SIGINT; a fault review)."""
    with signals_held_back():
        return get_typestore(Stores.ROS2_JAZZY)


def shared_typestore() -> Typestore:
    """The process's one Jazzy store for bags of standard types only (and for writing):
    nothing is ever registered in it, so what one bag made serves the next unchanged."""
    return _store_with(())


def reading_typestore(definitions: Iterable[tuple[str, str] | tuple[str, str, str]]
                      ) -> Typestore:
    """The store to read a bag whose connections carry these (type, definition text) pairs,
    or (type, text, 'idl') for a definition rosbag2 stored as IDL (encoding ros2idl: a type
    it found no .msg file of): one per set of types the bag defines itself, or defines
    otherwise than Jazzy (a newer distro's lifecycle_msgs/TransitionEvent, an older one's
    sensor_msgs/Range: read with the bag's own definition, not Jazzy's layout); none: the
    shared store. Bags that define the same types alike share it; two bags that define one
    name differently each get their own.
    """
    standard = shared_typestore()
    return _store_with(tuple(sorted(
        {(t, d, *f) for t, d, *f in definitions
         if d and (t not in standard.types or _redefined(_parsed(t, d, f == ['idl']),
                                                        standard))})))


# rosidl gives a message without fields one uint8 member; a .msg parse gives it none: the same
EMPTY_STRUCT = [('structure_needs_at_least_one_member', (Nodetype.BASE, ('uint8', 0)))]


def _fields(fields: Iterable) -> list:
    """A type's fields as rosbags compares two definitions of it (register)."""
    return [(name.lower(), kind) for name, kind in fields] or EMPTY_STRUCT


@functools.cache
def _parsed(msgtype: str, text: str, idl: bool) -> dict:
    """The types a bag's definition text of msgtype defines ({} where it cannot be parsed:
    its topic fails to deserialize, reported only where that topic is used)."""
    try:
        with signals_held_back():
            return dict(_idl_types(text) if idl else get_types_from_msg(text, msgtype))
    except Exception:  # noqa: BLE001 - only a problem if the topic is used
        return {}


def _redefined(types: dict, store: Typestore) -> list[str]:
    """The types of `types` (a bag's parsed definitions) the store has with other fields."""
    return [name for name, (_, fields) in types.items() if name in store.fielddefs
            and _fields(fields) != _fields(store.fielddefs[name][1])]


@functools.cache
def _store_with(custom: tuple[tuple[str, ...], ...]) -> Typestore:
    """A Jazzy store with these (type, definition text[, 'idl']) registered on top; where
    they define a Jazzy type otherwise, a store of Jazzy's types with theirs in its place. A
    definition that cannot be parsed is left out."""
    store = default_typestore()
    parsed = [_parsed(msgtype, text, form == ['idl']) for msgtype, text, *form in custom]
    replaced = {name for types in parsed for name in _redefined(types, store)}
    if replaced:
        jazzy, store = store, get_typestore(Stores.EMPTY)
        with signals_held_back():
            store.register({name: tree for name, tree in jazzy.fielddefs.items()
                            if name not in store.fielddefs and name not in replaced})
    for types in parsed:
        new = {name: tree for name, tree in types.items() if name not in store.fielddefs}
        if not new:  # all registered already (by another definition, or Jazzy's alike)
            continue
        try:
            with signals_held_back():
                store.register(new)
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
    with signals_held_back():
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
