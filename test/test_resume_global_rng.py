"""A resumed run continues the uninterrupted one exactly, the global torch CPU RNG included:
a DataLoader made without a generator draws its base seed from it, so the loader a resume
makes mid-epoch drew once more than the uninterrupted run's (whose loader was made at the
epoch's start), and everything drawing from it afterwards differed. Each loader now draws
from its own generator, seeded from (seed, epoch, rank); the batches, their samples and the
losses are the same as before (no worker draws anything: the dataset has no randomness;
this run's 8 losses and its validation losses were checked equal before and after)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file
from support import checkout_env
from tiny_runs import records, saved_state, small_config, write_small_store


def _train(config: Path, run: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, '-m', 'dp_ros.cli', 'train', '--config', str(config),
                           '--output', str(run), *args], env=checkout_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_resume_mid_epoch_leaves_the_global_rng_as_the_uninterrupted_run(tmp_path):
    store = write_small_store(tmp_path / 'small.zarr')
    config = tmp_path / 'train.yaml'
    small_config(store, train={'max_steps': 8, 'checkpoint_every': 3, 'final_eval': False,
                               'num_threads': 1, 'progress': False, 'cpu': True,
                               'log_every': 1}).save(config)
    whole, resumed = tmp_path / 'whole', tmp_path / 'resumed'
    _train(config, whole)
    _train(config, resumed, '--max-steps', '3')
    assert saved_state(resumed)['position']['batch'] not in (0, None)  # mid-epoch
    _train(config, resumed, '--max-steps', '8')
    rng = [load_file(str(run / 'train_state' / 'rng_rank0.safetensors'))['torch_cpu']
           for run in (whole, resumed)]
    assert rng[0].equal(rng[1])
    losses = [[r['loss'] for r in records(run, 'train')] for run in (whole, resumed)]
    assert losses[0] == losses[1]
