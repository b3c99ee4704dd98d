"""Behaviour of seven small modules that their other tests left unpinned (a mutation review of
training/eval_env.py, sim_bridge/pusht_geometry.py, dp_ros/held_signals.py,
dp_ros/ros/clock_guard.py, sim_bridge/callback_errors.py, dp_ros/policy/fingerprint.py and
training/gpu_batches.py): check_eval_fits closes the env it builds, also when it refuses the
policy, and cartesian_keys gives yaw_min as a float; signals_held_back holds the signals it
is given, and one held back over a block that raised is not delivered after it; a /clock
message rclpy cannot take is logged once per process (a node-less TimeSource skips it
without a crash), a second install wraps nothing again, and an error that is not a bad time
still ends the callback; callback_errors_raised keeps an interrupt from anywhere in the
block and raises the first of several, hands an ordinary exception from outside a cffi
callback to the previous hook, and lets the block's own exception go on; the fingerprint is
the one its docstring describes (numpy generator 0, torch generator 0, little-endian fp32,
16 hex digits), taken at the thread count and TorchScript setting asked for, with torch's
thread count put back; DeviceBatches pads a window with its first and last steps, applies
key_first_k to the action too, refuses an image array that is not (N, H, W, C) and makes
float64 low-dim arrays float32.

Each test kills a mutant the module's other tests let live; the whole file runs in seconds on
one core. Defects it found, mended and pinned at the end: t_reach_past_walls read a NaN pose
as inside the walls (nan) and failed on a pose of 4 numbers with 'too many values to unpack',
where coverage refuses both clearly (one finite_pose now); DeviceBatches took a key_first_k
of 0 or past the window, which SequenceSampler refuses (one checked_first_k now).
"""
from __future__ import annotations

import hashlib
import math
import sys

import numpy as np
import pytest
import torch
from support import ARM_JOINTS, make_tiny_checkpoint, tiny_pusht_config

from training.eval_env import cartesian_keys, check_eval_fits

# --- training/eval_env.py --------------------------------------------------------------------

def test_cartesian_keys_give_yaw_min_as_a_float():
    """A yaw_min recorded as the JSON integer 0 comes back as the float 0.0."""
    fields = ['x', 'y', 'z', 'yaw']
    meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                    'joint_pos': {'shape': [4], 'type': 'low_dim', 'names': fields,
                                  'sources': [{'kind': 'pose', 'topic': '/ee_pose', 'width': 4,
                                               'yaw_min': 0}]}},
            'action': {'shape': [4], 'names': fields}}
    yaw_min = cartesian_keys(tiny_pusht_config(shape_meta=meta))[3]
    assert type(yaw_min) is float and yaw_min == 0.0


@pytest.mark.parametrize('fits', [True, False])
def test_check_eval_fits_closes_the_env_it_built(monkeypatch, fits):
    """The probe env is closed whether the policy fits or is refused (an arm policy's joint
    state on the point pusher)."""
    from sim_bridge.pusht_env import PushTEnv

    closed = []
    close = PushTEnv.close

    def counting_close(self):
        closed.append(self)
        return close(self)

    monkeypatch.setattr(PushTEnv, 'close', counting_close)
    if fits:
        check_eval_fits('point', tiny_pusht_config())
    else:
        meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                        'joint_pos': {'shape': [3], 'type': 'low_dim',
                                      'names': list(ARM_JOINTS)}},
                'action': {'shape': [3]}}
        with pytest.raises(ValueError, match='this policy reads joint_pos'):
            check_eval_fits('point', tiny_pusht_config(shape_meta=meta))
    assert len(closed) == 1


# --- dp_ros/held_signals.py ------------------------------------------------------------------

def test_a_block_that_raises_gets_no_held_signal_raised_after_it():
    """A SIGTERM that came during a block that raised is not delivered after it: the block's
    own exception goes on alone (the suite pinned this only for SIGINT, whose
    KeyboardInterrupt would end pytest itself)."""
    import os
    import signal

    from dp_ros.held_signals import signals_held_back

    got: list[int] = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        with pytest.raises(ValueError, match='its own'):
            with signals_held_back():
                os.kill(os.getpid(), signal.SIGTERM)
                raise ValueError('its own')
    finally:
        signal.signal(signal.SIGTERM, old)
    assert got == []


def test_the_signals_asked_for_are_the_ones_held_back():
    """signals_held_back(signals=[SIGUSR1]) holds SIGUSR1 (not only the stop signals) and
    leaves SIGTERM's handler alone."""
    import os
    import signal

    from dp_ros.held_signals import signals_held_back

    got: list[int] = []
    record = lambda signum, frame: got.append(signum)  # noqa: E731
    old = (signal.signal(signal.SIGUSR1, record), signal.signal(signal.SIGTERM, record))
    try:
        inside = []
        with signals_held_back([signal.SIGUSR1]):
            os.kill(os.getpid(), signal.SIGUSR1)
            inside.append((list(got), signal.getsignal(signal.SIGTERM) is record))
        assert inside == [([], True)]
        assert got == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, old[0])
        signal.signal(signal.SIGTERM, old[1])


# --- dp_ros/ros/clock_guard.py ---------------------------------------------------------------

@pytest.fixture
def guarded_clock(monkeypatch):
    """clock_guard installed, its process-wide count at 0 for the test (put back after)."""
    from dp_ros.ros import clock_guard

    clock_guard.install()
    monkeypatch.setattr(clock_guard, '_skipped', 0)
    return clock_guard


def bad_clock():
    from builtin_interfaces.msg import Time
    from rosgraph_msgs.msg import Clock

    return Clock(clock=Time(sec=-1, nanosec=3))


def test_a_second_install_wraps_nothing_again(guarded_clock):
    from rclpy.time_source import TimeSource

    wrapped = TimeSource.clock_callback
    guarded_clock.install()
    assert TimeSource.clock_callback is wrapped


def test_a_skipped_clock_message_is_logged_once_per_process(guarded_clock, capfd):
    import rclpy
    from rclpy.time_source import TimeSource

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('dp_ros_clock_guard_probe', context=context)
        try:
            source = TimeSource(node=node)
            for _ in range(3):
                source.clock_callback(bad_clock())
            assert guarded_clock.skipped_clock_messages() == 3
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    err = capfd.readouterr().err
    assert err.count('/clock message skipped') == 1, err
    assert 'sec -1, nanosec 3' in err


def test_a_node_less_time_source_skips_the_first_message_without_a_crash(guarded_clock):
    from rclpy.time_source import TimeSource

    TimeSource().clock_callback(bad_clock())
    assert guarded_clock.skipped_clock_messages() == 1


def test_an_error_that_is_not_a_bad_time_is_not_swallowed(guarded_clock):
    """Only the ValueError of a time rclpy cannot take is skipped: a message that is no
    Clock at all still raises (a bug shows), and is not counted."""
    from rclpy.time_source import TimeSource

    with pytest.raises(AttributeError):
        TimeSource().clock_callback(object())
    assert guarded_clock.skipped_clock_messages() == 0


# --- dp_ros/policy/fingerprint.py ------------------------------------------------------------

@pytest.fixture(scope='module')
def tiny_policy_dir(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('fingerprint') / 'tiny')


def test_the_fingerprint_is_the_documented_one(tiny_policy_dir):
    """sha256 over the little-endian fp32 action_pred for observations from numpy's generator
    0 (keys in obs_keys order, n_obs_steps each) and noise from a torch generator seeded 0."""
    from dp_ros.policy.checkpoint import load_policy
    from dp_ros.policy.fingerprint import chunk_fingerprint

    policy = load_policy(tiny_policy_dir, device='cpu', dtype=None)
    policy.use_torchscript(False)
    cfg = policy.config
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(0)
        obs = {key: torch.from_numpy(rng.random((1, cfg.n_obs_steps, *cfg.obs_shape(key)),
                                                dtype=np.float32))
               for key in cfg.obs_keys}
        with torch.no_grad():
            pred = policy.predict_action(obs, generator=torch.Generator().manual_seed(0))
        data = pred['action_pred'].numpy().astype('<f4').tobytes()
        assert chunk_fingerprint(policy) == hashlib.sha256(data).hexdigest()[:16]
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize('torchscript', [True, False])
def test_checkpoint_fingerprint_uses_the_threads_and_torchscript_asked_and_restores(
        tiny_policy_dir, monkeypatch, torchscript):
    from dp_ros.policy import fingerprint

    seen = []
    monkeypatch.setattr(fingerprint, 'chunk_fingerprint', lambda policy: seen.append(
        (torch.get_num_threads(), policy._frozen is not None)) or '0' * 16)
    before = torch.get_num_threads()
    threads = 2 if before != 2 else 1
    assert fingerprint.checkpoint_fingerprint(tiny_policy_dir, threads, torchscript) == '0' * 16
    assert seen == [(threads, torchscript)]
    assert torch.get_num_threads() == before


# --- sim_bridge/callback_errors.py -----------------------------------------------------------

class RaisesWhenDropped:
    """An object whose finalizer raises `exc`: Python hands it to sys.unraisablehook as
    'Exception ignored in', as it does for a finalizer the collector runs mid-step."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __del__(self) -> None:
        raise self.exc


def test_an_interrupt_from_outside_a_cffi_callback_is_raised_after_the_block():
    from sim_bridge.callback_errors import callback_errors_raised

    after = []
    with pytest.raises(KeyboardInterrupt, match='from a finalizer'):
        with callback_errors_raised():
            RaisesWhenDropped(KeyboardInterrupt('from a finalizer'))
            after.append(True)  # the block itself runs on
    assert after == [True]


def test_the_first_of_several_is_raised():
    from sim_bridge.callback_errors import callback_errors_raised

    with pytest.raises(SystemExit, match='first'):
        with callback_errors_raised():
            RaisesWhenDropped(SystemExit('first'))
            RaisesWhenDropped(SystemExit('second'))


def test_an_ordinary_exception_from_outside_a_cffi_callback_goes_to_the_previous_hook():
    """Not ours to raise: a finalizer's ValueError is reported as before, the block returns."""
    from sim_bridge.callback_errors import callback_errors_raised

    seen = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_type)
    try:
        with callback_errors_raised():
            RaisesWhenDropped(ValueError('not from a callback'))
    finally:
        sys.unraisablehook = previous
    assert seen == [ValueError]


def test_the_blocks_own_exception_goes_on_over_a_callback_error():
    from test_pusht_env_interrupt import two_circles

    from sim_bridge.callback_errors import callback_errors_raised

    space = two_circles()
    space.on_collision(0, 0, post_solve=lambda arbiter, space, data: 1 / 0)
    with pytest.raises(RuntimeError, match='its own'):
        with callback_errors_raised():
            space.step(0.01)
            raise RuntimeError('its own')


# --- training/gpu_batches.py (CPU) -----------------------------------------------------------

def synthetic_batches(**kw):
    from training.gpu_batches import DeviceBatches

    rng = np.random.default_rng(2)
    arrays = {'image': rng.integers(0, 256, size=(12, 4, 4, 3), dtype=np.uint8),
              'agent_pos': rng.uniform(0, 500, size=(12, 2)),  # float64: made float32
              'action': rng.uniform(0, 500, size=(12, 2)).astype(np.float32)}
    arrays.update(kw)
    # (buffer_start, buffer_end, sample_start, sample_end) of 5-step windows: padded before
    # by 2, padded after by 2, both
    rows = np.array([[0, 3, 2, 5], [9, 12, 0, 3], [4, 6, 1, 3]])
    return arrays, DeviceBatches(arrays, rows, 5, ['image'], ['agent_pos'], 'cpu',
                                 {'image': 2})


def test_a_window_is_padded_with_its_first_and_last_steps():
    arrays, builder = synthetic_batches()
    got = builder.batch([0, 1, 2])
    want_rows = [[0, 0, 0, 1, 2], [9, 10, 11, 11, 11], [4, 4, 5, 5, 5]]
    pos = arrays['agent_pos'].astype(np.float32)
    assert got['obs']['agent_pos'].dtype == torch.float32
    assert torch.equal(got['obs']['agent_pos'], torch.from_numpy(pos[want_rows]))
    assert torch.equal(got['action'], torch.from_numpy(arrays['action'][want_rows]))
    images = np.stack([arrays['image'][r[:2]] for r in want_rows]).transpose(0, 1, 4, 2, 3)
    assert torch.equal(got['obs']['image'], torch.from_numpy(images.astype(np.float32) / 255))


def test_key_first_k_applies_to_the_action_too():
    from training.gpu_batches import DeviceBatches

    arrays, _ = synthetic_batches()
    rows = np.array([[0, 3, 2, 5], [9, 12, 0, 3]])
    got = DeviceBatches(arrays, rows, 5, ['image'], ['agent_pos'], 'cpu',
                        {'action': 3}).batch([0, 1])
    assert tuple(got['action'].shape) == (2, 3, 2)
    assert torch.equal(got['action'], torch.from_numpy(arrays['action'][[[0, 0, 0],
                                                                          [9, 10, 11]]]))
    assert tuple(got['obs']['agent_pos'].shape) == (2, 5, 2)


def test_an_image_array_without_a_channel_axis_is_refused():
    with pytest.raises(ValueError, match=r"image array 'image' must be \(N, H, W, C\) uint8, "
                                         r'got \(12, 4, 4\)'):
        synthetic_batches(image=np.zeros((12, 4, 4), np.uint8))


# --- defects found by the review, mended -------------------------------------------------

@pytest.mark.parametrize('pose', [[math.nan, 256.0, 0.0], [256.0, 256.0, 0.0, 1.0]])
def test_t_reach_past_walls_refuses_a_pose_that_is_not_3_finite_numbers(pose):
    from sim_bridge.pusht_geometry import t_reach_past_walls

    with pytest.raises(ValueError, match=r'block_pose must be 3 finite numbers \(x, y, angle\), '
                                         r'got array\('):
        t_reach_past_walls(np.array(pose))
    assert t_reach_past_walls(np.array([256.0, 256.0, 0.0])) < 0  # the middle: inside


@pytest.mark.parametrize('k', [0, 6])
def test_device_batches_refuse_a_key_first_k_outside_the_window(k):
    from training.gpu_batches import DeviceBatches

    arrays, _ = synthetic_batches()
    rows = np.array([[0, 3, 2, 5]])
    with pytest.raises(ValueError, match=rf"key_first_k {{'image': {k}}}: each key must be "
                       r'sampled and 1 <= k <= sequence_length \(5\)'):
        DeviceBatches(arrays, rows, 5, ['image'], ['agent_pos'], 'cpu', {'image': k})


def test_the_device_batches_import_no_zarr():
    """The GPU machine has no zarr (bench/bench_gpu.py's synthetic data): the rule they share
    with the dataset's sampler (checked_first_k) comes without the replay buffer."""
    import subprocess

    code = ('import sys, training.gpu_batches; '
            "print(sorted(m for m in ('zarr', 'training.replay_buffer') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines()[-1] == '[]'
