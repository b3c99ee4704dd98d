"""Two commands writing one output at once (dp_ros/atomic_dir.py output_lock): neither may
silently undo the other's work.

A second `dp-ros bag2zarr` appending to a store while a first one still converts, and a
second `dp-ros train` started on a run directory whose run is still training, must either
wait, or be refused in one line naming the other writer; never report success and then
lose episodes, nor move a live run's files aside under it.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from support import (
    BAG2ZARR_PUSHT_CONFIG,
    checkout_env,
    module_cmd,
    shortest_episodes,
    tiny_policy_section,
)
from tiny_runs import write_small_store

from dp_ros.bags.recorder import write_pusht_bag
from training.replay_buffer import ReplayBuffer


def _wait_for(predicate, proc: subprocess.Popen, what: str, limit_s: float = 60.0) -> None:
    """Poll until predicate() holds (the process must still run meanwhile)."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f'process ended before {what}: rc {proc.returncode}\n{out}\n{err}')
        if time.monotonic() > deadline:
            pytest.fail(f'no {what} within {limit_s} s')
        time.sleep(0.05)


def _bag2zarr(bag: Path, output: Path) -> list[str]:
    return module_cmd('training.bag2zarr', str(bag), '-c', str(BAG2ZARR_PUSHT_CONFIG),
                      '-o', str(output), '--no-progress')


def test_two_bag2zarr_appends_at_once_lose_no_episodes(tmp_path, pusht_zarr):
    """An append that runs while another append to the same store is in flight is refused
    or waits; both succeeding must leave every episode of both in the store."""
    _, episodes = shortest_episodes(pusht_zarr, 6)
    write_pusht_bag(tmp_path / 'bag_base', episodes[:1])
    write_pusht_bag(tmp_path / 'bag_a', episodes[1:4], start_ns=50 * 10**9)
    write_pusht_bag(tmp_path / 'bag_b', episodes[4:6], start_ns=500 * 10**9)
    store = tmp_path / 'store.zarr'
    env = checkout_env()
    subprocess.run(_bag2zarr(tmp_path / 'bag_base', store), env=env, check=True,
                   capture_output=True, timeout=120)

    a = subprocess.Popen(_bag2zarr(tmp_path / 'bag_a', store), env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # A has started staging its copy of the store: hold it there while B runs
        _wait_for(lambda: any(p.name.startswith('.store.zarr.tmp-')
                              for p in tmp_path.iterdir()), a, "A's staging store")
        a.send_signal(signal.SIGSTOP)
        b = subprocess.Popen(_bag2zarr(tmp_path / 'bag_b', store), env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            b_out, b_err = b.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # B waits for A: fine, let A go on
            a.send_signal(signal.SIGCONT)
            b_out, b_err = b.communicate(timeout=120)
        a.send_signal(signal.SIGCONT)
        a_out, a_err = a.communicate(timeout=120)
    finally:
        if a.poll() is None:
            a.send_signal(signal.SIGCONT)
            a.kill()
            a.wait()

    added = {'a': 3 if a.returncode == 0 else 0, 'b': 2 if b.returncode == 0 else 0}
    assert a.returncode == 0 or b.returncode == 0, (a_err, b_err)
    n = ReplayBuffer.open(store).n_episodes
    assert n == 1 + added['a'] + added['b'], (
        f'store holds {n} episodes; A rc {a.returncode} said {a_out.splitlines()[-2:]}, '
        f'B rc {b.returncode} said {b_out.splitlines()[-2:]}')


def test_a_second_train_on_a_live_run_directory_leaves_that_run_alone(tmp_path):
    """`dp-ros train --output RUN` while another training writes RUN is refused in one line
    (exit 2) and does not move the live run's files into earlier_runs/."""
    store = write_small_store(tmp_path / 'small.zarr')
    def config(steps: int) -> Path:
        cfg = {
            'policy': tiny_policy_section(crop_shape=[6, 8], down_dims=[16, 32],
                                          num_keypoints=4, feature_dim=8,
                                          diffusion_step_embed_dim=16, horizon=8,
                                          n_action_steps=4, num_inference_steps=2),
            'data': {'zarr_path': str(store), 'batch_size': 4, 'val_ratio': 0.2},
            'train': {'max_steps': steps, 'log_every': 1, 'val_every': 0,
                      'action_mse_every': 0, 'eval_every': 0, 'checkpoint_every': 1000000,
                      'final_eval': False, 'num_threads': 1, 'progress': False,
                      'cpu': True},
            'eval': {'n_episodes': 0},
        }
        path = tmp_path / f'cfg_{steps}.yaml'
        path.write_text(yaml.safe_dump(cfg))
        return path

    run = tmp_path / 'run'
    env = checkout_env()
    a = subprocess.Popen(module_cmd('training.train', '--config', str(config(100000)),
                                    '--output', str(run)), env=env, text=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def a_trains() -> bool:
            log = run / 'log.jsonl'
            return log.exists() and any(json.loads(line).get('event') == 'train'
                                        for line in log.read_text().splitlines()
                                        if line.strip())
        _wait_for(a_trains, a, "A's first train record", limit_s=90)
        a.send_signal(signal.SIGSTOP)  # A is live but makes no progress while B runs
        b = subprocess.run(module_cmd('training.train', '--config', str(config(2)),
                                      '--output', str(run)), env=env, text=True,
                           capture_output=True, timeout=120)
    finally:
        a.send_signal(signal.SIGCONT)
        a.kill()
        a.wait()
    assert not (run / 'earlier_runs').exists(), (
        f"B moved the live run's files aside; B rc {b.returncode}: {b.stderr[-300:]}")
    assert b.returncode == 2, b.stderr[-500:]
    assert 'dp-ros train: ' in b.stderr and 'Traceback' not in b.stderr


def test_two_converts_into_one_new_target_do_not_both_succeed(tmp_path):
    """Without --overwrite, a convert into a target another convert is still writing is
    refused in one line (exit 2) naming the target; the first one finishes and its dataset is
    the target (before the lock, both exited 0 and the later swap replaced the other's)."""
    small_a = write_small_store(tmp_path / 'a.zarr')
    small_b = write_small_store(tmp_path / 'b.zarr')
    ReplayBuffer.open(small_b, mode='r+').add_episode(
        ReplayBuffer.open(small_a).get_episode(0))  # b: 6 episodes, a: 5
    target = tmp_path / 'le'
    env = checkout_env()

    def convert(source: Path) -> list[str]:
        return module_cmd('dp_ros.cli', 'convert', str(source), str(target), '--fps', '10',
                          '--no-progress')

    a = subprocess.Popen(convert(small_a), env=env, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: any(p.name.startswith('.le.tmp-') for p in tmp_path.iterdir()),
                  a, "A's staging dataset")
        a.send_signal(signal.SIGSTOP)
        b = subprocess.run(convert(small_b), env=env, text=True, capture_output=True,
                           timeout=120)
        a.send_signal(signal.SIGCONT)
        _, a_err = a.communicate(timeout=120)
    finally:
        if a.poll() is None:
            a.send_signal(signal.SIGCONT)
            a.kill()
            a.wait()
    assert a.returncode == 0, a_err[-500:]
    assert b.returncode == 2 and 'Traceback' not in b.stderr, b.stderr[-500:]
    last = b.stderr.strip().splitlines()[-1]
    assert last.startswith('dp-ros convert: ') and str(target) in last, last
    assert 'another dp-ros command' in last, last
    info = json.loads((target / 'meta' / 'info.json').read_text())
    assert info['total_episodes'] == 5  # A's dataset, whole
