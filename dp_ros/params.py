"""Documented config fields: the one parameter mechanism of every node, without ROS.

Each field of a node's config dataclass is made with `param(default, description,
range=..., unit=..., read_only=...)`; its metadata is the single source of the ROS
ParameterDescriptor (dp_ros/ros/parameters.py), of the type and range checks here (errors
name the parameter), and of the README's parameter tables (dp_ros/app/param_docs.py). The
dataclass stays ROS-free, so the logic it configures is unit-tested without rclpy.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import reprlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

C = TypeVar('C')

# field annotation (a string under `from __future__ import annotations`) -> checker
_KINDS = ('bool', 'str', 'int', 'float', 'list[str]', 'list[int]', 'list[float]')


_SHOWN = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = 16  # a bimanual arm's 14 or 16 joints whole


def shown(value: Any) -> str:
    """repr(value) cut short for an error message: a value from a file (a list of a million
    names, an expanded YAML alias) cannot make a megabyte line, or a MemoryError."""
    return _SHOWN.repr(value)


def param(default: Any, description: str, *, range: tuple[float, float] | None = None,
          read_only: bool = True, unit: str = '') -> Any:
    """A documented parameter field: its description, unit, inclusive range and read_only flag.

    List defaults are copied per instance (a default_factory is made here).
    """
    metadata = {'description': description, 'range': range, 'read_only': read_only,
                'unit': unit}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda d=tuple(default): list(d),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def parse_topic_map(entries: Sequence[str], where: str, value: str, example: str,
                    ) -> dict[str, str]:
    """'topic=value' entries (a list parameter or a repeated option giving each topic its
    own value: the policy node's topic_name_prefixes and topic_frame_ids, dry-run-report's
    --prefix) as {topic: value}. ValueError naming `where`: an entry not 'topic=value'
    (`example` shows one), or a topic given twice."""
    out: dict[str, str] = {}
    for entry in entries:
        topic, sep, given = entry.partition('=')
        if not sep or not topic.startswith('/') or not given or given != given.strip():
            raise ValueError(f"{where}: {entry!r} is not 'topic={value}' with an absolute topic "
                             f"and a {value} (e.g. '{example}')")
        if topic in out:
            raise ValueError(f'{where} names {topic} twice')
        out[topic] = given
    return out


def param_fields(cls: type) -> list[dataclasses.Field]:
    out = []
    for f in dataclasses.fields(cls):
        if 'description' not in f.metadata:
            raise TypeError(f'{cls.__name__}.{f.name} is not documented: make it with param()')
        if f.type not in _KINDS:
            raise TypeError(f'{cls.__name__}.{f.name}: type {f.type!r} is not one of {_KINDS}')
        out.append(f)
    return out


def default_of(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def is_number(v: Any) -> bool:
    """An int or float as YAML and JSON read one (NaN and inf included): true and false are
    bools, an int subclass, and no number."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_whole(v: Any) -> bool:
    """A number that is an integer: 3 or 3.0, not 2.5, inf or nan (int() of those raises
    OverflowError or a message that names no parameter)."""
    return is_number(v) and (isinstance(v, int) or (math.isfinite(v) and v == int(v)))


# a scalar field's annotation -> what its value must be, and the test: an int field takes no
# float (2.5 steps would be misread, 16.0 reaches torch as a float size) and no bool, a float
# field an int (YAML's 1 for 1.0); YAML's `yes`/`no` are booleans, a word such as 'ture' is not
SCALAR_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    'bool': ('true or false', lambda v: isinstance(v, bool)),
    'int': ('an integer', lambda v: isinstance(v, int) and not isinstance(v, bool)),
    'float': ('a number', is_number),
    'str': ('a string', lambda v: isinstance(v, str)),
}


def check_scalar_types(where: str, cls: type, values: dict[str, Any]) -> None:
    """ValueError naming `where`.field for the first of `values` (field name -> value) that is
    not of its `cls` dataclass field's scalar type ('int', 'float | None', ...): a YAML or
    JSON file gives what was written, and a float count or a string flag would be misread or
    crash far from the file. The one rule of a training config's sections and of a policy
    config (training/config.py, dp_ros/policy/config.py). Other annotations (lists, mappings,
    'str | bool | None') are left to their own checks, as is a name `cls` lacks."""
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    for name, value in values.items():
        kinds = str(types.get(name, '')).split(' | ')
        optional = 'None' in kinds
        kinds = [k for k in kinds if k != 'None']
        if len(kinds) != 1 or kinds[0] not in SCALAR_TYPES or (optional and value is None):
            continue
        what, ok = SCALAR_TYPES[kinds[0]]
        if not ok(value):
            raise ValueError(f'{where}.{name} must be {what}'
                             f'{" or null" if optional else ""}, got {shown(value)}')


def coerce(name: str, kind: str, value: Any) -> Any:
    """YAML and the command line give 1 for 1.0 and [] without a type: check and convert."""
    if kind == 'bool':
        if not isinstance(value, bool):
            raise ValueError(f'parameter {name} must be true or false, got {shown(value)}')
        return value
    if kind == 'str':
        if not isinstance(value, str):
            raise ValueError(f'parameter {name} must be a string, got {shown(value)}')
        return value
    if kind == 'int':
        if not _is_whole(value):
            raise ValueError(f'parameter {name} must be an integer, got {shown(value)}')
        return int(value)
    if kind == 'float':
        if not is_number(value):
            raise ValueError(f'parameter {name} must be a number, got {shown(value)}')
        return float(value)
    if not isinstance(value, (list, tuple)) and type(value).__name__ != 'array':
        raise ValueError(f'parameter {name} must be a list, got {shown(value)}')
    items = list(value)  # rclpy hands numeric arrays over as array.array
    if kind == 'list[str]':
        if not all(isinstance(v, str) for v in items):
            raise ValueError(f'parameter {name} must be a list of strings, got {shown(items)}')
        return items
    if not all(is_number(v) for v in items):
        raise ValueError(f'parameter {name} must be a list of numbers, got {shown(items)}')
    if kind == 'list[int]':
        if not all(_is_whole(v) for v in items):
            raise ValueError(f'parameter {name} must be a list of integers, got {shown(items)}')
        return [int(v) for v in items]
    return [float(v) for v in items]


def check_range(name: str, value: Any, bounds: tuple[float, float] | None) -> None:
    if bounds is None:
        return
    low, high = bounds
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, float) and not math.isfinite(v) or not low <= v <= high:
            raise ValueError(f'parameter {name} must be in [{low}, {high}], got {shown(value)}')


def refuse_unknown(cls: type, names: Iterable[str], owner: str | None = None) -> None:
    """ValueError naming each of `names` that is no field of `cls`, with the closest fields:
    a misspelt limit (max_velocty) would otherwise leave the real one at its default."""
    known = [f.name for f in param_fields(cls)]
    unknown = sorted(set(names) - set(known), key=repr)  # YAML's `1:` or `yes:` too
    if not unknown:
        return
    hints = [f'{name}: did you mean {" or ".join(close)}?' for name in unknown
             if isinstance(name, str)
             and (close := difflib.get_close_matches(name, known, n=3, cutoff=0.6))]
    raise ValueError(f'unknown parameter(s) {unknown} for {owner or cls.__name__}'
                     + (f' ({"; ".join(hints)})' if hints else ''))


def field_value(cls: type, name: str, raw: Any) -> Any:
    """One field's raw value typed and range-checked as at start-up (config_from_dict), for a
    value set at run time: rclpy checks a range only for a value of the declared type."""
    (f,) = [f for f in param_fields(cls) if f.name == name]
    value = coerce(name, f.type, raw)
    check_range(name, value, f.metadata['range'])
    return value


def config_from_dict(cls: type[C], values: dict[str, Any]) -> C:
    """Typed, range-checked config from raw parameter values (None or absent: the default).

    Unknown names are an error, so a misspelt parameter in a YAML file is never ignored (a
    node never sees the names it does not declare here: declare_parameters in
    dp_ros/ros/parameters.py refuses those with the same message).
    """
    fields = param_fields(cls)
    refuse_unknown(cls, values)
    kwargs = {}
    for f in fields:
        raw = values.get(f.name)
        if raw is None:
            kwargs[f.name] = default_of(f)
            continue
        value = coerce(f.name, f.type, raw)
        check_range(f.name, value, f.metadata['range'])
        kwargs[f.name] = value
    return cls(**kwargs)


def markdown_table(cls: type) -> str:
    """The README table of a node's parameters, generated from the same field metadata."""
    rows = ['| parameter | type | default | range | description |',
            '| --- | --- | --- | --- | --- |']
    for f in param_fields(cls):
        meta = f.metadata
        bounds = meta['range']
        rng = f'[{bounds[0]}, {bounds[1]}]' if bounds is not None else ''
        text = meta['description'] + (f' ({meta["unit"]})' if meta['unit'] else '')
        if not meta['read_only']:
            text += '; settable at run time'
        default = default_of(f)
        shown = repr(default) if isinstance(default, str) else str(default).lower() \
            if isinstance(default, bool) else str(default)
        rows.append(f'| `{f.name}` | {f.type} | `{shown}` | {rng} | '
                    f"{text.replace('|', '/')} |")
    return '\n'.join(rows) + '\n'
