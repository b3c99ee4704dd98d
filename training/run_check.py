"""What a training run starts from, checked before torch loads: the train state it resumes,
the dataset and its shapes, the policy section, the checkpoint it warm-starts from and the
closed-loop evaluation's sim. A run that cannot start says why in half a second and leaves
no run directory; training/trainer.py builds on the checked result.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dp_ros.policy.config import PolicyConfig
from training.config import TrainConfig
from training.errors import TrainConfigError
from training.train_state_file import find_train_state, read_state


@dataclass(frozen=True)
class CheckedRun:
    """A run's inputs, each found and checked (check_run)."""

    state_path: Path | None  # the train_state directory the run continues (None: fresh)
    saved: dict[str, Any] | None  # its state.json
    dataset: Path  # the training store: a zarr replay buffer or a LeRobotDataset
    policy_cfg: PolicyConfig  # the policy section, shape_meta read from the dataset if absent
    init_from: Path | None  # the checkpoint a fresh run warm-starts from (train.init_from)


def check_run(cfg: TrainConfig, run_dir: str | Path, resume: str = 'auto') -> CheckedRun:
    """Every input of the run `cfg` in `run_dir` with --resume `resume`, checked from files'
    metadata; the errors are EXPECTED_ERRORS (one line and exit code 2 in `dp-ros train`)."""
    state_path = find_train_state(resume, Path(run_dir))
    saved = read_state(state_path) if state_path else None
    warm_start = not saved and bool(cfg.train.init_from)
    if warm_start:
        from training.warm_start import init_checkpoint
        init_checkpoint(cfg.train.init_from)  # named before the dataset is read
    dataset = dataset_path(cfg)
    policy_dict = dict(cfg.policy)
    if 'shape_meta' not in policy_dict:
        from training.dataset_meta import dataset_shape_meta
        policy_dict['shape_meta'] = dataset_shape_meta(dataset, **cfg.data.key_args())
    try:
        policy_cfg = PolicyConfig.from_dict(policy_dict)
    except (TypeError, ValueError) as exc:
        raise TrainConfigError(f'policy: {exc}') from None
    check_eval_fits(cfg, policy_cfg)
    init_from = None
    if warm_start:
        from training.warm_start import check_init_policy
        init_from = check_init_policy(cfg.train.init_from, policy_cfg)
    return CheckedRun(state_path, saved, dataset, policy_cfg, init_from)


def dataset_path(cfg: TrainConfig) -> Path:
    """data.zarr_path resolved, present and of data.format (zarr or lerobot)."""
    d = cfg.data
    path = d.resolved_zarr_path()
    if not path.exists():
        raise FileNotFoundError(f'dataset {path} not found (data.zarr_path={d.zarr_path!r}); '
                                'run `dp-ros download-pusht` or set data.zarr_path=...')
    from training.lerobot_source import check_format
    check_format(path, d.format)
    return path


def check_eval_fits(cfg: TrainConfig, policy_cfg: PolicyConfig) -> None:
    """A policy the closed-loop evaluation's sim cannot run (another robot's cameras and
    joints) is a config error at the start, not a crash at the first evaluation."""
    if not cfg.evaluates:
        return
    from training.eval_env import check_eval_fits as check
    try:
        check(cfg.eval.robot, policy_cfg)
    except ValueError as exc:
        raise TrainConfigError(
            f'{exc}. A robot without a simulator: eval.n_episodes=0 (no closed-loop score; '
            '`dp-ros open-loop` compares the policy with held-out demonstrations)') from None
