"""The two ends of a stop-under-load test of node_main: `publish` floods a topic as fast as
it can; `sink` is a run_node node that takes that topic and stops on Ctrl-C / SIGTERM the
way the dp_ros nodes do (interrupt_without_rclpy_shutdown). `reliable TOPIC...` subscribes
reliably to the topics (a controller that a test then freezes, so it acknowledges nothing)."""
from __future__ import annotations

import gc
import sys

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState

from dp_ros.ros.node_main import interrupt_without_rclpy_shutdown, run_node

TOPIC = 'flood'


class Sink(Node):
    def __init__(self):
        super().__init__('flood_sink')
        self.received = 0
        self.create_subscription(JointState, TOPIC, self._on_msg, qos_profile_sensor_data)

    def _on_msg(self, _msg: JointState) -> None:
        self.received += 1
        if self.received == 1:
            print('first message', flush=True)

    def start(self) -> None:
        interrupt_without_rclpy_shutdown()

    def shutdown(self) -> None:
        print(f'shutdown after {self.received} messages, {gc.get_freeze_count()} objects '
              'frozen', flush=True)


def publish() -> None:
    rclpy.init()
    node = rclpy.create_node('flood_publisher')
    pub = node.create_publisher(JointState, TOPIC, qos_profile_sensor_data)
    msg = JointState(name=['a', 'b', 'c'], position=[1.0, 2.0, 3.0])
    try:
        while rclpy.ok():
            pub.publish(msg)
    except (KeyboardInterrupt, ExternalShutdownException, RCLError):
        pass  # stopped (RCLError: the signal took the context between ok() and publish)


def reliable(topics: list[str]) -> None:
    rclpy.init()
    node = rclpy.create_node('reliable_sink')
    for topic in topics:
        node.create_subscription(JointState, topic, lambda _msg: None, 10)
    print('subscribed', flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    if sys.argv[1:] == ['publish']:
        publish()
    elif sys.argv[1:2] == ['reliable']:
        reliable(sys.argv[2:])
    else:
        sys.exit(run_node(Sink, 'flood_sink'))
