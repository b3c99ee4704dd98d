"""`dp-ros open-loop` on episodes with a NaN or inf in their actions or low-dim observations
refuses them in one line naming the key, the dimension and the episodes, before any
sampling, as `dp-ros train` refuses such data: one NaN made every metric NaN, named no
episode, and wrote NaN (no JSON) into the report. Episodes left out by --episodes do not
count. Found by exploratory testing."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_arrays, small_config, write_small_store

from dp_ros.cli import run_subcommand
from training.trainer import train


@pytest.fixture(scope='module')
def setup(tmp_path_factory) -> tuple[Path, Path]:
    """A 2-step policy, and its data with a NaN action in episode 0 (step 3)."""
    root = tmp_path_factory.mktemp('run')
    store = write_small_store(root / 'small.zarr')
    train(small_config(store, train={'max_steps': 2}), root / 'run')
    arrays = small_arrays()
    arrays['action'] = arrays['action'].copy()
    arrays['action'][3, 1] = np.nan
    return root / 'run' / 'checkpoints' / 'latest', write_small_store(root / 'nan.zarr', arrays)


def _open_loop(policy: Path, data: Path, out: Path, *more: str) -> int:
    return run_subcommand('open-loop', [str(policy), '--dataset', str(data), '--output',
                                        str(out), '--no-plot', '--no-progress', *more])


def test_a_nan_action_is_refused_naming_key_dimension_and_episode(tmp_path, capsys, setup):
    policy, data = setup
    assert _open_loop(policy, data, tmp_path / 'ol.json') == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f'dp-ros open-loop: {data}: non-finite values (NaN or inf): action '
                          'dimension(s) [1] in episode(s) [0];'), err
    assert not (tmp_path / 'ol.json').exists()


def test_episodes_without_the_nan_are_measured(tmp_path, capsys, setup):
    policy, data = setup
    out = tmp_path / 'ol.json'
    assert _open_loop(policy, data, out, '--episodes', '1') == 0
    report = json.loads(out.read_text())
    assert report['episodes'] == [1]
    assert math.isfinite(report['metrics']['rmse_norm'])
