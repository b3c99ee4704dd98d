"""Topic names as a node resolves them (dp_ros/ros/parameters.py resolved_topics), for the
policy node's start-up line: under `-r __ns:=/left` a relative `cam/image_raw` is subscribed
as /left/cam/image_raw and `-r` remaps apply, so the line that an operator reads to check the
wiring must name those, as the node's warnings do. In-process rclpy nodes, never spun."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import rclpy
from rclpy.context import Context
from rclpy.node import Node

from dp_ros.params import config_from_dict, param
from dp_ros.ros.parameters import resolved_name, resolved_topics
from dp_ros.runtime.policy_node_config import PolicyNodeConfig


@dataclass(frozen=True)
class _Source:
    topic: str
    joints: tuple[str, ...] = ()


@dataclass
class _Cfg:
    image_topics: list[str] = param(['cam/image_raw'], 'cameras')
    action_topic: str = param('joint_trajectory', 'commands')
    reset_service: str = param('~/reset', 'a service')
    episode_start_topic: str = param('', 'off when empty')
    frame_id: str = param('base', 'not a name')


@dataclass
class _Setup:
    sources: list[_Source] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _node(*ros_args: str):
    context = Context()
    rclpy.init(context=context)
    node = Node('dp_policy', context=context, cli_args=['--ros-args', *ros_args])
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_names_are_expanded_in_the_namespace_and_remapped():
    with _node('-r', '__ns:=/left', '-r', '/left/joint_trajectory:=/arm/cmd') as node:
        cfg = resolved_topics(node, _Cfg())
        setup = resolved_topics(node, _Setup([_Source('joint_states', ('j',))], ['cam']))
        assert resolved_name(node, '~/dry_run') == '/left/dp_policy/dry_run'
    assert cfg == _Cfg(image_topics=['/left/cam/image_raw'], action_topic='/arm/cmd',
                       reset_service='/left/dp_policy/reset', episode_start_topic='',
                       frame_id='base')
    assert setup == _Setup([_Source('/left/joint_states', ('j',))], ['cam'])


def test_the_policy_config_copies_with_its_topics_resolved():
    cfg = config_from_dict(PolicyNodeConfig, {'image_topics': ['cam/image_raw'],
                                              'action_topic': 'joint_trajectory'})
    with _node('-r', '__ns:=/right') as node:
        shown = resolved_topics(node, cfg)
    assert shown.image_topics == ['/right/cam/image_raw']
    assert shown.action_topic == '/right/joint_trajectory'
    assert shown.checkpoint == cfg.checkpoint and cfg.image_topics == ['cam/image_raw']
