"""`python -m dp_ros.ros.node_entry MODULE NAME [ARGS]`: node MODULE run as executable NAME
through processes.run_node_executable, the way dp_ros commands start their nodes
(processes.node_command): its SIGINT, blocked by start_child, is unblocked where a Ctrl-C
before the node runs is a quiet exit. No rclpy import here: that is the node module's."""
from __future__ import annotations

import sys

from dp_ros.ros.processes import run_node_executable


def main(argv: list[str] | None = None) -> int:
    module, name, *args = sys.argv[1:] if argv is None else argv
    sys.argv = [name, *args]  # what the node's run_node hands rclpy.init
    return run_node_executable(module, name)


if __name__ == '__main__':
    sys.exit(main())
