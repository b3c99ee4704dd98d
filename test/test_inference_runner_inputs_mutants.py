"""Behaviour of dp_ros/runtime/inference_runner.py and dp_ros/policy/inputs.py that their own
tests left unpinned (a mutation review): the latency window (200 samples unless the runner is
told otherwise) and the diagnostics' microsecond resolution, a runner's empty sampler and
0 steps meaning the checkpoint's, a close() mid-job leaving the runner idle and its chunk
unpublished (the debug latency cut short too), an idle worker woken by close(), each
episode's generator seeded from episode_seed, the batch rows in episode order and the
observation tensors on the device asked; and what the review found wrong, mended: a stale
busy flag, non-finite or empty settings accepted, frames of any dtype scaled.

Each test kills a mutant that the modules' other tests let live: a window default changed or
not handed on, a rounding to tenths of a millisecond, a 0 step count passed to the sampler, a
busy flag not reset on cancellation, a debug delay that close() cannot cut (its close()
races the worker's last denoising step: that kill is near-certain, not certain), a close()
that does not notify the worker, frames_as_fed changing a frame's shape or layout, the
generator seeded from swapped seeds, the episodes of a batch reversed, a device argument
dropped.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401 (autouse)
from test_inference_runner import WAIT_S, Results, observation

from dp_ros.policy.checkpoint import load_policy
from dp_ros.policy.inputs import (
    batch_observations,
    episode_generator,
    episode_seed,
    frames_as_fed,
)
from dp_ros.runtime.inference_runner import InferenceRunner, LatencyStats, to_model_obs


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny', seed=4)


@pytest.fixture(scope='module')
def policy(checkpoint):
    return load_policy(checkpoint, device='cpu')


def poll_until(predicate, what: str) -> None:
    """Until predicate() holds; polled, bounded by WAIT_S (a hang guard, not a margin)."""
    done = threading.Event()
    for _ in range(int(WAIT_S / 0.002)):
        if predicate():
            done.set()
            break
        done.wait(0.002)
    assert done.is_set(), what


# --- latency stats ---------------------------------------------------------------------------

def fill_window(stats: LatencyStats, window: int) -> None:
    """One slow sample (1 s), then window - 1 fast ones (1 ms): the slow one is the oldest
    sample still in a window of `window`, and the next sample pushes it out."""
    stats.add(1.0)
    for _ in range(window - 1):
        stats.add(0.001)
    assert stats.percentile(100) == 1.0, 'the window dropped a sample too early'
    stats.add(0.001)
    assert stats.percentile(100) == 0.001, 'the window kept a sample too long'


def test_latency_stats_keep_the_last_200_samples_by_default():
    """The diagnostics' p50/p95 are over the last 200 chunks, neither fewer nor more."""
    fill_window(LatencyStats(), 200)


def test_a_runner_keeps_its_latency_window(policy, runners):
    """The runner's stats: 200 samples by default, latency_window when it is given."""
    default = InferenceRunner(policy, torchscript=False)
    runners.append(default)
    fill_window(default.latency, 200)
    short = InferenceRunner(policy, torchscript=False, latency_window=3)
    runners.append(short)
    fill_window(short.latency, 3)


def test_latency_summary_keeps_microseconds():
    """summary_ms rounds to the microsecond (3 decimals of a millisecond), not coarser."""
    stats = LatencyStats()
    stats.add(0.001234)
    assert stats.summary_ms() == {'last_ms': 1.234, 'p50_ms': 1.234, 'p95_ms': 1.234,
                                  'count': 1}


# --- the runner's settings -------------------------------------------------------------------

def test_an_empty_sampler_and_0_steps_mean_the_checkpoints(policy, runners):
    """sampler='' and num_inference_steps=0 (a node config's 'unset'): the checkpoint's
    sampler and step count, the same chunk as predict_action's defaults; 0 is not handed to
    the sampler, which refuses it."""
    runner = InferenceRunner(policy, sampler='', num_inference_steps=0, torchscript=False)
    runners.append(runner)
    assert runner.sampler is None and runner.num_inference_steps is None
    obs = observation(runner)
    got = runner.predict(obs, episode_generator(0, 3))
    want = policy.predict_action(obs, episode_generator(0, 3))
    np.testing.assert_array_equal(got['action_pred'], want['action_pred'][0].numpy())


# --- close() ---------------------------------------------------------------------------------

def test_close_mid_job_ends_it_unpublished_and_leaves_the_runner_idle(policy, runners):
    """A job whose sampling has begun (its generator drew its first noise), closed while it
    samples or sits in its debug latency (an hour here): close() returns once the worker
    has ended, the callback never runs, and the runner no longer says it is busy."""
    runner = InferenceRunner(policy, sampler='ddpm', num_inference_steps=3,
                             torchscript=False, extra_latency_s=3600.0)
    runners.append(runner)
    obs = observation(runner)
    reference = episode_generator(0, 5)
    runner.predict(obs, reference)  # on this thread: no debug latency
    final = reference.get_state()
    generator = episode_generator(0, 5)
    initial = generator.get_state()
    results = Results()
    assert runner.submit(obs, generator, results, context='closed')
    assert runner.busy
    poll_until(lambda: not torch.equal(generator.get_state(), initial),
               'the worker never began sampling')
    # its last noise drawn: the worker is at its last denoising step or in its debug latency
    poll_until(lambda: torch.equal(generator.get_state(), final),
               'the worker never drew its last noise')
    runner.close(timeout=WAIT_S)
    assert not runner._thread.is_alive(), 'close() waited out the debug latency'
    assert results.queue.empty()  # nobody waits for this chunk: no callback
    assert not runner.busy
    assert runner.latency.count == 0
    assert not runner.submit(obs, episode_generator(0, 6), results)


def test_close_of_an_idle_runner_ends_its_worker(policy, runners):
    """A worker waiting for its next job (its last one done, callback returned) is woken by
    close(): the thread has ended when close() returns, well within its hang guard."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    results = Results()
    assert runner.submit(observation(runner), episode_generator(0, 1), results)
    assert results.get().error is None
    poll_until(lambda: not runner.busy, 'the runner stayed busy')
    runner.close(timeout=WAIT_S)
    assert not runner._thread.is_alive(), 'close() did not wake the waiting worker'


def test_close_from_a_jobs_callback_ends_the_worker_without_an_error(policy, runners, capfd):
    """A callback that closes the runner (a node shutting down on a chunk's error): close()
    joined its own thread, a RuntimeError the worker caught and printed as a traceback; now
    it returns, and the worker ends after the callback."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    closed = threading.Event()

    def close_here(result) -> None:
        runner.close(timeout=WAIT_S)
        closed.set()

    assert runner.submit(observation(runner), episode_generator(0, 1), close_here)
    assert closed.wait(WAIT_S), 'the callback never returned from close()'
    runner._thread.join(WAIT_S)
    assert not runner._thread.is_alive() and not runner.busy
    assert 'Traceback' not in capfd.readouterr().err
    assert not runner.submit(observation(runner), episode_generator(0, 2), close_here)


# --- inputs ----------------------------------------------------------------------------------

def test_an_episode_generator_is_seeded_with_its_episode_seed():
    """The noise of episode (sample_seed, env_seed) is a plain generator seeded with
    episode_seed(sample_seed, env_seed): a logged pair of seeds reproduces the episode."""
    for sample_seed, env_seed in [(0, 1), (2, 5), (5, 2), (1_000, 100_000)]:
        want = torch.Generator().manual_seed(sample_seed * 1_000_003 + env_seed)
        assert episode_seed(sample_seed, env_seed) == sample_seed * 1_000_003 + env_seed
        got = episode_generator(sample_seed, env_seed)
        assert torch.equal(got.get_state(), want.get_state())
        assert torch.equal(torch.randn(4, generator=got), torch.randn(4, generator=want))


def test_batch_rows_follow_the_episode_order():
    """Row b of every key is episode b (the evaluation's env b), for frames and values."""
    episodes = [{'cam': [np.full((4, 6, 3), 10 * b + t, np.uint8) for t in range(2)],
                 'pos': [np.array([b, t], np.float64) for t in range(2)]}
                for b in range(3)]
    out = batch_observations(episodes, ['cam'])
    for b in range(3):
        for t in range(2):
            assert torch.all(out['cam'][b, t] == (10 * b + t) / 255.0)
            assert out['pos'][b, t].tolist() == [b, t]


def test_frames_as_fed_keep_their_values_with_the_fed_layout():
    """frames_as_fed gives (B, T, C, H, W) frames their values and shape unchanged, with the
    strides of batch_observations' frames (channels last), on a non-square frame."""
    rng = np.random.default_rng(0)
    episodes = [{'cam': [rng.integers(0, 256, (4, 6, 3), dtype=np.uint8) for _ in range(2)]}
                for _ in range(2)]
    fed = batch_observations(episodes, ['cam'])['cam']
    plain = fed.contiguous()
    assert plain.stride() != fed.stride()
    again = frames_as_fed(plain)
    assert again.shape == (2, 2, 3, 4, 6) and torch.equal(again, fed)
    assert again.stride() == fed.stride()


def test_observations_go_to_the_device_asked():
    """Frames and values land on `device` (the meta device stands in for a GPU here), the
    frames still channels-last."""
    values = {'cam': [np.zeros((4, 6, 3), np.uint8)] * 2, 'pos': [np.zeros(2)] * 2}
    for out in (batch_observations([values], ['cam'], 'meta'),
                to_model_obs(values, ['cam'], device=torch.device('meta'))):
        assert {k: v.device.type for k, v in out.items()} == {'cam': 'meta', 'pos': 'meta'}
        assert out['cam'].shape == (1, 2, 3, 4, 6) and out['cam'].stride()[2] == 1
        assert out['pos'].shape == (1, 2, 2) and out['pos'].dtype == torch.float32


# --- defects found by the review (the intended behaviour; xfail until fixed) -----------------

def test_close_before_the_worker_takes_a_job_leaves_the_runner_idle(policy, runners):
    """_work() returned on _stop without resetting _busy when the job was queued but not yet
    taken: after a close() between submit() and the worker waking (the node's shutdown right
    after a plan request), runner.busy said True for good."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    results = Results()
    with runner._cond:  # held: the worker cannot take the job before close() asks it to stop
        assert runner.submit(observation(runner), episode_generator(0, 1), results)
        runner.close(timeout=0.1)  # its join gives up: the worker waits for this lock
    runner._thread.join(WAIT_S)
    assert not runner._thread.is_alive() and results.queue.empty()
    assert not runner.busy


@pytest.mark.parametrize('seconds', [float('nan'), float('inf'), -0.1])
def test_a_debug_latency_that_is_no_finite_number_of_seconds_is_refused(policy, runners,
                                                                        seconds):
    """`extra_latency_s < 0` let NaN through (no delay at all) and inf (every chunk then
    failed with OverflowError('timestamp out of range for platform time_t'))."""
    with pytest.raises(ValueError, match='extra_latency_s must be a finite number of seconds'):
        runners.append(InferenceRunner(policy, torchscript=False, extra_latency_s=seconds))


@pytest.mark.parametrize('window', [0, -1])
def test_a_latency_window_below_one_is_refused(policy, runners, window):
    """A window of 0 kept no sample: p50/p95 stayed None while the count grew (a negative
    one failed in deque with 'maxlen must be non-negative')."""
    with pytest.raises(ValueError, match=f'latency_window must be >= 1 sample, got {window}'):
        runners.append(InferenceRunner(policy, torchscript=False, latency_window=window))


@pytest.mark.parametrize('frame, says', [
    (np.full((4, 6, 3), 0.5, np.float32), r'\(4, 6, 3\) float32'),
    (np.full((4, 6, 3), 1000, np.uint16), r'\(4, 6, 3\) uint16'),
    (np.zeros((4, 6), np.uint8), r'\(4, 6\) uint8'),
    (np.zeros((4, 6, 4), np.uint8), r'\(4, 6, 4\) uint8')])
def test_frames_other_than_h_w_3_uint8_are_refused_naming_the_key(frame, says):
    """Any frame was divided by 255 whatever its dtype: float frames already in [0, 1]
    became [0, 0.004] and uint16 ones reached 257, silently; a (H, W) grey frame failed
    with a permute error about sparse_coo tensors."""
    with pytest.raises(ValueError, match=r"camera 'cam': frames must be \(H, W, 3\) uint8, "
                                         'got ' + says):
        batch_observations([{'cam': [frame, frame]}], ['cam'])


def test_a_batch_of_no_episodes_or_of_other_keys_is_refused():
    """batch_observations([]) was an IndexError, an episode lacking a key of the first a bare
    KeyError('state'); both say what is wrong now, and keys in another order are fine."""
    with pytest.raises(ValueError, match=r'no episodes \(a batch needs at least one\)'):
        batch_observations([], ['cam'])
    frame = np.zeros((4, 6, 3), np.uint8)
    first = {'cam': [frame], 'state': [np.zeros(2)]}
    with pytest.raises(ValueError, match=r"episode 1 has keys \['cam'\], episode 0 "
                                         r"\['cam', 'state'\]"):
        batch_observations([first, {'cam': [frame]}], ['cam'])
    out = batch_observations([first, {'state': [np.ones(2)], 'cam': [frame]}], ['cam'])
    assert out['cam'].shape == (2, 1, 3, 4, 6) and out['state'][:, 0, 0].tolist() == [0.0, 1.0]
