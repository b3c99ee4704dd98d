"""The one `main()` of every dp_ros node executable: init, build, spin, shut down cleanly.

A configuration error (ValueError, a bad parameter or name) is one line on stderr naming the
problem and exit code 2, never a traceback. A node may define `start()` (called once it is
in the executor), `shutdown()` (called before it is destroyed) and `finished()` (spinning stops
when it returns True, e.g. a worker thread that ended); `exit_code()` gives the return value.
"""
from __future__ import annotations

import signal
import sys
from collections.abc import Callable

import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

CONFIG_ERRORS = (ValueError, ParameterException, NameValidationException)


def run_node(make_node: Callable[[], Node], name: str, argv: list[str] | None = None) -> int:
    args = sys.argv if argv is None else [name, *argv]
    rclpy.init(args=args)
    node = None
    executor = SingleThreadedExecutor()
    try:
        try:
            node = make_node()
        except CONFIG_ERRORS as exc:
            print(f'{name}: invalid configuration: {exc}', file=sys.stderr)
            return 2
        executor.add_node(node)
        if hasattr(node, 'start'):
            node.start()
        finished = getattr(node, 'finished', None)
        if finished is None:
            executor.spin()
        else:
            while rclpy.ok() and not finished():
                executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            if hasattr(node, 'shutdown'):
                node.shutdown()
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown(timeout_sec=1.0)
        if rclpy.ok():
            rclpy.shutdown()
    exit_code = getattr(node, 'exit_code', None)
    return int(exit_code()) if exit_code is not None else 0


def interrupt_without_rclpy_shutdown() -> None:
    """Ctrl-C / SIGTERM raise KeyboardInterrupt with the context still valid, so shutdown()
    can publish the hold (rclpy's own handlers shut the context down first)."""
    from rclpy.signals import uninstall_signal_handlers

    def interrupt(*_):
        raise KeyboardInterrupt

    uninstall_signal_handlers()
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
