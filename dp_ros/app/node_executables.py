"""The node executables (setup.py console_scripts): each checks the ROS variables before it
imports its node's module, which imports rclpy at its top (an RMW_IMPLEMENTATION rcl cannot
load would end the process there with rcl's own lines and exit 102; checked, it is one line
and exit 2). Here, in the app layer, since the sim node is sim_bridge's."""
from __future__ import annotations

from dp_ros.ros.processes import run_node_executable


def policy_node() -> int:
    """The policy_node executable."""
    return run_node_executable('dp_ros.ros.policy_node', 'dp_policy')


def policy_lifecycle_node() -> int:
    """The policy_lifecycle_node executable."""
    return run_node_executable('dp_ros.ros.policy_lifecycle_node', 'dp_policy')


def pusht_sim_node() -> int:
    """The pusht_sim_node executable."""
    return run_node_executable('sim_bridge.pusht_sim_node', 'pusht_sim')
