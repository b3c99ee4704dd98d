"""The QoS profiles every dp_ros node uses, defined once.

Cameras: sensor-data QoS (best effort, keep last 5): a late frame is worth nothing. In
lockstep a frame lost in transport is no lost step: the sim republishes the waiting step's
observation every obs_republish_period_s and the node, waiting for that step, plans on the
re-sent frame. A reliable camera publisher alone would not help a best-effort subscription:
DDS serves each best-effort reader best effort.
Commands, results and diagnostics: reliable. Episode announcements: latched (transient
local), so a node that starts late still learns the running episode.

Every publisher and subscription of a dp_ros node is made by `make_publisher` /
`make_subscription` here, so that a parameter file may override its reliability, history and
depth
(`qos_overrides./topic.publisher.reliability: reliable`), as ROS 2 nodes allow: a driver's
or a controller's QoS can be matched without code.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.subscription import Subscription

SENSOR_DATA = qos_profile_sensor_data
RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Joint states: best effort (matches reliable and best-effort publishers alike), with a queue
# deep enough for 100+ Hz streams while sampling holds the GIL for a few ms at a time.
JOINT_STATES = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)


def make_publisher(node: Node, msg_type: Any, topic: str, profile: QoSProfile
                   ) -> Publisher:
    """node.create_publisher whose QoS the node's qos_overrides parameters may change
    (`profile` is copied: rclpy writes the overrides into the profile it is given)."""
    return node.create_publisher(msg_type, topic, copy.copy(profile),
                                 qos_overriding_options=QoSOverridingOptions
                                 .with_default_policies())


def make_subscription(node: Node, msg_type: Any, topic: str,
                      callback: Callable[[Any], None], profile: QoSProfile) -> Subscription:
    """node.create_subscription whose QoS the node's qos_overrides parameters may change."""
    return node.create_subscription(msg_type, topic, callback, copy.copy(profile),
                                    qos_overriding_options=QoSOverridingOptions
                                    .with_default_policies())

