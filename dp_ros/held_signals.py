"""Ctrl-C and SIGTERM held back over a block that must not be cut short, delivered after it.

Where a KeyboardInterrupt raised mid-block does harm: rosbags' exec()'d serializer code
(CPython 3.11 then ends a `python -m` program by SIGINT, dp_ros/bags/typestore.py), and
pymunk freeing a dropped space through cffi callbacks (cffi prints and drops the exception,
the Ctrl-C is lost, and the half-freed chipmunk space crashes a later collection with a
segmentation fault: sim_bridge/pusht_env.py frees its old scenes inside this block).
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

__all__ = ['STOP_SIGNALS', 'signals_held_back', 'signals_noted']

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_noted(signals: Sequence[int]) -> Iterator[list[int]]:
    """Each of `signals` only noted, in the list the block gets, whatever handled it before
    (SIG_DFL too); the handlers in place before are back after the block. Main thread only
    (signal.signal): run_node notes a stop while rclpy and its executor are made, before
    rclpy's own handlers go in, and ends the run on it."""
    came: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _: came.append(signum))
                for sig in signals}
    try:
        yield came
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def signals_held_back(signals: Sequence[int] = STOP_SIGNALS) -> Iterator[None]:
    """The block runs whole; each signal that came meanwhile is raised again after it, to the
    handler that was in place (KeyboardInterrupt, the CLI's SIGTERM-as-interrupt, a node's
    stop flag).

    Only on the main thread, the one that runs Python's handlers and may change them (no
    handler can interrupt a block on another thread), and only for signals a Python function
    handles: one ignored (SIG_IGN: `make test &`, nohup) or left to the default action
    (SIG_DFL: SIGTERM ends the process, nothing half-done survives it) is not touched. Where
    rclpy.init put rclpy's C handler over Python's (signal.getsignal still reads Python's),
    the block leaves Python's in its place: a Ctrl-C still raises KeyboardInterrupt, but no
    longer wakes an executor blocked in a long spin_once (reinstalling rclpy's did not bring
    that back; the project's nodes use their own handlers, node_main, and its other rclpy
    processes spin in steps of 50 ms or on daemon threads). A block that raises gets no
    signal raised after it: its own exception goes on.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with signals_noted([sig for sig in signals if callable(signal.getsignal(sig))]) as came:
        yield
    for signum in dict.fromkeys(came):
        signal.raise_signal(signum)
