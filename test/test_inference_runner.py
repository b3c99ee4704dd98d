"""dp_ros.runtime.inference_runner: the model's worker thread, latency stats, image fitting,
device and dtype rules, on a tiny real policy (no ROS).

Everything that depends on the worker's progress is ordered by events, never by sleeps: a job
is busy from submit() until its callback has returned, so a callback that waits on an event
holds the runner busy for as long as the test wants.
"""
from __future__ import annotations

import queue
import threading

import numpy as np
import pytest
import torch
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401 (autouse)

from dp_ros.image_fit import check_crop, fit_image
from dp_ros.policy.inputs import episode_generator
from dp_ros.runtime.inference_runner import (
    InferenceResult,
    InferenceRunner,
    LatencyStats,
    resolve_device,
    resolve_dtype,
    to_model_obs,
)

WAIT_S = 120.0  # a hang guard only: every wait below ends on an event long before



@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny', seed=1)


@pytest.fixture
def runner(checkpoint):
    runner = InferenceRunner.from_checkpoint(checkpoint, device='cpu')
    yield runner
    runner.close(timeout=WAIT_S)


def observation(runner: InferenceRunner, seed: int = 0, image_size: int | None = None) -> dict:
    """n_obs_steps random camera frames and agent positions, as the node builds them."""
    cfg = runner.config
    rng = np.random.default_rng(seed)
    h, w = cfg.obs_shape('image')[1:] if image_size is None else (image_size, image_size)
    values = {'image': [rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                        for _ in range(cfg.n_obs_steps)],
              'agent_pos': [rng.uniform(50, 450, 2) for _ in range(cfg.n_obs_steps)]}
    return to_model_obs(values, cfg.rgb_keys)


class Results:
    """A callback that files results in a queue; optionally holds the worker until released."""

    def __init__(self, hold: bool = False):
        self.queue: queue.Queue[InferenceResult] = queue.Queue()
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, result: InferenceResult) -> None:
        self.queue.put(result)
        self.entered.set()
        assert self.release.wait(WAIT_S), 'the test never released the callback'

    def get(self) -> InferenceResult:
        return self.queue.get(timeout=WAIT_S)


def wait_idle(runner: InferenceRunner) -> None:
    """Until the worker has finished its job (callback included); polled, bounded."""
    done = threading.Event()
    for _ in range(int(WAIT_S / 0.01)):
        if not runner.busy:
            done.set()
            break
        done.wait(0.01)
    assert done.is_set(), 'the runner stayed busy'


# --- the worker ------------------------------------------------------------------------------

def test_a_job_gives_the_chunk_predict_gives_for_the_same_noise(runner):
    runner.warmup(repeats=1)
    obs = observation(runner)
    results = Results()
    assert runner.submit(obs, episode_generator(0, 100000), results, context='ctx')
    result = results.get()
    assert result.error is None and result.context == 'ctx'
    cfg = runner.config
    assert result.action.shape == (cfg.n_action_steps, cfg.action_dim)
    assert result.action_pred.shape == (cfg.horizon, cfg.action_dim)
    assert result.action.dtype == np.float32
    start = cfg.n_obs_steps - 1
    np.testing.assert_array_equal(result.action,
                                  result.action_pred[start:start + cfg.n_action_steps])
    # the worker thread and the calling thread sample the same chunk from the same noise
    same = runner.predict(obs, episode_generator(0, 100000))
    np.testing.assert_array_equal(result.action, same['action'])
    np.testing.assert_array_equal(result.action_pred, same['action_pred'])
    other = runner.predict(obs, episode_generator(0, 100001))
    assert not np.array_equal(other['action'], same['action'])
    wait_idle(runner)
    assert runner.latency.count == 1 and runner.latency.last == result.latency_s


def test_submit_while_busy_is_refused_and_queues_nothing(runner):
    obs = observation(runner)
    first = Results(hold=True)
    refused = Results()
    assert runner.submit(obs, episode_generator(0, 1), first, context=1)
    assert runner.busy
    # busy from submit() on, while sampling, and until the callback has returned
    assert not runner.submit(obs, episode_generator(0, 2), refused, context=2)
    assert first.entered.wait(WAIT_S)
    assert runner.busy
    assert not runner.submit(obs, episode_generator(0, 2), refused, context=2)
    first.release.set()
    wait_idle(runner)
    assert first.get().context == 1 and first.queue.empty()
    assert refused.queue.empty() and runner.latency.count == 1  # no second job ran
    # free again: the next job is taken
    again = Results()
    assert runner.submit(obs, episode_generator(0, 3), again, context=3)
    assert again.get().context == 3
    wait_idle(runner)
    assert refused.queue.empty() and runner.latency.count == 2


def test_a_callback_that_raises_does_not_kill_the_worker(runner, capsys):
    obs = observation(runner)
    calls = []

    def broken(result):
        calls.append(result.context)
        raise RuntimeError('callback broke on purpose')

    assert runner.submit(obs, episode_generator(0, 1), broken, context='broken')
    wait_idle(runner)
    assert calls == ['broken']
    assert 'callback broke on purpose' in capsys.readouterr().err  # its traceback is shown
    results = Results()
    assert runner.submit(obs, episode_generator(0, 2), results, context='next')
    result = results.get()
    assert result.context == 'next' and result.error is None and result.action is not None


def test_an_error_inside_sampling_is_reported_in_the_result(runner):
    results = Results()
    # frames of the wrong size: the real model refuses them inside predict_action
    bad = observation(runner, image_size=40)
    assert runner.submit(bad, episode_generator(0, 1), results, context='bad')
    result = results.get()
    assert result.context == 'bad' and result.action is None and result.action_pred is None
    assert isinstance(result.error, (ValueError, RuntimeError)), repr(result.error)
    assert result.latency_s >= 0
    wait_idle(runner)
    assert runner.latency.count == 0  # a failed job is not a latency sample
    # the worker goes on with the next job
    assert runner.submit(observation(runner), episode_generator(0, 1), results, context='ok')
    good = results.get()
    assert good.context == 'ok' and good.error is None and good.action is not None
    wait_idle(runner)
    assert runner.latency.count == 1


def test_extra_latency_is_added_to_every_job(checkpoint):
    runner = InferenceRunner.from_checkpoint(checkpoint, device='cpu', extra_latency_s=0.2)
    try:
        results = Results()
        for context in range(2):
            assert runner.submit(observation(runner), episode_generator(0, context), results,
                                 context)
            result = results.get()
            assert result.context == context and result.error is None
            assert result.latency_s >= 0.2  # sleep() never returns early
            wait_idle(runner)
        assert runner.latency.count == 2 and runner.latency.percentile(0) >= 0.2
    finally:
        runner.close(timeout=WAIT_S)


def test_close_ends_the_worker_after_its_job_and_refuses_new_ones(checkpoint):
    before = set(threading.enumerate())
    runner = InferenceRunner.from_checkpoint(checkpoint, device='cpu')
    (worker,) = set(threading.enumerate()) - before
    assert worker.name == 'dp_inference' and worker.daemon
    results = Results(hold=True)
    assert runner.submit(observation(runner), episode_generator(0, 1), results, 'last')
    assert results.entered.wait(WAIT_S)  # the worker has the job: it is in the callback
    results.release.set()
    runner.close(timeout=WAIT_S)
    assert not worker.is_alive()
    assert results.get().context == 'last' and results.queue.empty()
    assert not runner.submit(observation(runner), episode_generator(0, 2), results, 'late')
    assert results.queue.empty()
    runner.close(timeout=WAIT_S)  # twice is harmless


def test_runner_settings_are_checked_at_construction(checkpoint):
    from dp_ros.policy.checkpoint import load_policy

    policy = load_policy(checkpoint)
    with pytest.raises(ValueError, match='extra_latency_s'):
        InferenceRunner(policy, extra_latency_s=-0.1)
    with pytest.raises(ValueError, match='sampler'):
        InferenceRunner(policy, sampler='euler')
    with pytest.raises(ValueError, match='num_inference_steps'):
        InferenceRunner(policy, num_inference_steps=1000)
    runner = InferenceRunner(policy, sampler='ddpm', num_inference_steps=3, torchscript=False)
    try:
        assert runner.device == torch.device('cpu') and runner.dtype == torch.float32
        assert runner.warmup(repeats=1) >= 0
    finally:
        runner.close(timeout=WAIT_S)


# --- latency stats ---------------------------------------------------------------------------

def test_latency_stats_on_known_samples():
    stats = LatencyStats(window=4)
    assert stats.percentile(50) is None
    assert stats.summary_ms() == {'last_ms': None, 'p50_ms': None, 'p95_ms': None, 'count': 0}
    for ms in (1, 2, 3, 4, 5):  # the window keeps the last four: 2, 3, 4, 5 ms
        stats.add(ms / 1000)
    assert stats.count == 5 and stats.last == 0.005
    assert stats.percentile(0) == pytest.approx(0.002)
    assert stats.percentile(50) == pytest.approx(0.0035)
    assert stats.percentile(100) == pytest.approx(0.005)
    # numpy's linear interpolation: rank 0.95 * 3 = 2.85 between 4 and 5 ms
    assert stats.percentile(95) == pytest.approx(0.00485)
    assert stats.summary_ms() == {'last_ms': 5.0, 'p50_ms': 3.5, 'p95_ms': 4.85, 'count': 5}


def test_latency_stats_count_every_sample_added_from_threads():
    stats = LatencyStats(window=50)
    threads = [threading.Thread(target=lambda: [stats.add(0.001) for _ in range(500)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.count == 2000 and stats.percentile(50) == pytest.approx(0.001)
    assert stats.summary_ms()['count'] == 2000


# --- images ----------------------------------------------------------------------------------

def column_ramp(h: int, w: int) -> np.ndarray:
    """Channel 0 holds the column index, channel 1 the row index, channel 2 a constant."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = np.arange(w, dtype=np.uint8)[None, :]
    rgb[..., 1] = np.arange(h, dtype=np.uint8)[:, None]
    rgb[..., 2] = 7
    return rgb


def test_fit_image_leaves_the_right_size_untouched():
    rgb = column_ramp(96, 96)
    assert fit_image(rgb, 96, 96) is rgb


def test_fit_image_crops_the_centre_to_the_target_aspect():
    wide = fit_image(column_ramp(96, 128), 96, 96)  # 32 columns too many: 16 off each side
    np.testing.assert_array_equal(wide, column_ramp(96, 128)[:, 16:112])
    tall = fit_image(column_ramp(128, 96), 96, 96)  # rows 16..111 kept
    np.testing.assert_array_equal(tall, column_ramp(128, 96)[16:112])
    # 4:3 into 2:1: too tall, the middle 100 of 150 rows are kept (from row 25)
    odd = fit_image(column_ramp(150, 200), 100, 200)
    np.testing.assert_array_equal(odd, column_ramp(150, 200)[25:125])


def test_fit_image_shrinks_by_area_and_enlarges_smoothly():
    # 2x2 blocks whose four pixels average to an integer: area resampling gives that mean
    block = np.array([[0, 4], [8, 12]], np.uint8)
    big = np.tile(block, (48, 48))[..., None].repeat(3, axis=2)
    small = fit_image(big, 48, 48)
    assert small.shape == (48, 48, 3) and small.dtype == np.uint8
    assert np.all(small == 6)
    # a constant frame stays constant when enlarged, and keeps its dtype
    up = fit_image(np.full((24, 32, 3), 200, np.uint8), 48, 64)
    assert up.shape == (48, 64, 3) and up.dtype == np.uint8 and np.all(up == 200)


def test_fit_image_crops_then_resizes():
    # a 100 x 300 frame in thirds (red | green | blue): the centre square is all green
    rgb = np.zeros((100, 300, 3), np.uint8)
    rgb[:, :100, 0] = 255
    rgb[:, 100:200, 1] = 255
    rgb[:, 200:, 2] = 255
    out = fit_image(rgb, 96, 96)
    assert out.shape == (96, 96, 3)
    np.testing.assert_array_equal(out, np.broadcast_to([0, 255, 0], (96, 96, 3)))


def test_fit_image_cuts_the_camera_crop_first_and_refuses_one_outside_the_frame():
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[20:68, 40:88] = 255  # the crop box, white; the rest black
    out = fit_image(rgb, 24, 24, crop=(40, 20, 48, 48))
    assert out.shape == (24, 24, 3) and np.all(out == 255)
    exact = fit_image(rgb, 48, 48, crop=[40, 20, 48, 48])  # the crop's own size: cut only
    np.testing.assert_array_equal(exact, rgb[20:68, 40:88])
    with pytest.raises(ValueError, match=r'camera_crop \[120, 0, 48, 48\].*outside the 160x120'):
        fit_image(rgb, 24, 24, crop=(120, 0, 48, 48))
    for bad in ([0, 0, 10], [0, -1, 10, 10], [0, 0, 10, 0], [0.5, 0, 10, 10], 'box'):
        with pytest.raises(ValueError, match='must be \\[x0, y0, width, height\\]'):
            check_crop(bad)
    assert check_crop(None) is None and check_crop([1, 2, 3, 4]) == (1, 2, 3, 4)


# --- device and dtype ------------------------------------------------------------------------

def test_resolve_device_rules():
    cuda = torch.cuda.is_available()
    assert resolve_device('auto') == torch.device('cuda' if cuda else 'cpu')
    assert resolve_device(' CPU ') == torch.device('cpu')
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device('gpu')
    with pytest.raises(ValueError, match='must be a number'):
        resolve_device('cuda:x')
    if cuda:
        assert resolve_device('cuda:0') == torch.device('cuda:0')
        with pytest.raises(ValueError, match='device\\(s\\) present'):
            resolve_device(f'cuda:{torch.cuda.device_count()}')
    else:
        for spec in ('cuda', 'cuda:0'):
            with pytest.raises(ValueError, match='CUDA is not available'):
                resolve_device(spec)


def test_resolve_dtype_rules():
    cpu = torch.device('cpu')
    assert resolve_dtype('float32', cpu) == torch.float32
    assert resolve_dtype('bfloat16', cpu) == torch.bfloat16
    with pytest.raises(ValueError, match='needs a CUDA device'):
        resolve_dtype('float16', cpu)
    with pytest.raises(ValueError, match='dtype must be one of'):
        resolve_dtype('float64', cpu)
    with pytest.raises(ValueError, match='dtype must be one of'):
        resolve_dtype('fp32', cpu)  # the eval command's short names are not runner dtypes


def test_the_sampling_path_is_said_as_the_node_reports_it(checkpoint):
    """The node's start-up line and /diagnostics `sampling`: on the CPU TorchScript or eager
    (CUDA graphs, compiled or not, are said on a GPU: test/test_graph_sampler.py)."""
    scripted = InferenceRunner.from_checkpoint(checkpoint, device='cpu')
    eager = InferenceRunner.from_checkpoint(checkpoint, device='cpu', torchscript=False,
                                            torch_compile=True)  # no effect on the CPU
    try:
        assert scripted.sampling_path == 'TorchScript' and scripted.graphs is None
        assert eager.sampling_path == 'eager' and eager.graphs is None
    finally:
        scripted.close()
        eager.close()


def test_a_failed_torchscript_trace_is_said_as_eager(checkpoint, monkeypatch):
    runner = InferenceRunner.from_checkpoint(checkpoint, device='cpu')
    try:
        def refuse(*args, **kwargs):
            raise RuntimeError('cannot trace')

        monkeypatch.setattr(torch.jit, 'trace', refuse)
        cfg = runner.config
        obs = {'image': torch.rand((1, cfg.n_obs_steps, *cfg.obs_shape('image'))),
               'agent_pos': torch.rand((1, cfg.n_obs_steps, 2)) * 500}
        with pytest.warns(UserWarning, match='TorchScript'):
            runner.predict(obs, torch.Generator().manual_seed(0))
        assert runner.sampling_path == 'eager'
    finally:
        runner.close()
