"""The order of data.rgb_keys (and data.low_dim_keys) is the order the policy concatenates
its observation features in (PolicyConfig: "that order is part of the model"): a resume or a
warm start with the same keys in another order is refused (run_check.diff_values compares
those mappings in order, warm_start.check_init_policy the observations' order), where it was
accepted and the saved weights read each camera's features in the other's place."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import SMALL_LENGTHS, small_config

from training.errors import TrainConfigError, TrainStateError
from training.run_check import check_run, diff_values
from training.trainer import train

AB = {'cam_a': 'cam_a', 'cam_b': 'cam_b'}
BA = {'cam_b': 'cam_b', 'cam_a': 'cam_a'}
POS_VEL = {'pos': 'state[0:2]', 'vel': 'state[2:5]'}
VEL_POS = {'vel': 'state[2:5]', 'pos': 'state[0:2]'}


def _two_camera_store(path: Path) -> Path:
    from training.replay_buffer import ReplayBuffer

    rng = np.random.default_rng(0)
    n = sum(SMALL_LENGTHS)
    arrays = {'cam_a': rng.integers(0, 256, size=(n, 8, 10, 3)).astype(np.uint8),
              'cam_b': rng.integers(0, 256, size=(n, 9, 10, 3)).astype(np.uint8),
              'state': rng.uniform(0, 500, size=(n, 5)),
              'action': rng.uniform(0, 500, size=(n, 2))}
    ReplayBuffer.from_arrays(arrays, np.cumsum(SMALL_LENGTHS)).save_to(path)
    return path


def _config(store: Path, rgb_keys: dict, low_dim_keys: dict | None = None, **train_section):
    data = {'rgb_keys': dict(rgb_keys)}
    if low_dim_keys is not None:
        data['low_dim_keys'] = dict(low_dim_keys)
    return small_config(store, data=data,
                        train={'max_steps': 1, 'checkpoint_every': 1, **train_section})


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory) -> tuple[Path, Path]:
    """(a 1-step run with cameras cam_a then cam_b and low-dim keys pos then vel, its store)."""
    root = tmp_path_factory.mktemp('key_order')
    store = _two_camera_store(root / 'two.zarr')
    train(_config(store, AB, POS_VEL), root / 'run')
    return root / 'run', store


def test_a_resume_with_the_cameras_in_another_order_is_refused(saved_run):
    """A resume whose data.rgb_keys list the same cameras in another order is refused,
    naming the key and both orders (the saved weights read cam_a's features first)."""
    run, store = saved_run
    with pytest.raises(TrainStateError, match=r'data\.rgb_keys \["cam_a", "cam_b"\] -> '
                                              r'\["cam_b", "cam_a"\]'):
        check_run(_config(store, BA, POS_VEL, max_steps=2), run, 'auto')


def test_a_resume_with_the_low_dim_keys_in_another_order_is_refused(saved_run):
    run, store = saved_run
    with pytest.raises(TrainStateError, match=r'data\.low_dim_keys \["pos", "vel"\] -> '
                                              r'\["vel", "pos"\]'):
        check_run(_config(store, AB, VEL_POS, max_steps=2), run, 'auto')


def test_a_resume_in_the_saved_order_goes_on(saved_run):
    run, store = saved_run
    assert check_run(_config(store, AB, POS_VEL, max_steps=2), run, 'auto').saved is not None


def test_a_warm_start_with_the_cameras_in_another_order_is_refused(saved_run, tmp_path):
    """train.init_from a checkpoint whose cameras are in another order than this config's is
    refused ("the policy config must match but for its sampling settings"), naming both
    orders."""
    run, store = saved_run
    cfg = _config(store, BA, POS_VEL, init_from=str(run / 'checkpoints' / 'latest'))
    with pytest.raises(TrainConfigError, match='shape_meta .*order cam_a, cam_b, pos, vel, '
                                               "this config's cam_b, cam_a, pos, vel"):
        check_run(cfg, tmp_path / 'warm', 'never')


def test_a_warm_start_in_the_same_order_is_accepted(saved_run, tmp_path):
    run, store = saved_run
    cfg = _config(store, AB, POS_VEL, init_from=str(run / 'checkpoints' / 'latest'))
    assert check_run(cfg, tmp_path / 'warm', 'never').init_from is not None


def test_diff_values_compares_order_only_where_asked():
    """Elsewhere a mapping's order is no change (a saved config's sections may come in
    another order); an ordered mapping's reorder is one change, its key lists."""
    a = {'x': {'p': 1, 'q': 2}, 'y': {'p': 1, 'q': 2}}
    b = {'y': {'q': 2, 'p': 1}, 'x': {'q': 2, 'p': 1}}
    assert diff_values(a, b) == []
    assert diff_values(a, b, ordered=('x',)) == [('x', ['p', 'q'], ['q', 'p'])]
