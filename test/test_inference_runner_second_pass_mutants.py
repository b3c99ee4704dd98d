"""Behaviour of dp_ros/runtime/inference_runner.py that its tests (the first mutation pass
included) left unpinned, found by a second mutation review on the CPU: predict() reading the
batch size of every key, a job dropped by close() drawing no noise, warm-up's run count and
inputs, a callback failing with any Exception, float16 refused by from_checkpoint on the
CPU, load_runner's cpu_threads 0 and its clean-up on Ctrl-C, and the sampling path said for
each state of the CUDA graphs (and close() dropping them), a job's latency and warm-up's
seconds measured over the right runs. Two defects it found are tested at the end, mended: a
debug latency past threading.TIMEOUT_MAX, and a worker ended by SystemExit that submit()
did not notice.

Each test kills a mutant that the other tests let live: the batch read from the first key
only or judged by its maximum, a job queued before close() sampled anyway, one warm-up run
too many or too few, or ones not all zeros, `except RuntimeError` around the callback,
from_checkpoint judging the dtype for another device, set_num_threads called for 0, `except
Exception` in load_runner, a latency clock restarted after the sampling, warm-up returning
its first run's time, and each branch of sampling_path and close()'s graphs.clear().
"""
from __future__ import annotations

import threading
import time

import pytest
import torch
from support import one_torch_thread  # noqa: F401 (autouse)
from test_inference_runner import WAIT_S, Results, observation, wait_idle
from test_inference_runner_inputs_mutants import poll_until

from dp_ros.policy.checkpoint import load_policy
from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.inputs import episode_generator
from dp_ros.runtime.graph_sampler import ChunkGraphs
from dp_ros.runtime.inference_runner import InferenceRunner, load_runner
from dp_ros.runtime.policy_node_config import PolicyNodeConfig


@pytest.fixture
def policy(checkpoint):
    return load_policy(checkpoint, device='cpu')


def workers() -> int:
    """Inference worker threads still running in this process."""
    return sum(t.name == 'dp_inference' and t.is_alive() for t in threading.enumerate())


# --- predict ---------------------------------------------------------------------------------

def test_observations_of_mixed_or_no_rows_are_refused_naming_every_size(policy, runners):
    """predict() reads the batch of every key, not the first one only: frames of batch 1
    beside a state of batch 3 are refused naming both sizes; a batch of 0 rows is refused
    naming it (not sampled into an empty chunk and then an IndexError)."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    obs = observation(runner)
    assert list(obs) == ['image', 'agent_pos']  # the key of batch 1 comes first
    mixed = dict(obs, agent_pos=obs['agent_pos'].expand(3, *obs['agent_pos'].shape[1:]))
    with pytest.raises(ValueError, match=r'got batch \[1, 3\]'):
        runner.predict(mixed, episode_generator(0, 1))
    with pytest.raises(ValueError, match=r'got batch \[0\]'):
        runner.predict({k: v[:0] for k, v in obs.items()}, episode_generator(0, 1))


# --- the worker ------------------------------------------------------------------------------

def test_a_job_dropped_by_close_draws_no_noise_from_its_generator(policy, runners):
    """A job queued but not yet taken when close() comes is dropped whole: the episode's
    generator is left where it was (sampling it would draw the chunk's initial noise before
    the first cancellation check)."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    generator = episode_generator(0, 9)
    before = generator.get_state()
    with runner._cond:  # held: the worker cannot take the job before close() asks it to stop
        assert runner.submit(observation(runner), generator, Results())
        runner.close(timeout=0.1)  # its join gives up: the worker waits for this lock
    runner._thread.join(WAIT_S)
    assert not runner._thread.is_alive()
    assert torch.equal(generator.get_state(), before)


def test_a_callback_raising_any_exception_leaves_the_worker_serving(policy, runners, capsys):
    """Not only a RuntimeError: a callback failing with a KeyError has its traceback shown,
    and the worker takes the next job."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)

    def broken(result) -> None:
        raise KeyError('no such plan')

    assert runner.submit(observation(runner), episode_generator(0, 1), broken)
    wait_idle(runner)
    assert "KeyError: 'no such plan'" in capsys.readouterr().err
    results = Results()
    assert runner.submit(observation(runner), episode_generator(0, 2), results, 'next')
    result = results.get()
    assert result.context == 'next' and result.error is None


def test_a_jobs_latency_covers_its_sampling(policy, runners):
    """latency_s runs from before the chunk's sampling (not from its end): it is at least
    the span from the first denoising step's start to the last one's end, bracketed by the
    model itself (no debug latency here)."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    spans: list[float] = []
    denoise = policy._denoise

    def bracketed(*args, **kwargs):
        spans.append(time.perf_counter())
        out = denoise(*args, **kwargs)
        spans.append(time.perf_counter())
        return out

    policy._denoise = bracketed
    results = Results()
    assert runner.submit(observation(runner), episode_generator(0, 1), results)
    result = results.get()
    assert result.error is None and len(spans) == 2 * runner.config.num_inference_steps
    assert result.latency_s >= spans[-1] - spans[0]


# --- warm-up ---------------------------------------------------------------------------------

def test_warmup_runs_the_model_repeats_times_on_zero_observations(policy, runners):
    """warmup(repeats) samples `repeats` chunks, at least one, each from all-zero
    observations of the checkpoint's shapes (batch 1) and a generator of its own."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    calls: list[tuple[dict, torch.Generator]] = []
    sample = policy.predict_action

    def recorded(obs, generator=None, **kwargs):
        calls.append((obs, generator))
        return sample(obs, generator, **kwargs)

    policy.predict_action = recorded
    cfg = runner.config
    for repeats, runs in ((3, 3), (1, 1), (0, 1)):
        calls.clear()
        runner.warmup(repeats=repeats)
        assert len(calls) == runs, f'warmup({repeats})'
        assert len({id(generator) for _, generator in calls}) == runs
        for obs, _ in calls:
            assert {k: tuple(v.shape) for k, v in obs.items()} == \
                {k: (1, cfg.n_obs_steps, *cfg.obs_shape(k)) for k in cfg.obs_keys}
            assert all(not v.any() for v in obs.values())


def test_warmup_returns_the_seconds_of_its_last_run(policy, runners):
    """warmup() returns the last run's time, not the first's: the second run is made longer
    than the first can have taken (everything from before warmup() to the second run's
    start), and the value returned exceeds that."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    entered: list[float] = []
    sample = policy.predict_action

    def second_run_slow(obs, generator=None, **kwargs):
        entered.append(time.perf_counter())
        if len(entered) == 2:  # sleep() never returns early
            time.sleep(entered[1] - before + 0.001)
        return sample(obs, generator, **kwargs)

    policy.predict_action = second_run_slow
    before = time.perf_counter()
    seconds = runner.warmup(repeats=2)
    assert len(entered) == 2 and seconds > entered[1] - before


# --- construction ----------------------------------------------------------------------------

def test_from_checkpoint_refuses_float16_on_the_cpu(checkpoint):
    """The dtype is judged for the device the runner gets: float16 on the CPU (asked for or
    'auto' without CUDA) is refused before the model is loaded."""
    devices = ['cpu'] + ([] if torch.cuda.is_available() else ['auto'])
    before = workers()
    for device in devices:
        with pytest.raises(ValueError, match="dtype 'float16' needs a CUDA device"):
            InferenceRunner.from_checkpoint(checkpoint, device=device, dtype='float16')
    assert workers() == before


def test_load_runner_with_cpu_threads_0_leaves_torchs_thread_count(checkpoint):
    """cpu_threads 0 ('torch default') sets nothing: a count of 3 set before stays 3."""
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        runner, _, warmup_s = load_runner(PolicyNodeConfig(
            checkpoint=str(checkpoint), device='cpu', torchscript=False, warmup=False))
        runner.close(timeout=WAIT_S)
        assert warmup_s is None and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)


def test_a_warm_up_interrupted_by_ctrl_c_leaves_no_worker(checkpoint, monkeypatch):
    """A KeyboardInterrupt (no Exception) during load_runner's warm-up still closes the
    runner before it propagates: no worker thread is left holding the model."""
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(DiffusionPolicy, '_denoise', interrupted)
    before = workers()
    with pytest.raises(KeyboardInterrupt):
        load_runner(PolicyNodeConfig(checkpoint=str(checkpoint), device='cpu',
                                     torchscript=False))
    assert workers() == before


# --- the sampling path with CUDA graphs ------------------------------------------------------

def test_the_sampling_path_says_each_state_of_the_cuda_graphs(policy, runners):
    """sampling_path for a runner holding ChunkGraphs (as on a CUDA device; set here on the
    CPU, where they sample eagerly, in the states their capture code leaves them): not yet
    captured, capture failed with none captured, one kind captured beside a failed one, the
    compiled UNet dropped, the compiled UNet kept; close() drops the captured graphs."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    runner.graphs = graphs = ChunkGraphs(policy)
    assert runner.sampling_path == 'CUDA graph, captured at the first chunk'
    graphs.failed = 'out of memory'
    assert runner.sampling_path == 'eager (CUDA graph capture failed: out of memory)'
    graphs._graphs['another kind'] = None  # a kind captured: its graphs replay
    assert runner.sampling_path == 'CUDA graph'
    graphs.compile_failed = 'no C compiler'  # the compiled UNet dropped (denoiser None)
    assert runner.sampling_path == 'CUDA graph (the compiled UNet failed: no C compiler)'
    runner.graphs = ChunkGraphs(policy, denoiser=policy.model)
    assert runner.sampling_path == 'CUDA graph of the compiled UNet, captured at the first ' \
        'chunk'
    runner.graphs = graphs
    runner.close(timeout=WAIT_S)
    assert graphs.captured == 0


# --- defects the review found, mended ----------------------------------------------------------

def test_a_debug_latency_longer_than_a_thread_can_wait_is_refused(policy, runners):
    """extra_latency_s=TIMEOUT_MAX+1 (finite, >= 0) passed the constructor's check, and every
    job then failed with OverflowError('timestamp out of range for platform time_t') from
    Condition.wait_for: refused up front, as inf is; TIMEOUT_MAX itself is taken."""
    too_long = threading.TIMEOUT_MAX + 1.0
    with pytest.raises(ValueError) as raised:
        runners.append(InferenceRunner(policy, torchscript=False, extra_latency_s=too_long))
    assert str(raised.value) == (f'extra_latency_s must be a finite number of seconds, 0 to '
                                 f'{threading.TIMEOUT_MAX:.0f}, got {too_long}')
    runner = InferenceRunner(policy, torchscript=False, extra_latency_s=threading.TIMEOUT_MAX)
    runners.append(runner)
    assert runner.extra_latency_s == threading.TIMEOUT_MAX


def test_a_callback_raising_system_exit_ends_the_worker_and_submit_says_so(policy, runners):
    """A callback raising SystemExit (sys.exit() in a node's result handler) escaped the
    worker's `except Exception`: the thread ended, yet submit() accepted the next job, which
    nobody ran (busy for good, its callback never called). Now submit() raises, naming it."""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)

    def exits(result) -> None:
        raise SystemExit(3)

    assert runner.submit(observation(runner), episode_generator(0, 1), exits)
    poll_until(lambda: not runner._thread.is_alive(), 'the end of the worker')
    assert not runner.busy
    with pytest.raises(RuntimeError) as raised:
        runner.submit(observation(runner), episode_generator(0, 2), Results())
    assert str(raised.value) == ('the inference worker has ended: a job or its callback '
                                 'raised SystemExit(3)')
    assert not runner.busy


def test_close_during_the_last_denoising_step_still_publishes_the_finished_chunk(policy, runners):
    """close() cancels sampling between denoising steps, not a chunk already past its last
    check: a close() that lands while the last step runs (no debug latency) lets the chunk
    finish and reach its callback, whole and without error, before close() returns; the
    worker then ends. (Only a debug latency, cut short, drops a chunk after its steps.)"""
    runner = InferenceRunner(policy, torchscript=False)
    runners.append(runner)
    steps = runner.config.num_inference_steps
    denoise = policy._denoise
    calls: list[int] = []
    in_last_step = threading.Event()

    def last_step_outlives_close(*args, **kwargs):
        calls.append(len(calls))
        if len(calls) == steps:  # past the last cancellation check
            in_last_step.set()
            poll_until(lambda: runner._stop, 'close() to be called')
        return denoise(*args, **kwargs)

    policy._denoise = last_step_outlives_close
    results = Results()
    assert runner.submit(observation(runner), episode_generator(0, 1), results, 'last chunk')
    assert in_last_step.wait(WAIT_S)
    runner.close(timeout=WAIT_S)
    assert not runner._thread.is_alive() and not runner.busy
    assert results.queue.qsize() == 1
    result = results.get()
    assert result.context == 'last chunk' and result.error is None
    assert result.action_pred.shape == (runner.config.horizon, runner.config.action_dim)
    assert len(calls) == steps
