"""Edges of declaring node parameters and QoS (dp_ros/ros/parameters.py, dp_ros/ros/qos.py),
on in-process rclpy nodes that are made and destroyed, never spun: descriptors carry unit and
read_only, rclpy's own names and qos_overrides pass while a misspelt name is refused, topic
list and service parameters are checked as ROS names (an empty one is off), a validate hook
runs, and the shared QoS profiles keep their policies when overrides apply."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
from std_msgs.msg import String

from dp_ros.params import param
from dp_ros.ros import qos
from dp_ros.ros.parameters import (
    check_name,
    declare_parameters,
    descriptors,
    name_kind,
    undeclared_overrides,
)


@dataclass
class _NodeCfg:
    image_topic: str = param('image', 'camera topic')
    extra_topics: list[str] = param([], 'more topics')
    reset_service: str = param('', 'reset service (empty: none)')
    debug_topics: bool = param(False, 'publish debug topics')
    gain: float = param(0.5, 'a gain', range=(0.0, 1.0), unit='s', read_only=False)
    ids: list[int] = param([1], 'some ids')


@contextlib.contextmanager
def _node(**overrides):
    """A node of its own context given `overrides` (-p name:=value), destroyed after."""
    context = Context()
    rclpy.init(context=context)
    node = Node('edges_probe', namespace='/edges', context=context,
                parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_descriptors_carry_the_unit_and_the_read_only_flag():
    desc = descriptors(_NodeCfg)
    assert desc['gain'].description == 'a gain [s]' and desc['gain'].read_only is False
    assert desc['image_topic'].description == 'camera topic' and desc['image_topic'].read_only
    (bounds,) = desc['gain'].floating_point_range
    assert (bounds.from_value, bounds.to_value) == (0.0, 1.0)


def test_defaults_and_overrides_come_back_as_the_config():
    with _node(ids=[4, 5], extra_topics=['/a', 'b']) as node:
        cfg = declare_parameters(node, _NodeCfg)
    assert cfg == _NodeCfg(ids=[4, 5], extra_topics=['/a', 'b'])


def test_rclpy_names_and_qos_overrides_are_not_unknown_but_a_typo_is():
    given = {'use_sim_time': False, 'qos_overrides./image.subscription.depth': 3, 'gian': 0.7}
    with _node(**given) as node:
        assert undeclared_overrides(node) == ['gian']  # rclpy's own are exempt
        with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['gian'\] for node "
                                             r'/edges/edges_probe \(gian: did you mean gain\?\)'):
            declare_parameters(node, _NodeCfg)
        assert undeclared_overrides(node) == ['gian']


@pytest.mark.parametrize('name, value, kind', [
    ('image_topic', 'bad topic', 'topic'),
    ('extra_topics', ['/ok', '/a//b'], 'topic'),
    ('reset_service', '/1reset', 'service'),
])
def test_topic_and_service_parameters_are_checked_as_ros_names(name, value, kind):
    with _node(**{name: value}) as node, pytest.raises(
            ValueError, match=rf'parameter {name}: .* is not a valid {kind} name \('):
        declare_parameters(node, _NodeCfg)


def test_name_kinds():
    assert name_kind('state_topics', 'list[str]') == 'topic'
    assert name_kind('reset_service', 'str') == 'service'
    assert name_kind('debug_topics', 'bool') is None
    assert name_kind('image_topic', 'int') is None


def test_an_empty_name_is_off_and_a_bool_named_topics_is_no_name():
    with _node(reset_service='', debug_topics=True) as node:
        cfg = declare_parameters(node, _NodeCfg)
    assert cfg.reset_service == '' and cfg.debug_topics is True


def test_a_name_error_is_rcls_reason_without_its_source_line():
    with _node() as node, pytest.raises(ValueError) as info:
        check_name(node, 'image_topic', 'a/{bad}', 'topic')
    assert str(info.value) == ("parameter image_topic: 'a/{bad}' is not a valid topic name "
                               '(unknown substitution: {bad})')


def test_the_validate_hook_sees_the_config():
    seen = []
    with _node(gain=0.25) as node:
        declare_parameters(node, _NodeCfg, validate=lambda cfg: seen.append(cfg.gain))
    assert seen == [0.25]


def test_the_shared_profiles():
    assert (qos.RELIABLE_10.depth, qos.RELIABLE_10.reliability) == (
        10, ReliabilityPolicy.RELIABLE)
    assert (qos.LATCHED.depth, qos.LATCHED.reliability, qos.LATCHED.durability) == (
        1, ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL)
    assert (qos.JOINT_STATES.depth, qos.JOINT_STATES.reliability) == (
        50, ReliabilityPolicy.BEST_EFFORT)


def test_qos_overrides_apply_to_one_endpoint_and_leave_the_shared_profile_alone():
    with _node(**{'qos_overrides./cmd.publisher.depth': 3,
                  'qos_overrides./obs.subscription.depth': 4}) as node:
        publisher = qos.make_publisher(node, String, '/cmd', qos.RELIABLE_10)
        subscription = qos.make_subscription(node, String, '/obs', lambda _: None,
                                             qos.RELIABLE_10)
        assert publisher.qos_profile.depth == 3 and subscription.qos_profile.depth == 4
        assert node.has_parameter('qos_overrides./obs.subscription.reliability')
    assert qos.RELIABLE_10.depth == 10


def test_an_empty_list_in_a_parameter_file_is_the_empty_list_not_the_default(tmp_path):
    """`ids: []` reaches rclpy as an override of no type, which it keeps unset: the list was
    read back as its default ([1]), and an error then named values never written."""
    from dp_ros.ros.parameters import read_parameters

    params = tmp_path / 'params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    ids: []\n    extra_topics: []\n')
    context = Context()
    rclpy.init(context=context, args=['probe', '--ros-args', '--params-file', str(params),
                                      '-p', 'image_topic:=cam'])
    node = Node('edges_probe', namespace='/edges', context=context)
    try:
        cfg = declare_parameters(node, _NodeCfg)
        assert cfg.ids == [] and cfg.extra_topics == [] and cfg.image_topic == 'cam'
        assert read_parameters(node, _NodeCfg).ids == []  # a managed node's configure
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
    with _node() as node:  # not given: the default
        assert declare_parameters(node, _NodeCfg).ids == [1]
