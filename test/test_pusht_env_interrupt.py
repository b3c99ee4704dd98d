"""A Ctrl-C that lands inside pymunk's callbacks reaches the caller: the collision callback
(CI once hung 120 s in `dp-ros eval`: cffi had printed the KeyboardInterrupt and gone on), and
the ones that free a dropped space (a review's reset loop lost one SIGINT in 8 to 40 and then
crashed a collection with a segmentation fault): dropped scenes are freed together, with the
stop signals held back, not by the cycle collector wherever it runs."""
from __future__ import annotations

import gc
import signal
import sys
import weakref

import pymunk
import pytest

from sim_bridge.callback_errors import callback_errors_raised
from sim_bridge.pusht_env import FREE_EVERY, PushTEnv


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler (KeyboardInterrupt), whatever the runner installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt_on_contact(arbiter: pymunk.Arbiter, space: pymunk.Space, data) -> None:
    """A real SIGINT to this process while the C solver is inside its callback."""
    signal.raise_signal(signal.SIGINT)


def test_a_ctrl_c_inside_the_post_solve_callback_stops_the_env_step(ctrl_c_raises):
    env = PushTEnv(render_obs=False)
    env.reset(options={'state': [256.0, 200.0, 256.0, 300.0, 0.0]})  # agent below the T
    env._scene.space.on_collision(0, 0, post_solve=interrupt_on_contact)
    steps = 0
    with pytest.raises(KeyboardInterrupt):
        while steps < 10:  # the agent touches the T on its 4th step
            steps += 1
            env.step([256.0, 300.0])
    assert steps == 4


def two_circles() -> pymunk.Space:
    space = pymunk.Space()
    for x in (0.0, 5.0):
        body = pymunk.Body(1.0, 10.0)
        body.position = x, 0.0
        space.add(body, pymunk.Circle(body, 10.0))
    return space


def test_a_bug_in_a_callback_is_raised_not_printed_and_the_hook_is_restored():
    space = two_circles()
    calls = []

    def buggy(arbiter, space, data):
        calls.append(1)
        raise ZeroDivisionError('a bug in the contact counter')

    space.on_collision(0, 0, post_solve=buggy)
    hook = sys.unraisablehook
    with pytest.raises(ZeroDivisionError, match='contact counter'):
        with callback_errors_raised():
            space.step(0.01)
    assert calls and sys.unraisablehook is hook


def test_without_the_guard_cffi_swallows_it():
    """Why the guard exists: a bare step prints the exception and returns (if a pymunk release
    stops doing so, this fails and the guard can go)."""
    space = two_circles()
    seen = []
    space.on_collision(0, 0, post_solve=lambda a, s, d: 1 / 0)
    previous = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(u.exc_type)
    try:
        space.step(0.01)
    finally:
        sys.unraisablehook = previous
    assert seen == [ZeroDivisionError]


def test_dropped_scenes_are_freed_together_not_left_to_the_collector():
    """With the automatic collector off: the spaces resets (and close) drop are freed in
    batches, at most FREE_EVERY alive; before, each waited for the collector."""
    gc.disable()
    try:
        env = PushTEnv(render_obs=False)
        spaces = []
        for seed in range(2 * FREE_EVERY + 1):
            env.reset(seed=seed)
            spaces.append(weakref.ref(env._scene.space))
        env.close()
        assert 0 < sum(ref() is not None for ref in spaces) <= FREE_EVERY
    finally:
        gc.enable()


def test_a_ctrl_c_while_dropped_scenes_are_freed_is_raised_after_it(ctrl_c_raises):
    """A real SIGINT sent as the collection that frees them starts (with the signal held
    back: in a collector's own collection it was printed and lost): raised by the reset that
    freed them, once the spaces are freed whole."""
    env = PushTEnv(render_obs=False)
    spaces, sent = [], []

    def interrupt(phase: str, info: dict) -> None:
        held = signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        if phase == 'start' and held and not sent:
            sent.append(info['generation'])
            signal.raise_signal(signal.SIGINT)

    gc.callbacks.append(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            for seed in range(FREE_EVERY + 1):
                env.reset(seed=seed)
                spaces.append(weakref.ref(env._scene.space))
    finally:
        gc.callbacks.remove(interrupt)
    assert sent == [2] and spaces[0]() is None


def test_a_closed_env_says_so_and_a_reset_opens_it_again():
    env = PushTEnv(render_obs=False)
    env.reset(seed=0)
    env.close()
    with pytest.raises(RuntimeError, match='this PushTEnv is closed: reset'):
        env.step([256.0, 300.0])
    env.reset(seed=0)
    env.step([256.0, 300.0])
