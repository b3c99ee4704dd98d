"""Edges of the documented-parameter mechanism (dp_ros/params.py): bools are not numbers,
whole floats become ints (alone and in lists), rclpy's array.array lists are lists, range
bounds are inclusive, run-time values are range-checked, misspelt names get a hint, topic
maps refuse padded values, undocumented types are refused, and README cells escape '|'."""
from __future__ import annotations

from array import array
from dataclasses import dataclass

import pytest

from dp_ros.params import (
    config_from_dict,
    field_value,
    markdown_table,
    param,
    param_fields,
    parse_topic_map,
)


@dataclass
class _Cfg:
    count: int = param(3, 'a count', range=(1, 10))
    gain: float = param(0.5, 'a gain', range=(0.0, 1.0), read_only=False)
    ids: list[int] = param([1], 'some ids', range=(0, 100))
    weights: list[float] = param([], 'some weights')
    max_velocity: float = param(1.0, 'either | or')


@dataclass
class _Undocumented:
    ratio: complex = param(1j, 'a complex ratio')


def test_a_bool_is_not_an_integer_or_a_number():
    with pytest.raises(ValueError, match='parameter count must be an integer, got True'):
        config_from_dict(_Cfg, {'count': True})
    with pytest.raises(ValueError, match='parameter gain must be a number, got False'):
        config_from_dict(_Cfg, {'gain': False})


def test_whole_floats_become_ints_alone_and_in_lists():
    cfg = config_from_dict(_Cfg, {'count': 4.0, 'ids': [1.0, 2.0]})
    assert cfg.count == 4 and type(cfg.count) is int
    assert cfg.ids == [1, 2] and all(type(v) is int for v in cfg.ids)


def test_rclpy_arrays_are_lists():
    cfg = config_from_dict(_Cfg, {'ids': array('q', [5, 6]), 'weights': array('d', [0.5])})
    assert cfg.ids == [5, 6] and cfg.weights == [0.5]


def test_range_bounds_are_inclusive():
    cfg = config_from_dict(_Cfg, {'count': 10, 'gain': 1.0, 'ids': [0, 100]})
    assert (cfg.count, cfg.gain, cfg.ids) == (10, 1.0, [0, 100])
    with pytest.raises(ValueError, match=r'parameter count must be in \[1, 10\], got 11'):
        config_from_dict(_Cfg, {'count': 11})


def test_a_run_time_value_is_typed_and_range_checked():
    assert field_value(_Cfg, 'gain', 1) == 1.0 and type(field_value(_Cfg, 'gain', 1)) is float
    with pytest.raises(ValueError, match=r'parameter gain must be in \[0.0, 1.0\], got 2.0'):
        field_value(_Cfg, 'gain', 2.0)


def test_a_misspelt_name_gets_the_closest_field_as_a_hint():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['max_velocty'\] for _Cfg "
                                         r'\(max_velocty: did you mean max_velocity\?\)'):
        config_from_dict(_Cfg, {'max_velocty': 2.0})


@pytest.mark.parametrize('entry', ['/cam= base', '/cam=base ', 'cam=base', '/cam='])
def test_a_topic_map_entry_must_be_an_absolute_topic_and_an_unpadded_value(entry):
    with pytest.raises(ValueError, match="is not 'topic=frame'"):
        parse_topic_map([entry], 'parameter topic_frame_ids', 'frame', '/cam=base')


def test_a_field_of_an_unsupported_type_is_refused():
    with pytest.raises(TypeError, match="_Undocumented.ratio: type 'complex' is not one of"):
        param_fields(_Undocumented)


def test_the_readme_table_escapes_a_pipe_in_a_description():
    row = [r for r in markdown_table(_Cfg).splitlines() if r.startswith('| `max_velocity`')]
    assert row == ['| `max_velocity` | float | `1.0` |  | either / or |']
