"""`dp-ros open-loop --dataset D` compares the dataset's recorded control period (a zarr
store's control_period_s or fps, a LeRobotDataset's fps: as training reads it) with the
policy's (policy.json control_period_s), as `dp-ros train` does: at another rate a chunk's
steps would span another stretch of the recording than the policy plans, so a mismatch is
refused in one line naming both, before anything is loaded. A dataset recorded at the policy's
rate runs; one recording no rate runs as before (test_open_loop_edges.py)."""
from __future__ import annotations

import json

import pytest
import zarr
from support import make_tiny_checkpoint, one_torch_thread, write_random_walk_store  # noqa: F401

from dp_ros import cli
from training.config import DataConfig, TrainConfig
from training.lerobot_convert import zarr_to_lerobot

LENGTHS = [10, 9]


@pytest.fixture(scope='module')
def policy(tmp_path_factory):
    """A tiny 0.1 s policy whose policy.json says it was trained on a store of LENGTHS."""
    root = tmp_path_factory.mktemp('open_loop_period')
    store = root / 'trained.zarr'
    write_random_walk_store(store, LENGTHS)
    cfg = TrainConfig(data=DataConfig(zarr_path=str(store)))
    return make_tiny_checkpoint(root / 'p', control_period_s=0.1, provenance={
        'dataset': str(store), 'train_config': cfg.to_dict()})


def store_at(path, **attrs):
    """A store of LENGTHS recording `attrs` (control_period_s or fps)."""
    write_random_walk_store(path, LENGTHS, seed=1)
    zarr.open_group(str(path), mode='r+').attrs.update(attrs)
    return path


def run(capsys, policy, dataset, out) -> tuple[int, str]:
    code = cli.main(['open-loop', str(policy), '--dataset', str(dataset), '--episodes', 'all',
                     '--output', str(out), '--no-plot', '--no-progress'])
    return code, capsys.readouterr().err


@pytest.mark.parametrize('attrs', [{'control_period_s': 0.05}, {'fps': 20}],
                         ids=['control_period_s', 'fps'])
def test_a_zarr_store_at_another_rate_is_refused(tmp_path, capsys, policy, attrs):
    out = tmp_path / 'r.json'
    code, err = run(capsys, policy, store_at(tmp_path / 'fast.zarr', **attrs), out)
    assert code == 2, 'open-loop compared a 0.05 s recording with a 0.1 s policy'
    assert len(err.strip().splitlines()) == 1, err
    assert '0.05' in err and '0.1' in err and not out.exists()


def test_a_lerobot_dataset_at_another_fps_is_refused(tmp_path, capsys, policy):
    le = tmp_path / 'le'
    zarr_to_lerobot(store_at(tmp_path / 's.zarr'), le, fps=20, progress=False)
    code, err = run(capsys, policy, le, tmp_path / 'r.json')
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert 'fps 20' in err and '0.1' in err


def test_a_dataset_at_the_policys_rate_is_compared(tmp_path, capsys, policy):
    out = tmp_path / 'r.json'
    code, err = run(capsys, policy, store_at(tmp_path / 'same.zarr', control_period_s=0.1), out)
    assert code == 0, err
    assert json.loads(out.read_text())['metrics']['n_chunks'] > 0
