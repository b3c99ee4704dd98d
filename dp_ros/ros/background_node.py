"""A node with an rclpy context of its own, spun on a background thread.

Tools (replay, teleop, the bag recorder) and tests run such a node next to other nodes in the
same process without touching the global rclpy context: init and shutdown stay private, so
closing one never stops another, and the caller's thread stays free to wait on the messages.
"""
from __future__ import annotations

import threading
import time
import traceback
from collections import Counter
from typing import Any, Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from dp_ros.held_signals import signals_held_back

# a query's (get_parameters, get_state) `resend_s` in call(): long past a reply on a busy
# machine, short beside a caller's 10 s timeout
QUERY_RESEND_S = 1.0


class NoReply(TimeoutError):
    """A service that was found but gave no answer within the timeout (busy: a managed
    node's configure loading the policy), apart from one that never appeared."""


class BackgroundNode:
    """`.context`, `.node` and `.executor`, spinning on a daemon thread unless `spin=False`.

    With `spin=False` the caller spins `.executor` itself (or calls `start()` once its
    subscriptions exist). `close()` may be called any number of times; `with` calls it too.
    A callback that raises on the spin thread is logged (once per exception type, counted in
    `callback_errors`) and the spinning goes on; it ends with close() or the context.
    """

    def __init__(self, name: str, namespace: str = '', *, spin: bool = True):
        self._thread: threading.Thread | None = None
        self._closed = False
        # exceptions raised by callbacks on the spin thread, per type (logged once per type)
        self.callback_errors: Counter[str] = Counter()
        self.context = Context()
        try:
            # held back (bounded: rcl's init, one node, its executor): a Ctrl-C inside the
            # executor's __init__ left it half made (its __del__ printed an AttributeError
            # traceback at exit) and the context open; delivered after it, with all closed
            with signals_held_back():
                rclpy.init(context=self.context)
                self.node: Node = rclpy.create_node(name, namespace=namespace or None,
                                                    context=self.context)
                self.executor = SingleThreadedExecutor(context=self.context)
                self.executor.add_node(self.node)
        except BaseException:
            if hasattr(self, 'executor'):  # built whole: a stop that came meanwhile
                self.close()
            elif self.context.ok():  # a node or executor rcl refused
                rclpy.shutdown(context=self.context)
            raise
        if spin:
            self.start()

    def start(self) -> None:
        """Spin on a daemon thread until close() or the context's shutdown; a second call
        does nothing."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._spin, name=f'spin {self.node.get_name()}',
                                            daemon=True)
            self._thread.start()

    def _spin(self) -> None:
        while not self._closed and self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception as exc:
                if not self.context.ok() or self._closed:
                    return  # the context was shut down while spinning
                # a callback raised: one bad message must not end the spinning for good
                # (teleop's view froze, a replay stopped hearing the sim)
                self._callback_failed(exc)

    def _callback_failed(self, exc: Exception) -> None:
        """Count a callback's exception and log it, once per exception type, with where it
        was raised and its message (the traceback's last lines); the spinning goes on."""
        name = type(exc).__name__
        self.callback_errors[name] += 1
        if self.callback_errors[name] > 1:
            return
        frames = traceback.extract_tb(exc.__traceback__)
        where = f' at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}' \
            if frames else ''
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        self.node.get_logger().error(
            f'a callback raised{where}: {last} (logged once per exception type; the node '
            'goes on spinning; callback_errors counts them)')

    def call(self, srv_type: Any, name: str, request: Any, timeout: float,
             while_waiting: Callable[[], None] | None = None,
             resend_s: float | None = None) -> Any:
        """Call a service from a thread other than the spin thread; TimeoutError if it does
        not appear within `timeout` s, NoReply (one) if it does and does not answer.
        `while_waiting` runs every few ms (it may raise, e.g. when the process serving the
        call has died). `resend_s`, for a request that changes nothing (a query): asked again
        after that many seconds without a reply, as the reply to a client the server has not
        yet matched is lost (rmw_fastrtps waits 100 ms for its reader, then drops it)."""
        client = self.node.create_client(srv_type, name)
        try:
            deadline = time.monotonic() + timeout
            while not client.wait_for_service(timeout_sec=min(0.5, timeout)):
                if while_waiting is not None:
                    while_waiting()
                if time.monotonic() > deadline:
                    raise TimeoutError(f'service {name} not available after {timeout:g} s')
            future, sent = client.call_async(request), time.monotonic()
            while not future.done():
                if while_waiting is not None:
                    while_waiting()
                if time.monotonic() > deadline:
                    raise NoReply(f'no reply from {name} after {timeout:g} s')
                if resend_s is not None and time.monotonic() - sent >= resend_s:
                    future, sent = client.call_async(request), time.monotonic()
                time.sleep(0.01)
            return future.result()
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # the spin thread ends first, so no callback runs while the node is destroyed
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            if self.context.ok():
                rclpy.shutdown(context=self.context)

    def __enter__(self) -> BackgroundNode:  # not typing.Self: Humble's Python is 3.10
        return self

    def __exit__(self, *exc) -> None:
        self.close()
