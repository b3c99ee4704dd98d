"""What the tests of training's faults share (stops, resumes, NaN): a few Push-T episodes
copied into a small store, and the config of a tiny run on them that takes seconds; a smaller
synthetic store (5 episodes of 8x10 images) and its config, for runs of milliseconds a step.

Imported as `tiny_runs` (test/conftest.py puts test/ on sys.path); heavy libraries are
imported inside the functions.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support import DATASET_KEYS, episode_bounds, tiny_policy_section

N_EPISODES = 5  # 3 train after the cap, 1 validation
SMALL_LENGTHS = [10, 12, 9, 14, 11]  # the synthetic store's episodes; 1 validation at 0.2


@contextmanager
def without_curves() -> Iterator[None]:
    """In-process runs inside skip drawing curves.png (RunLog.plot, matplotlib: about half a
    second at each resume point, most of a tiny run's time). A plot never changes a run:
    run_log.py turns its failures into a warning, and it writes curves.png only. For tests
    that do not look at curves.png; test_train_loop's complete run and
    test_trainer_saves_review's curves test pin the drawing."""
    from training.run_log import RunLog

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunLog, 'plot', lambda self: None)
        yield


@pytest.fixture
def no_curves() -> Iterator[None]:
    """without_curves for one test: `pytest.mark.usefixtures('no_curves')` after importing it."""
    with without_curves():
        yield


def copy_episodes(source: Path, path: Path, n: int = N_EPISODES,
                  change: Callable[[int, dict], dict] | None = None) -> Path:
    """The first n episodes of the replay buffer `source` as a new store at `path`;
    change(episode, arrays) may alter an episode's arrays (a NaN, another action width)."""
    import zarr

    from training.replay_buffer import ReplayBuffer

    src = zarr.open(str(source), mode='r')
    starts, ends = episode_bounds(source)
    out = ReplayBuffer.create(path)
    for i, (start, end) in enumerate(zip(starts[:n], ends[:n], strict=True)):
        arrays = {k: src['data'][k][start:end] for k in DATASET_KEYS}
        out.add_episode(change(i, arrays) if change else arrays)
    return path


def run_config(zarr_path: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A tiny run of 6 steps on zarr_path without measurements; `sections` update it."""
    cfg: dict[str, Any] = {
        'policy': tiny_policy_section(num_inference_steps=3),
        'data': {'zarr_path': str(zarr_path), 'batch_size': 8, 'max_train_episodes': 3,
                 'val_ratio': 0.2},
        'optim': {'lr': 3e-4, 'lr_warmup_steps': 2},
        'train': {'max_steps': 6, 'log_every': 1, 'val_every': 0, 'action_mse_every': 0,
                  'eval_every': 0, 'checkpoint_every': 3, 'num_threads': 1,
                  'progress': False},
        'eval': {'n_episodes': 0, 'max_steps': 16, 'n_video_episodes': 0},
    }
    for name, values in sections.items():
        cfg[name] = {**cfg[name], **values}
    return cfg


def records(run: Path, event: str) -> list[dict[str, Any]]:
    """The run's log.jsonl records of one event, in order."""
    lines = (run / 'log.jsonl').read_text().splitlines()
    return [r for r in map(json.loads, filter(str.strip, lines)) if r['event'] == event]


def saved_state(run: Path) -> dict[str, Any]:
    return json.loads((run / 'train_state' / 'state.json').read_text())


def small_arrays(seed: int = 0) -> dict[str, Any]:
    """The synthetic store's arrays: random 8x10 images, a 5-wide state, a 2-wide action."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = sum(SMALL_LENGTHS)
    return {'img': rng.integers(0, 256, size=(n, 8, 10, 3)).astype(np.uint8),
            'state': rng.uniform(0, 500, size=(n, 5)),
            'action': rng.uniform(0, 500, size=(n, 2))}


def write_small_store(path: Path, arrays: dict[str, Any] | None = None) -> Path:
    """`arrays` (default small_arrays()) as a replay buffer of SMALL_LENGTHS episodes."""
    import numpy as np

    from training.replay_buffer import ReplayBuffer

    arrays = small_arrays() if arrays is None else arrays
    ReplayBuffer.from_arrays(arrays, np.cumsum(SMALL_LENGTHS)).save_to(path)
    return path


def small_config(store: Path, **sections: dict[str, Any]) -> Any:
    """A TrainConfig of 4 steps of batch 4 on a small store, no measurements, a save every 2;
    `sections` update it."""
    from training.config import TrainConfig

    cfg: dict[str, Any] = {
        'policy': tiny_policy_section(crop_shape=[6, 8], down_dims=[16, 32], num_keypoints=4,
                                      feature_dim=8, diffusion_step_embed_dim=16, horizon=8,
                                      n_action_steps=4, num_inference_steps=2),
        'data': {'zarr_path': str(store), 'batch_size': 4, 'val_ratio': 0.2},
        'train': {'max_steps': 4, 'log_every': 1, 'val_every': 0, 'action_mse_every': 0,
                  'eval_every': 0, 'checkpoint_every': 2, 'final_eval': False,
                  'num_threads': 1, 'progress': False, 'cpu': True},
        'eval': {'n_episodes': 0},
    }
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    return TrainConfig.from_dict(cfg)


def nan_in_ema(run: Path) -> None:
    """A NaN in one of the EMA weights of the run's train state (trained weights finite)."""
    from safetensors.torch import load_file, save_file

    path = run / 'train_state' / 'ema.safetensors'
    ema = load_file(path)
    name = next(k for k, v in ema.items() if v.is_floating_point() and v.numel() > 1)
    ema[name] = ema[name].clone()
    ema[name].view(-1)[0] = float('nan')
    save_file(ema, path)
