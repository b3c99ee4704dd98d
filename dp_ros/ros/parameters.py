"""Node parameters from a documented config dataclass (dp_ros/params.py): declare and read.

One call per node: `cfg = declare_parameters(self, MyNodeConfig)` declares every field with its
description, range and read_only flag, and returns the checked config.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from dp_ros.params import config_from_dict, default_of, param_fields

C = TypeVar('C')


def descriptors(cls: type) -> dict[str, Any]:
    """name -> rcl_interfaces ParameterDescriptor (description, range, read_only).

    Dynamic typing: YAML gives 1 for 1.0 and [] without a type; config_from_dict checks types.
    """
    out = {}
    for f in param_fields(cls):
        meta = f.metadata
        text = meta['description'] + (f' [{meta["unit"]}]' if meta['unit'] else '')
        desc = ParameterDescriptor(name=f.name, description=text, read_only=meta['read_only'],
                                   dynamic_typing=True)
        bounds = meta['range']
        if bounds is not None and f.type == 'int':
            desc.integer_range = [IntegerRange(from_value=int(bounds[0]),
                                               to_value=int(bounds[1]), step=0)]
        elif bounds is not None and f.type == 'float':
            desc.floating_point_range = [FloatingPointRange(
                from_value=float(bounds[0]), to_value=float(bounds[1]), step=0.0)]
        out[f.name] = desc
    return out


def declare_parameters(node: Any, cls: type[C], validate: Callable[[C], None] | None = None
                       ) -> C:
    """Declare every field of `cls` on `node` and read them back as a checked config."""
    values = {}
    defaults = {f.name: default_of(f) for f in param_fields(cls)}
    for name, desc in descriptors(cls).items():
        default = defaults[name]
        initial = None if isinstance(default, list) else default  # [] has no ROS type
        values[name] = node.declare_parameter(name, initial, desc).value
    config = config_from_dict(cls, values)
    if validate is not None:
        validate(config)
    return config
