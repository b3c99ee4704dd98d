"""`--num-inference-steps` above the policy's diffusion steps (num_train_timesteps) is refused
in one line (exit 2) naming the bound, by `dp-ros open-loop` and `dp-ros eval` (either path),
before anything is loaded or started, as `dp-ros train` refuses eval.num_inference_steps
(run_check.check_eval_sampling): no sampler can take more steps than the diffusion has, and
the first chunk would end in a traceback. Found by exploratory testing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_arrays, small_config, write_small_store

from dp_ros.cli import run_subcommand
from training.trainer import train


@pytest.fixture(scope='module')
def policy(tmp_path_factory) -> tuple[Path, Path]:
    """A 2-step policy of square 12x12 images (the in-process sim renders square ones)."""
    root = tmp_path_factory.mktemp('run')
    arrays = small_arrays()
    arrays['img'] = np.random.default_rng(1).integers(
        0, 256, size=(len(arrays['img']), 12, 12, 3)).astype(np.uint8)
    store = write_small_store(root / 'sq.zarr', arrays)
    train(small_config(store, policy={'crop_shape': [10, 10]}, train={'max_steps': 2}),
          root / 'run')
    return store, root / 'run' / 'checkpoints' / 'latest'


def _refused_in_one_line(capsys, name: str, argv: list[str]) -> None:
    rc = run_subcommand(name, argv)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f'dp-ros {name}:') and len(err.strip().splitlines()) == 1
    assert "--num-inference-steps 1000 must be in 1..100 (the policy's num_train_timesteps)" \
        in err


def test_open_loop_refuses_more_inference_steps_than_diffusion_steps(tmp_path, capsys, policy):
    store, path = policy
    _refused_in_one_line(capsys, 'open-loop', [
        str(path), '--dataset', str(store), '--no-plot', '--no-progress',
        '--num-inference-steps', '1000', '--output', str(tmp_path / 'ol.json')])
    assert not (tmp_path / 'ol.json').exists()


@pytest.mark.parametrize('via', ['inprocess', 'ros'])
def test_eval_refuses_more_inference_steps_than_diffusion_steps(tmp_path, capsys, policy, via):
    _, path = policy
    _refused_in_one_line(capsys, 'eval', [
        '--via', via, '--checkpoint', str(path), '--seeds', '100000', '--max-steps', '2',
        '--no-progress', '--video-episodes', '', '--num-inference-steps', '1000',
        '--output', str(tmp_path / 'e.json')])
    assert not (tmp_path / 'e.json').exists()


def test_the_bound_itself_is_accepted(tmp_path, capsys, policy):
    store, path = policy
    assert run_subcommand('open-loop', [
        str(path), '--dataset', str(store), '--no-plot', '--no-progress', '--episodes', '0',
        '--num-inference-steps', '100', '--output', str(tmp_path / 'ol.json')]) == 0
