"""`dp-ros open-loop` (training/open_loop.py) and an action dimension that never changed in
the training data (a gripper always open): the normalizer only shifts such a dimension (its
range is under RANGE_EPS), so its factor 1 is no scale and its "normalized" error is the raw
one. It is left out of every normalized figure (per dimension: None) and named apart with
its raw errors, instead of swamping (or vanishing from) the pooled normalized RMSE."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from support import one_torch_thread, tiny_pusht_config  # noqa: F401

from training.open_loop import (
    EpisodeChunks,
    action_scale,
    chunk_starts,
    error_metrics,
    format_summary,
    main,
)

TO, TA, TP = 2, 8, 16  # the Push-T timeline: observations, executed actions, horizon
GRIPPER = 40.0  # mm, never moved in the demonstrations


def walk(length: int, seed: int) -> np.ndarray:
    """(length, 2) actions: x wanders over hundreds of px, the gripper stays at 40."""
    x = 250 + np.cumsum(np.random.default_rng(seed).normal(0, 5, length))
    return np.stack([x, np.full(length, GRIPPER)], 1)


def policy_on(data: np.ndarray):
    """A tiny real policy whose action normalizer was fitted on `data`."""
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    rng = np.random.default_rng(0)
    normalizer = Normalizer.from_data({'agent_pos': rng.uniform(20, 490, (64, 2)),
                                       'action': data})
    return DiffusionPolicy(tiny_pusht_config(), normalizer).eval()


def test_a_constant_dimension_has_no_normalized_scale():
    data = walk(64, 0)
    scale = action_scale(policy_on(data))
    span = data[:, 0].max() - data[:, 0].min()
    assert scale[0] == pytest.approx(2.0 / span, rel=1e-4)  # fp32 stats
    assert math.isnan(scale[1])  # the normalizer's 1 there: a shift, no scale


def test_the_pooled_normalized_error_leaves_a_constant_dimension_out():
    """5 px off in x over a 500 px range (0.02 normalized) and 2 mm off in the gripper: the
    pooled normalized RMSE is x's 0.02, not sqrt((0.02^2 + 2^2) / 2) = 1.41; the gripper's
    raw errors are still reported, and it is named as constant."""
    recorded = np.stack([np.linspace(0, 100, 16), np.full(16, GRIPPER)], 1)
    c = EpisodeChunks(0, recorded, chunk_starts(16, TA))
    steps = np.asarray(c.starts)[:, None] - (TO - 1) + np.arange(TP)[None, :]
    c.predicted = recorded[np.clip(steps, 0, 15)] + [5.0, 2.0]
    scale = np.array([2.0 / 500, np.nan])
    m = error_metrics([c], scale, TO, TA)
    assert m['rmse_norm'] == pytest.approx(0.02)
    assert m['constant_dimensions'] == [1]
    pd = m['per_dimension']
    assert pd['rmse_norm'][0] == pytest.approx(0.02) and pd['rmse_norm'][1] is None
    assert pd['hold_rmse_norm'][1] is None
    assert pd['rmse'] == pytest.approx([5.0, 2.0]) and pd['max_abs'] == pytest.approx([5, 2])
    assert m['by_chunk_step']['rmse_norm'] == pytest.approx([0.02] * TA)
    assert m['episodes'][0]['rmse_norm'] == pytest.approx(0.02)
    hold_x = m['per_dimension']['hold_rmse'][0] * 2.0 / 500  # the gripper holds exactly
    assert m['hold_rmse_norm'] == pytest.approx(hold_x)
    text = format_summary({'policy': 'p', 'dataset': 'd', 'episodes_chosen': 'all',
                           'episodes': [0], 'metrics': m, 'action_names': ['x', 'gripper'],
                           'warnings': []})
    assert 'normalized RMSE 0.0200' in text
    assert 'constant in the training data' in text and 'gripper' in text
    # every dimension constant: no normalized figure at all, rather than a 0 that reads exact
    none = error_metrics([c], np.array([np.nan, np.nan]), TO, TA)
    assert none['rmse_norm'] is None and none['hold_rmse_norm'] is None
    assert none['by_chunk_step']['rmse_norm'] == [None] * TA


def test_the_command_reports_a_constant_dimension_apart(tmp_path, one_torch_thread):  # noqa: F811
    """End to end on a real store and a tiny real policy fitted on it: the JSON holds no NaN
    (None instead), names the constant dimension, and the plot is drawn."""
    from dp_ros.policy.checkpoint import save_policy
    from training.config import DataConfig, TrainConfig
    from training.replay_buffer import ReplayBuffer

    store = tmp_path / 'demos.zarr'
    buffer = ReplayBuffer.create(store)
    rng = np.random.default_rng(1)
    actions = [walk(n, seed) for seed, n in enumerate((12, 9))]
    for action in actions:
        n = len(action)
        buffer.add_episode({
            'img': rng.integers(0, 256, (n, 96, 96, 3)).astype(np.uint8),
            'state': np.concatenate([action, rng.normal(0, 1, (n, 3))], 1).astype(np.float32),
            'action': action.astype(np.float32)})
    policy = policy_on(np.concatenate(actions))
    cfg = TrainConfig(data=DataConfig(zarr_path=str(store), val_ratio=0.0))
    path = save_policy(policy, tmp_path / 'p', control_period_s=0.1,
                       provenance={'dataset': str(store), 'train_config': cfg.to_dict()})
    out = tmp_path / 'ol.json'
    assert main([str(path), '--output', str(out), '--no-progress', '--episodes', 'all']) == 0
    text = out.read_text()
    assert 'NaN' not in text
    m = json.loads(text)['metrics']
    assert m['constant_dimensions'] == [1]
    assert m['per_dimension']['rmse_norm'][1] is None and m['per_dimension']['rmse'][1] > 0
    assert m['rmse_norm'] == pytest.approx(m['per_dimension']['rmse_norm'][0])
    assert out.with_suffix('.png').stat().st_size > 0


def test_the_summary_table_lines_up_with_long_joint_names():
    """A UR-style prefixed joint name (over 16 characters): each row's numbers end in the
    columns of the header's 'rmse', 'mae', ... (the name column fits the longest name)."""
    recorded = np.stack([np.linspace(0, 100, 16), np.linspace(0, 1, 16)], 1)
    c = EpisodeChunks(0, recorded, chunk_starts(16, TA))
    steps = np.asarray(c.starts)[:, None] - (TO - 1) + np.arange(TP)[None, :]
    c.predicted = recorded[np.clip(steps, 0, 15)] + [5.0, 0.5]
    names = ['left_shoulder_pan_joint', 'left_gripper_finger_joint']
    text = format_summary({'policy': 'p', 'dataset': 'd', 'episodes_chosen': 'all',
                           'episodes': [0], 'metrics': error_metrics([c], np.ones(2), TO, TA),
                           'action_names': names, 'warnings': []})
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith('action'))
    ends = [header.index(col) + len(col) for col in ('rmse', 'mae', 'max|err|')]
    for name in names:
        row = next(line for line in lines if line.startswith(name))
        for end in ends:  # a number right-aligned to the header's column ends there
            assert row[end - 1] != ' ' and (end == len(row) or row[end] == ' '), (header, row)
