"""dp_ros/held_signals.py: real signals sent to this process during the block."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from dp_ros.held_signals import signals_held_back


@pytest.fixture
def handlers():
    """Python's Ctrl-C handler and a SIGTERM handler that records, put back afterwards."""
    got: list[int] = []
    old = (signal.signal(signal.SIGINT, signal.default_int_handler),
           signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum)))
    yield got
    signal.signal(signal.SIGINT, old[0])
    signal.signal(signal.SIGTERM, old[1])


def test_both_signals_wait_for_the_block_and_reach_their_handlers_after_it(handlers):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held_back():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            done.append(list(handlers))  # neither handler ran inside the block
    assert done == [[]]
    assert handlers == [signal.SIGTERM]  # delivered in the order they came
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_block_that_raises_keeps_its_exception(handlers):
    with pytest.raises(ValueError, match='its own'):
        with signals_held_back():
            os.kill(os.getpid(), signal.SIGINT)
            raise ValueError('its own')
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize('action', [signal.SIG_DFL, signal.SIG_IGN])
def test_the_default_action_and_an_ignored_signal_are_not_touched(action):
    """SIGTERM left to SIG_DFL (or a C handler such as rclpy's), or ignored: not replaced, so
    nothing signal.signal could not put back is lost, and an ignored signal stays ignored."""
    old = signal.signal(signal.SIGTERM, action)
    try:
        seen = []
        with signals_held_back():
            seen.append(signal.getsignal(signal.SIGTERM))
        assert seen == [action]
    finally:
        signal.signal(signal.SIGTERM, old)


def test_a_signal_that_came_twice_is_delivered_once(handlers):
    with signals_held_back():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
    assert handlers == [signal.SIGTERM]


def test_a_block_on_another_thread_runs_untouched():
    """Off the main thread no handler is changed (signal.signal would raise there)."""
    errors: list[BaseException] = []
    ran: list[bool] = []

    def work() -> None:
        try:
            with signals_held_back():
                ran.append(True)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(5.0)
    assert ran == [True] and errors == []
