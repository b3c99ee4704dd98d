"""Node parameters from a documented config dataclass (dp_ros/params.py): declare and read.

One call per node: `cfg = declare_parameters(self, MyNodeConfig)` declares every field with its
description, range and read_only flag, and returns the checked config.

A parameter given to the node (-p, --params-file, a launch file) that it does not declare is
an error naming it and the closest declared names: rclpy would keep it aside without a word,
and a misspelt limit (max_velocty, max_step) would leave the real one at its default. Every
block of a parameter file that matches the node counts, `/**:` too: a file shared by nodes
of different parameters gives each its own block (`/**/dp_policy:`, `/**/pusht_sim:`), as the
shipped ones do. Exempt: what rclpy declares itself (use_sim_time,
start_type_description_service, qos_overrides.*, declared with a publisher later).

Every topic and service parameter (a str or list[str] field named *_topic(s) or *_service) is
checked as a ROS name once expanded for the node: rcl refuses a bad one only when the
publisher is made, which the managed policy node does at configure, after loading the policy.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy._rclpy_pybind11 import RCLError
from rclpy.exceptions import NameValidationException
from rclpy.expand_topic_name import expand_topic_name
from rclpy.parameter import Parameter
from rclpy.validate_full_topic_name import validate_full_topic_name

from dp_ros.params import config_from_dict, default_of, param_fields, refuse_unknown

C = TypeVar('C')
T = TypeVar('T')

# what rclpy declares on every node, and the QoS overrides it declares with a publisher or
# subscription (made after the node's own parameters are read)
ROS_PARAMETERS = frozenset({'use_sim_time', 'start_type_description_service'})
ROS_PARAMETER_PREFIXES = ('qos_overrides.',)


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
    """Declare every field of `cls` on `node` and read them back as a checked config.

    Call it after the node's other declare_parameter calls (the sim's deprecated names):
    whatever was given and is still undeclared then is refused (the module docstring)."""
    values = {}
    defaults = {f.name: default_of(f) for f in param_fields(cls)}
    for name, desc in descriptors(cls).items():
        values[name] = given_value(
            node, name, node.declare_parameter(name, ros_default(defaults[name]), desc).value,
            defaults[name])
    refuse_unknown(cls, undeclared_overrides(node), f'node {node.get_fully_qualified_name()}')
    config = config_from_dict(cls, values)
    check_names(node, config)
    if validate is not None:
        validate(config)
    return config


def read_parameters(node: Any, cls: type[C]) -> C:
    """The declared fields of `cls` as `node` holds them now, as a config: a managed node's
    configure reads them afresh (its checkpoint an hf:// spec again, not the snapshot the
    last configure resolved it to)."""
    defaults = {f.name: default_of(f) for f in param_fields(cls)}
    return config_from_dict(cls, {name: given_value(node, name, node.get_parameter(name).value,
                                                    defaults[name])
                                  for name in descriptors(cls)})


def given_value(node: Any, name: str, value: Any, default: Any) -> Any:
    """A parameter's value as given: `name: []` in a YAML file (or -p name:=[]) reaches rclpy
    as an override of no type, which it keeps unset, so a list parameter read back as the
    default ([] image_topics as the Push-T camera, [] state_joint_names as agent_x, agent_y),
    and the error named values the user never wrote. Such a list is the empty list: for a
    list parameter its value, for any other an error naming it (not the default)."""
    if value is not None:
        return value
    override = getattr(node, '_parameter_overrides', {}).get(name)  # no public accessor
    if override is not None and override.type_ == Parameter.Type.NOT_SET:
        return []
    return value


def ros_default(default: Any) -> Any:
    """The value a parameter is declared with: its default, which `ros2 param get` and the
    GetParameters service show (declared unset, a list default ['/pusht/image_raw'] read "Parameter
    not set" while the node used it); an empty list unset: rclpy types [] as a byte array,
    and with dynamic typing it sets the descriptor's type from the value, so no type can be
    given for it. An override (-p, a YAML file) replaces either."""
    if isinstance(default, list):
        return list(default) or None
    return default


def undeclared_overrides(node: Any) -> list[str]:
    """The names given to `node` that it has not declared, rclpy's own aside."""
    given = getattr(node, '_parameter_overrides', {})  # rclpy has no public accessor
    return sorted(name for name in given if not node.has_parameter(name)
                  and name not in ROS_PARAMETERS
                  and not name.startswith(ROS_PARAMETER_PREFIXES))


def name_kind(field_name: str, field_type: str) -> str | None:
    """'topic' or 'service' for a field that holds ROS names, else None (debug_topics: bool)."""
    if field_type not in ('str', 'list[str]'):
        return None
    if field_name.endswith(('_topic', '_topics')):
        return 'topic'
    return 'service' if field_name.endswith('_service') else None


def check_names(node: Any, config: Any) -> None:
    """ValueError naming the parameter of a topic or service name rcl would refuse; an empty
    name is left to the config's own checks (empty: off, or an error that says more)."""
    for f in fields(config):
        kind = name_kind(f.name, f.type)
        if kind is None:
            continue
        value = getattr(config, f.name)
        for name in value if isinstance(value, list) else [value]:
            if name:
                check_name(node, f.name, name, kind)


def check_name(node: Any, parameter: str, name: str, kind: str) -> None:
    """`name` expanded for `node` (~, {node}, a relative name) must be a valid ROS name."""
    try:
        full = expand_topic_name(name, node.get_name(), node.get_namespace())
        validate_full_topic_name(full, is_service=kind == 'service')
    except (ValueError, NameValidationException) as exc:
        raise ValueError(f'parameter {parameter}: {name!r} is not a valid {kind} name '
                         f'({name_error(exc)})') from None


def name_error(exc: Exception) -> str:
    """rcl's reason alone: its messages repeat the name, add a source line and a caret line."""
    text = str(exc).strip().splitlines()[0]
    text = re.sub(r', at \S+:\d+$', '', text)
    text = re.sub(r"^(Invalid \w+ name: |\w+ name '.*' is invalid: )", '', text)
    return text.rstrip(':')


def resolved_name(node: Any, name: str, kind: str = 'topic') -> str:
    """`name` as `node` uses it: expanded (namespace, ~, {node}) and remapped (-r), as its
    publishers and subscriptions name it; as written when empty or refused (checked
    before, by check_names)."""
    if not name:
        return name
    try:
        return (node.resolve_service_name(name) if kind == 'service'
                else node.resolve_topic_name(name))
    except (RCLError, ValueError, NameValidationException):
        return name


def resolved_topics(node: Any, obj: T) -> T:
    """A copy of a dataclass whose topic and service names (the fields name_kind names, and
    a str field `topic`) read as `node` resolves them (resolved_name); dataclasses in its
    list fields likewise (a setup's state sources). What a start-up line names: the topics
    subscribed and published, not the parameters as written (`cam/image_raw` under
    __ns:=/left is /left/cam/image_raw)."""
    changes: dict[str, Any] = {}
    for f in fields(obj):
        if not f.init:
            continue
        value = getattr(obj, f.name)
        kind = 'topic' if f.name == 'topic' and f.type == 'str' else name_kind(f.name, f.type)
        if kind is not None and isinstance(value, str):
            changes[f.name] = resolved_name(node, value, kind)
        elif kind is not None and isinstance(value, list):
            changes[f.name] = [resolved_name(node, v, kind) if isinstance(v, str) else v
                               for v in value]
        elif isinstance(value, list) and any(dataclasses.is_dataclass(v) for v in value):
            changes[f.name] = [resolved_topics(node, v) if dataclasses.is_dataclass(v) else v
                               for v in value]
    return dataclasses.replace(obj, **changes)
