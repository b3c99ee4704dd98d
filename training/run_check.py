"""What a training run starts from, checked before torch loads: the train state it resumes
(and whether this config can continue it), the dataset, its shapes and whether it fits in
memory (check_memory), the policy section, the checkpoint it warm-starts from and the
closed-loop evaluation's sim. A run that cannot start says why in half a second and leaves
no run directory; training/trainer.py builds on the checked result.

Resuming with a changed config: each key either takes effect from the resume step on
(TAKES_EFFECT_ON_RESUME: the loop reads it afresh) or cannot, because the train state brings
its own (REFUSED_ON_RESUME: the optimizer's and the EMA's settings, the seed's streams, the
data split, the network): those are refused, so that config.yaml never records a value the
run did not use. So is a dataset whose episodes are not those the saved split was drawn over
(check_same_episodes: episodes appended since would redraw it).
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.atomic_dir import check_writable_dir
from dp_ros.errors import UserError
from dp_ros.policy.config import PolicyConfig
from dp_ros.recorded_sources import SOURCES
from training.config import (
    DEFAULT_CONTROL_PERIOD_S,
    TrainConfig,
    keep_saved_on_resume,
    migrate_deprecated_keys,
    saved_config_data,
)
from training.errors import DatasetError, TrainConfigError, TrainStateError
from training.nested_diff import Change, diff_values, in_field
from training.train_state_file import find_train_state, read_state
from training.warm_start import IGNORED_FIELDS, names_only_where_recorded

log = logging.getLogger('dp_ros.train')

_OPTIMIZER = "the saved optimizer state keeps the run's own lr, betas, eps and weight_decay"
_EMA = "the saved EMA keeps the run's own decay settings"
_SEED = 'the data order and the noise continue the streams of the saved seed'
_SPLIT = "the run's training and validation episodes were drawn with the saved split"
_KEYS = 'the weights and the normalizer were fitted on the saved observation and action keys'
_INIT = 'train.init_from only starts a fresh run (the train state has the weights)'
_POLICY = 'the saved weights are those of the saved network and data shapes'

# Push-T's state: agent x, y, block x, y, angle; its default agent_pos is the first two
PUSHT_STATE_WIDTH = 5
# dotted config key (a key stands for the keys below it) -> why a resume cannot honour a
# change of it
REFUSED_ON_RESUME: dict[str, str] = {
    'optim.lr': _OPTIMIZER, 'optim.betas': _OPTIMIZER, 'optim.eps': _OPTIMIZER,
    'optim.weight_decay': _OPTIMIZER,
    'ema.power': _EMA, 'ema.max_value': _EMA, 'ema.min_value': _EMA, 'ema.inv_gamma': _EMA,
    'ema.update_after_step': _EMA,
    'train.seed': _SEED,
    'data.val_ratio': _SPLIT, 'data.max_train_episodes': _SPLIT, 'data.split_seed': _SPLIT,
    'data.exclude_episodes': _SPLIT,
    'data.image_key': _KEYS, 'data.state_key': _KEYS, 'data.action_key': _KEYS,
    'data.rgb_keys': _KEYS, 'data.low_dim_keys': _KEYS,
    'train.init_from': _INIT,
}
# keys the resumed run reads from its config, so a change applies from the resume step on:
# the schedule's shape and length (the lr lambda is rebuilt; its base lr is the saved one),
# batching, precision, devices, intervals, the evaluation and where the data is read from
TAKES_EFFECT_ON_RESUME: frozenset[str] = frozenset({
    'data.zarr_path', 'data.format', 'data.batch_size', 'data.num_workers', 'data.pin_memory',
    'data.persistent_workers', 'data.drop_last', 'data.device_batches',
    'optim.lr_scheduler', 'optim.lr_warmup_steps', 'optim.grad_accum_steps',
    'optim.max_grad_norm', 'optim.fused',
    'ema.enabled', 'ema.foreach',  # ema.enabled: off drops the EMA; on needs a saved one
    'train.max_steps', 'train.mixed_precision', 'train.cpu', 'train.channels_last',
    'train.num_threads', 'train.torch_compile', 'train.tf32', 'train.log_every',
    'train.val_every', 'train.val_max_batches',
    'train.action_mse_every', 'train.eval_every', 'train.checkpoint_every',
    'train.snapshot_every', 'train.keep_snapshots', 'train.final_eval', 'train.progress',
    'train.control_period_s',
    'eval',
})


@dataclass(frozen=True)
class CheckedRun:
    """A run's inputs, each found and checked (check_run)."""

    state_path: Path | None  # the train_state directory the run continues (None: fresh)
    saved: dict[str, Any] | None  # its state.json
    dataset: Path  # the training store: a zarr replay buffer or a LeRobotDataset
    policy_cfg: PolicyConfig  # the policy section, shape_meta read from the dataset if absent
    init_from: Path | None  # the checkpoint a fresh run warm-starts from (train.init_from)
    changed: tuple[str, ...] = ()  # a resume's config changes that take effect ('key a -> b')


def check_training_episodes(cfg: TrainConfig, n_episodes: int, excluded: np.ndarray,
                            dataset: Path | str) -> None:
    """The split leaves a training episode, or a DatasetError naming what took them (the
    held-out draw, the cap, data.exclude_episodes) before the data loads: after it, 'the
    training set has no windows' named neither."""
    from training.sampler import split_masks

    d = cfg.data
    if split_masks(n_episodes, d.val_ratio, d.max_train_episodes, d.split_seed,
                   excluded)[1].any():
        return
    val, drawn = split_masks(n_episodes, d.val_ratio, d.max_train_episodes, d.split_seed,
                             np.zeros(n_episodes, dtype=bool))
    split = (f'the split (data.val_ratio {d.val_ratio}, split seed {d.split_seed}'
             + (f', data.max_train_episodes {d.max_train_episodes}'
                if d.max_train_episodes is not None else '')
             + f') holds out {int(val.sum())} of its {n_episodes} episodes')
    if not drawn.any():
        raise DatasetError(f'{dataset}: no training episode: {split} and draws none for '
                           'training; lower data.val_ratio or raise data.max_train_episodes')
    raise DatasetError(f'{dataset}: no training episode is left: {split}, and data.'
                       f'exclude_episodes takes every one drawn for training '
                       f'({np.flatnonzero(drawn).tolist()}); exclude fewer')


def check_run_dir_apart(run_dir: Path, dataset: Path) -> None:
    """TrainConfigError for a run directory that is the dataset or inside it: the run's
    checkpoints, train state and logs would be written into the store. (A dataset inside the
    run directory is left alone: a new run sets aside only a run's own files.)"""
    run, data = run_dir.resolve(), dataset.resolve()
    if run == data or data in run.parents:
        where = 'is the dataset' if run == data else 'is inside the dataset'
        raise TrainConfigError(f'--output {run_dir} {where} {dataset}: the run would be '
                               'written into the store; give a run directory outside it')


def check_run(cfg: TrainConfig, run_dir: str | Path, resume: str = 'auto',
              given: dict[str, Any] | None = None) -> CheckedRun:
    """Every input of the run `cfg` in `run_dir` with --resume `resume`, checked from files'
    metadata; the errors are EXPECTED_ERRORS (one line and exit code 2 in `dp-ros train`).
    train.control_period_s left unset (None) is set here, to the dataset's. `given`: the keys
    the config sets (load_config_data's); on a resume, each key added since the run was saved
    that it leaves unset keeps the run's value (keep_saved_on_resume), before the changes are
    compared. None: cfg sets every key."""
    try:  # a file there or on its way, a link to nothing: mkdir's error once the data loaded
        check_writable_dir(run_dir, '--output')
    except UserError as exc:
        raise TrainConfigError(str(exc)) from None
    state_path = find_train_state(resume, Path(run_dir))
    saved = read_state(state_path) if state_path else None
    if saved and given is not None:
        keep_saved(cfg, given, saved)
    warm_start = not saved and bool(cfg.train.init_from)
    if warm_start:
        from training.warm_start import init_checkpoint
        init_checkpoint(cfg.train.init_from)  # named before the dataset is read
    dataset = dataset_path(cfg)
    check_run_dir_apart(Path(run_dir), dataset)
    from training.lerobot_source import open_training_store
    store = open_training_store(dataset)
    from training.dataset_meta import check_has_episodes, excluded_episodes
    check_has_episodes(store.n_episodes, dataset)
    # an index the store lacks, or every episode: refused here, not when the data loads
    excluded = excluded_episodes(store.n_episodes, cfg.data.exclude_episodes, str(dataset))
    check_training_episodes(cfg, store.n_episodes, excluded, dataset)
    resolve_control_period(cfg, dataset, store)
    from training.dataset_meta import dataset_shape_meta
    data_meta = dataset_shape_meta(dataset, **cfg.data.key_args())
    policy_dict = dict(cfg.policy)
    given = 'shape_meta' in policy_dict
    policy_dict.setdefault('shape_meta', data_meta)
    if given and isinstance(policy_dict['shape_meta'], Mapping):
        from training.dataset_meta import with_recorded_fields
        before = (saved.get('policy_config') or {}).get('shape_meta', {}) if saved else None
        policy_dict['shape_meta'], differs, left = with_recorded_fields(
            policy_dict['shape_meta'], data_meta, before)
        if differs:
            raise TrainConfigError(
                f'policy.shape_meta does not fit {dataset}: {differs}; leave that field out '
                "to take the dataset's (the node fits live frames and checks the joints by it)")
        if left and int(os.environ.get('RANK', '0')) == 0:
            log.warning(f"resuming a run saved without the dataset's {', '.join(left)} (its "
                        "policy.shape_meta left them out): it goes on without them, and its "
                        'checkpoints do not tell the node (a camera fitted whole, joints '
                        'unchecked); start over (--resume never) to record them')
    try:
        policy_cfg = PolicyConfig.from_dict(policy_dict)
    except (TypeError, ValueError) as exc:
        raise TrainConfigError(f'policy: {exc}') from None
    if given:
        check_shape_meta_fits(policy_cfg, data_meta, dataset)
    check_state_wraps(policy_cfg, dataset)
    check_eval_fits(cfg, policy_cfg)
    check_eval_sampling(cfg, policy_cfg)
    changed: tuple[str, ...] = ()
    if saved:
        changed = check_resume(state_path, saved, cfg, policy_cfg)
        check_same_episodes(state_path, saved, dataset, store.episode_ends)
    check_has_state(cfg, policy_cfg)  # after the resume's refusals, which say more
    memory_warnings = check_memory(cfg, dataset, store)  # last: the others are cheaper to fix
    init_from = None
    if warm_start:
        from training.warm_start import check_init_policy
        init_from = check_init_policy(cfg.train.init_from, policy_cfg)
    if int(os.environ.get('RANK', '0')) == 0:  # once, not per process
        for warning in start_warnings(cfg, policy_cfg, dataset, store) + memory_warnings:
            log.warning(warning)
    return CheckedRun(state_path, saved, dataset, policy_cfg, init_from, changed)


# ---------------------------------------------------------------------------- resume


def keep_saved(cfg: TrainConfig, given: dict[str, Any], saved: dict[str, Any]) -> None:
    """keep_saved_on_resume on the train state `saved`, each key kept said once: a run
    saved before train.tf32 existed goes on in full float32 unless the config sets it."""
    for key in keep_saved_on_resume(cfg, given, saved.get('config') or {}):
        if int(os.environ.get('RANK', '0')) == 0:  # once, not per process
            section, name = key.split('.')
            log.info('%s kept %s, as the run was saved (before the key existed): set it in '
                     'the config to change it', key, _short(getattr(getattr(cfg, section), name)))


def check_same_episodes(state_path: Path, saved: dict[str, Any], dataset: Path,
                        episode_ends: Any) -> None:
    """TrainStateError when the dataset's episodes are not those the saved split was drawn
    over (episodes appended since, say): the resumed run would draw another split and train
    on its validation episodes. A state saved before the split was recorded: a warning."""
    from training.dataset_meta import SPLIT, split_change

    record = saved.get(SPLIT)
    if not isinstance(record, dict):
        if int(os.environ.get('RANK', '0')) == 0:  # once, not per process
            log.warning('%s records no split (saved by an older dp_ros): cannot check that %s '
                        'still holds the episodes it was drawn over; with episodes added '
                        'since, the training and validation episodes are drawn anew',
                        state_path, dataset)
        return
    change = split_change(record, episode_ends)
    if change:
        raise TrainStateError(
            f'cannot resume {state_path}: the dataset {dataset} changed since it was saved '
            f'({change}), so its training and validation episodes would be drawn anew '
            '(validation episodes trained on). Resume on the dataset as it was, or train on '
            'this one in a new run: --resume never (or another --output)')


def check_resume(state_path: Path, saved: dict[str, Any], cfg: TrainConfig,
                 policy_cfg: PolicyConfig) -> tuple[str, ...]:
    """The config changes since the train state was saved that take effect ('key a -> b');
    TrainStateError naming every change that cannot, and how to go on instead."""
    changes = config_changes(saved.get('config') or {}, cfg.to_dict())
    changes += policy_changes(state_path, saved, policy_cfg)
    refused = [c for c in changes if refusal(c[0])]
    if cfg.ema.enabled and saved.get('ema') is None:
        refused.append(('ema.enabled', False, True))
    if refused:
        raise TrainStateError(_refusal_message(state_path, refused))
    step = int((saved.get('position') or {}).get('step', 0))
    if cfg.train.max_steps < step:  # nothing to train, and config.yaml would say otherwise
        raise TrainStateError(f'{state_path} is at step {step}, past train.max_steps '
                              f'{cfg.train.max_steps}: give train.max_steps > {step} to train '
                              'on, or start over with --resume never (or another --output)')
    return tuple(_describe(c) for c in changes)


def refusal(key: str) -> str | None:
    """Why a resume cannot honour a change of dotted config `key`; None: it takes effect.
    A key in neither table is refused: what the code was not told it honours, it may not."""
    parts = key.split('.')
    if parts[0] == 'policy':
        # the sampling settings change no weight, as for a warm start; nor where the data was
        # recorded from (its sources: a camera appended at a lower rate, other topics)
        if parts[1:2] and parts[1] in IGNORED_FIELDS or in_field(key, SOURCES):
            return None
        return _POLICY
    for i in range(len(parts), 0, -1):
        prefix = '.'.join(parts[:i])
        if prefix in REFUSED_ON_RESUME:
            return REFUSED_ON_RESUME[prefix]
        if prefix in TAKES_EFFECT_ON_RESUME:
            return None
    return 'a resume does not know how to apply it'


def config_changes(saved: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """The leaves that differ between the saved config and this one, but the policy section
    (policy_changes compares the resolved policies). A key the saved config lacks (written
    before the key existed) counts as the value the run used (saved_config_data: train.tf32
    false), else as its default; one this code no longer has is ignored."""
    old = _with_defaults(saved_config_data(saved), TrainConfig().to_dict())
    return [c for c in diff_values(old, new, ordered=('data.rgb_keys', 'data.low_dim_keys'))
            if c[0].split('.')[0] != 'policy']


def policy_changes(state_path: Path, saved: dict[str, Any], policy_cfg: PolicyConfig
                   ) -> list[Change]:
    """Fields of the resolved policy (shape_meta from the dataset included) that differ
    from the saved one, as 'policy.<field>'; then the widths of the saved normalizer against
    the dataset's, the check a state saved before policy_config was recorded has."""
    theirs = saved.get('policy_config') or _saved_policy(state_path, saved, policy_cfg)
    ours = policy_cfg.to_dict()
    ours['shape_meta'] = names_only_where_recorded(ours['shape_meta'],
                                                    theirs.get('shape_meta', {}))
    ordered = ('shape_meta.obs',)  # the order of the observations' features
    out = [(f'policy.{k}', a, b) for k, a, b in diff_values(theirs, ours, ordered=ordered)]
    named = [k for k, _, _ in out]
    return out + [c for c in _normalizer_changes(saved, policy_cfg)
                  if not any(c[0] == k or c[0].startswith(f'{k}.') for k in named)]


def _normalizer_changes(saved: dict[str, Any], policy_cfg: PolicyConfig) -> list[Change]:
    """The saved normalizer's keys and widths against the dataset's action and low-dim
    observations: what the weights were trained to read."""
    fields = (saved.get('normalizer') or {}).get('fields', {})
    meta = policy_cfg.shape_meta
    want = {'action': ('action', meta['action']['shape'])}
    want.update({k: (f'obs.{k}', meta['obs'][k]['shape']) for k in policy_cfg.low_dim_keys})
    out = []
    for key in sorted(set(want) | {k for k, f in fields.items() if f.get('kind') == 'limits'}):
        where, shape = want.get(key, (f'obs.{key}', None))
        width = len(fields[key].get('scale', ())) if key in fields else None
        if shape is None or width != math.prod(shape):
            out.append((f'policy.shape_meta.{where}.shape',
                        f'{width} normalized dimensions' if width else None,
                        None if shape is None else list(shape)))
    return out


def _saved_policy(state_path: Path, saved: dict[str, Any], policy_cfg: PolicyConfig
                  ) -> dict[str, Any]:
    """The policy a state without policy_config trained: its config's policy section, with
    the shape_meta it read from the same dataset path (this one's) when it had none."""
    section = dict((migrate_deprecated_keys(saved.get('config') or {})).get('policy') or {})
    section.setdefault('shape_meta', policy_cfg.shape_meta)
    try:
        return PolicyConfig.from_dict(section).to_dict()
    except (TypeError, ValueError) as exc:
        raise TrainStateError(f'{state_path}: its policy section does not load ({exc}); '
                              '--resume never starts over') from None


def _with_defaults(saved: Any, defaults: Any) -> Any:
    if not (isinstance(saved, dict) and isinstance(defaults, dict)):
        return saved
    return {**{k: v for k, v in defaults.items() if k not in saved},
            **{k: _with_defaults(v, defaults.get(k)) for k, v in saved.items()
               if k in defaults or not defaults}}


def _describe(change: Change) -> str:
    key, a, b = change
    return f'{key} {_short(a)} -> {_short(b)}'


def _short(value: Any, limit: int = 60) -> str:
    """A value as the config writes it; a long mapping or list cut short (a path never)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit or isinstance(value, str) else text[:limit - 3] + '...'


def _refusal_message(state_path: Path, refused: list[Change]) -> str:
    """One line: the changes grouped by why they cannot apply, and the ways on."""
    why: dict[str, list[str]] = {}
    for key, a, b in refused:
        reason = (f'{state_path} has no EMA to continue' if key == 'ema.enabled'
                  else refusal(key))
        why.setdefault(reason, []).append(_describe((key, a, b)))
    groups = '; '.join(f'{", ".join(keys)} ({reason})' for reason, keys in why.items())
    return (f'cannot resume {state_path} with this config: {groups}. Set these back to the '
            'saved values (the config.yaml of the run that saved it), or start the run over '
            'with --resume never (or another --output)')


def resolve_control_period(cfg: TrainConfig, dataset: Path, store: Any) -> None:
    """train.control_period_s: the dataset's recorded rate when the config leaves it unset
    (None), else 0.1 s; a value other than the recorded one is a TrainConfigError."""
    from training.replay_buffer import recorded_control_period

    recorded = recorded_control_period(store)
    t = cfg.train
    if t.control_period_s is None:
        if recorded is None and _from_bags(store) and int(os.environ.get('RANK', '0')) == 0:
            log.warning('%s records no control period (bag2zarr wrote none before 2026-12-03): '
                        'assuming %g s; set train.control_period_s if its steps are another '
                        'period apart', dataset, DEFAULT_CONTROL_PERIOD_S)
        t.control_period_s = recorded[0] if recorded else DEFAULT_CONTROL_PERIOD_S
    elif recorded and not math.isclose(t.control_period_s, recorded[0], rel_tol=1e-3):
        period, where = recorded
        raise TrainConfigError(
            f'train.control_period_s is {t.control_period_s:g} s ({1 / t.control_period_s:g} '
            f'Hz) but {dataset} records {where} ({period:.6g} s, {1 / period:g} Hz): the '
            'policy would run at another rate than its data. Leave train.control_period_s '
            "unset (null) to take the dataset's, or resample the data")


def _from_bags(store: Any) -> bool:
    """Whether a store was converted from a robot's bags (its arrays record their topics):
    its period is the lab's, unknown; the paper's stores, which record no period either, are
    10 Hz, the default."""
    return any(store.attrs(key).get(SOURCES) for key in store.keys())


def check_eval_sampling(cfg: TrainConfig, policy_cfg: PolicyConfig) -> None:
    """eval.num_inference_steps beyond the policy's diffusion steps is a config error at the
    start, not a crash at the first measurement (eval.sampler: TrainConfig.validate)."""
    if cfg.eval.num_inference_steps is None:
        return
    try:
        policy_cfg.check_inference_steps(cfg.eval.num_inference_steps, 'eval.num_inference_steps')
    except ValueError as exc:
        raise TrainConfigError(f"{exc}, or null: the policy's") from None


def check_state_wraps(policy_cfg: PolicyConfig, dataset: Path) -> None:
    """A state whose pose sources were converted with different yaw_min values (two arms'
    poses, one wrapped from 0, one from -pi, in one key or in two) is refused at the start:
    the policy node wraps every pose of its state with one state_yaw_min and refuses such a
    policy, so hours of training would make a policy nothing runs."""
    from dp_ros.recorded_sources import describe_yaw_wraps, wraps_differ, yaw_wraps

    sources = {k: policy_cfg.recorded_sources(k) for k in policy_cfg.low_dim_keys}
    keys = [k for k, s in sources.items() if yaw_wraps(s)]
    wraps = yaw_wraps([s for k in keys for s in sources[k]])
    if wraps_differ(wraps):
        raise TrainConfigError(
            f'{dataset}: the policy\'s state ({", ".join(keys)}) has pose sources whose yaw '
            f'was wrapped differently ({describe_yaw_wraps(wraps)}); the policy node wraps '
            'every pose of its state with one state_yaw_min and would refuse the policy: '
            'convert the bags again with one yaw_min for every pose source'
            + (', or leave keys out of data.low_dim_keys' if len(keys) > 1 else ''))


def check_shape_meta_fits(policy_cfg: PolicyConfig, data_meta: dict, dataset: Path) -> None:
    """A policy section's own shape_meta against the windows the data keys make of the
    dataset (`data_meta`): a camera size, a width or an observation they do not give is a
    config error at the start, not a traceback at the first step."""
    from training.dataset_meta import policy_data_misfit

    misfit = policy_data_misfit(policy_cfg, data_meta)
    if misfit:
        raise TrainConfigError(f'policy.shape_meta does not fit {dataset}: {misfit}; leave '
                               'policy.shape_meta out to take the shapes from the dataset')


def check_has_state(cfg: TrainConfig, policy_cfg: PolicyConfig) -> None:
    """A policy without a low-dim observation (image-only) is refused at the start: the
    policy node feeds the joint states as one and refuses such a checkpoint, so hours of
    training would make a policy nothing runs."""
    if policy_cfg.low_dim_keys:
        return
    where, fix = (("policy.shape_meta has no low_dim observation", 'add the state to its obs')
                  if 'shape_meta' in cfg.policy else
                  ('data.low_dim_keys is empty', 'name the state in data.low_dim_keys'))
    raise TrainConfigError(f'{where}: an image-only policy, which the policy node refuses (it '
                           f'feeds the joint states as a low-dim observation); {fix}, e.g. '
                           f'{{agent_pos: {cfg.data.state_key}}}')


def start_warnings(cfg: TrainConfig, policy_cfg: PolicyConfig, dataset: Path, store: Any
                   ) -> list[str]:
    """What the config lets train but likely not as meant: the Push-T default state slice
    dropping columns of a state that is not Push-T's (a Push-T recipe on arm data trains on
    2 joints), a warmup longer than the run, a denoising step count that starts far below a
    smaller one's (the policy's, the evaluation's)."""
    out = [w for w in (
        policy_cfg.late_start_warning(policy_cfg.num_inference_steps,
                                      'policy.num_inference_steps'),
        policy_cfg.late_start_warning(cfg.eval.num_inference_steps, 'eval.num_inference_steps')
        if cfg.eval.num_inference_steps else '') if w]
    d, o, t = cfg.data, cfg.optim, cfg.train
    if d.low_dim_keys is None:  # the Push-T default: agent_pos = state[0:2]
        width = math.prod(store.data[d.state_key].shape[1:])
        if width > 2 and width != PUSHT_STATE_WIDTH:
            out.append(f'{dataset}: data.low_dim_keys unset, so the state is the Push-T '
                       f'default agent_pos = {d.state_key}[0:2]: 2 of its {width} columns, '
                       f'{width - 2} dropped; name the state in data.low_dim_keys (e.g. '
                       f'{{agent_pos: {d.state_key}}} for all of them)')
    if o.lr_warmup_steps > t.max_steps:
        out.append(f'optim.lr_warmup_steps {o.lr_warmup_steps} > train.max_steps '
                   f'{t.max_steps}: the learning rate never reaches optim.lr {o.lr:g} (it '
                   f'ends at {o.lr * t.max_steps / o.lr_warmup_steps:.3g})')
    return out


# ---------------------------------------------------------------------------- memory
MEMORY_WARN_FRACTION = 0.8  # of the memory available: a warning (little left for the rest)
CGROUP_ROOT = Path('/sys/fs/cgroup')
PROC = Path('/proc')
# cgroup v2 and v1 memory controllers: (controller named in /proc/self/cgroup, its folder
# under CGROUP_ROOT, limit file, usage file, memory.stat entry of cache it can drop)
CGROUP_MEMORY = (('', '', 'memory.max', 'memory.current', 'inactive_file'),
                 ('memory', 'memory', 'memory.limit_in_bytes', 'memory.usage_in_bytes',
                  'total_inactive_file'))
NO_LIMIT = 2**60  # v1 writes "no limit" as a number near 2**63


def training_data_bytes(cfg: TrainConfig, store: Any) -> int:
    """The bytes training's data takes in memory at its peak, from the store's array shapes
    (nothing is read), as PushTImageDataset._load holds it: each camera as uint8, each
    observation's columns and the action as float32, with the low-dim arrays read whole
    at their own dtype while they load; a LeRobot camera also holds the episode its reads
    stopped inside, decoded (lerobot_source._Camera). Every process of a torchrun on this
    machine (LOCAL_WORLD_SIZE) loads its own copy."""
    from training.dataset_meta import observation_keys
    from training.lerobot_source import LeRobotStore

    d = cfg.data
    rgb, low_dim = observation_keys(d.image_key, d.state_key, d.rgb_keys, d.low_dim_keys)
    n = int(store.n_steps)

    def width(key: str) -> int:
        return math.prod(store.data[key].shape[1:])

    def raw(key: str) -> int:
        return n * width(key) * store.data[key].dtype.itemsize

    cameras = n * sum(width(key) for key in rgb.values())  # uint8
    longest = int(store.episode_lengths.max(initial=0))  # the one episode a camera holds
    decoded = longest * sum(width(key) for key in set(rgb.values())) \
        if isinstance(store, LeRobotStore) else 0
    columns = n * 4 * (sum(len(range(width(key))[sl]) for key, sl in low_dim.values())
                       + width(d.action_key))  # float32
    read = sum(raw(key) for key in {key for key, _ in low_dim.values()} | {d.action_key})
    return (cameras + decoded + columns + read) * int(os.environ.get('LOCAL_WORLD_SIZE', '1'))


def available_memory(cgroup_root: Path = CGROUP_ROOT, proc: Path = PROC
                     ) -> tuple[int, str] | None:
    """(bytes this process can still take, where that figure comes from): the least of the
    kernel's MemAvailable and the room under the memory limit of this process's cgroup (v2
    or v1) or of one above it (a container's or a job's: past it, the OOM killer); None where
    none can be read."""
    found: list[tuple[int, str]] = []
    try:
        for line in (proc / 'meminfo').read_text().splitlines():
            if line.startswith('MemAvailable:'):
                found.append((int(line.split()[1]) * 1024, 'MemAvailable'))
        groups = [line.split(':', 2) for line in
                  (proc / 'self' / 'cgroup').read_text().splitlines() if line.count(':') >= 2]
    except (OSError, ValueError, IndexError):
        groups = []
    for controller, mount, limit, usage, cache in CGROUP_MEMORY:
        for _, controllers, path in groups:
            if controllers != controller and controller not in controllers.split(','):
                continue  # v2's line names no controller; v1's name theirs
            top = cgroup_root / mount
            folder = top / path.strip().lstrip('/')
            while folder == top or top in folder.parents:
                room = _cgroup_room(folder, limit, usage, cache)
                if room is not None:
                    found.append((room, f'the limit in {folder / limit}'))
                folder = folder.parent
    return min(found) if found else None


def _cgroup_room(folder: Path, limit_file: str, usage_file: str, cache: str) -> int | None:
    """A cgroup's memory limit less what it uses but could not drop (its usage without the
    inactive file cache, as `docker stats` counts it); None: no limit there."""
    try:
        text = (folder / limit_file).read_text().strip()
        if text == 'max' or int(text) >= NO_LIMIT:
            return None
        used = int((folder / usage_file).read_text())
    except (OSError, ValueError):
        return None
    try:
        stat = dict(line.split() for line in (folder / 'memory.stat').read_text().splitlines())
        used -= int(stat.get(cache, 0))
    except (OSError, ValueError):
        pass
    return max(0, int(text) - max(0, used))


def check_memory(cfg: TrainConfig, dataset: Path, store: Any) -> list[str]:
    """TrainConfigError when training's data (training_data_bytes) cannot fit in the memory
    available (available_memory): refused in a second, not a MemoryError traceback or an OOM
    kill minutes into the load. A warning (returned) when it takes over MEMORY_WARN_FRACTION
    of it: the model, the loader's batches and the rest need some too."""
    available = available_memory()
    if available is None:
        return []
    room, where = available
    need = training_data_bytes(cfg, store)
    what = (f'{dataset}: training holds its data in memory, {_size(need)} for '
            f'{store.n_steps} steps')
    if need > room:
        raise TrainConfigError(
            f'{what}, but only {_size(room)} is available ({where}): convert it with a smaller '
            "image size or a crop (bag2zarr config: the camera's shape or crop) or fewer "
            'episodes, or train on a machine with more memory')
    if need > MEMORY_WARN_FRACTION * room:
        return [f'{what}, {need / room:.0%} of the {_size(room)} available ({where}): little '
                'is left for the rest; a smaller image size or fewer episodes leave more']
    return []


# ---------------------------------------------------------------------------- disk
# train_state/ holds the weights this many times: the model, its EMA and the optimizer's
# two moments (AdamW)
STATE_WEIGHT_COPIES = 4


def snapshots_to_write(cfg: TrainConfig, start_step: int) -> int:
    """How many step_* snapshots the steps after `start_step` add (train.snapshot_every,
    and one at max_steps), bounded by train.keep_snapshots."""
    t = cfg.train
    if not t.snapshot_every or start_step >= t.max_steps:
        return 0
    n = t.max_steps // t.snapshot_every - start_step // t.snapshot_every
    n += t.max_steps % t.snapshot_every != 0  # the snapshot at max_steps
    return n if t.keep_snapshots is None else min(n, t.keep_snapshots)


def saves_to_write(cfg: TrainConfig) -> int:
    """How many resume points (train state + checkpoints/latest) a run from step 0 saves:
    every train.checkpoint_every steps and one at max_steps."""
    t = cfg.train
    if not t.checkpoint_every:
        return 1
    return t.max_steps // t.checkpoint_every + (t.max_steps % t.checkpoint_every != 0)


def policy_weight_bytes(policy_cfg: PolicyConfig) -> int:
    """The bytes of the weights of a policy of `policy_cfg` as a checkpoint holds them
    (check_disk's `weights`), from a policy built on the 'meta' device: known before the
    dataset loads, without allocating or initialising a weight."""
    import numpy as np
    import torch

    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    # two rows: one has no std (torch warns)
    normalizer = Normalizer.from_data({k: np.zeros((2, d))
                                       for k, d in policy_cfg.normalized_dims().items()})
    with torch.device('meta'):
        policy = DiffusionPolicy(policy_cfg, normalizer)
    return sum(v.numel() * v.element_size() for v in policy.state_dict().values())


def check_disk(cfg: TrainConfig, weights: int, free: int | None, where: Path,
               start_step: int = 0) -> list[str]:
    """What the run writes from `start_step` on, against the `free` bytes of the file
    system of `where` (free_disk), the policy's weights being `weights` bytes: a train state
    (STATE_WEIGHT_COPIES of them), checkpoints/latest (and best), the snapshots and, for
    every save after the first, a second train state and latest staged beside the old
    ones before they are replaced. TrainConfigError when not even one
    train state fits; a warning (returned: these are estimates) when the next save (train
    state + checkpoint + snapshot) or the whole run does not, rather than an exit 2 at a
    save days in."""
    if free is None or start_step >= cfg.train.max_steps:
        return []
    state = STATE_WEIGHT_COPIES * weights
    snapshots = snapshots_to_write(cfg, start_step)
    next_save = state + weights + (weights if snapshots else 0)
    # a save after one of this run's own stages the new train state and checkpoints/latest
    # beside the old ones before swapping (train_state.py, save_policy): a second of each,
    # transiently. A resume's old ones already count in the used bytes: its next save is
    # that staging, which next_save counts
    staged = state + weights if start_step == 0 and saves_to_write(cfg) > 1 else 0
    total = state + weights * (2 if cfg.evaluates else 1) + snapshots * weights + staged
    there = f'{where}: {_size(free)} free on its disk'
    if free < state:
        raise TrainConfigError(
            f'{there}, less than one train state of this policy ({_size(state)}: the '
            "weights, their EMA and the optimizer's two moments): the run would stop at its "
            'first save. Free space there or give another --output')
    if free < next_save:
        return [f'{there}, less than its next save needs (about {_size(next_save)}: train '
                f'state {_size(state)} + checkpoint {_size(weights)}'
                + (f' + snapshot {_size(weights)}' if snapshots else '') + '): the run will '
                'likely stop at it (exit 2, resumable); free space there or give another '
                '--output']
    if free < total:
        kept = (f'{snapshots} snapshots of {_size(weights)}' if snapshots else 'no snapshots')
        return [f'{there}, less than the run writes (about {_size(total)}: train state '
                f'{_size(state)}' + (' twice while a save replaces it' if staged else '')
                + f', checkpoints, {kept}): it will likely stop (exit 2, '
                'resumable) when the disk fills; free space there, keep fewer snapshots '
                '(train.keep_snapshots, train.snapshot_every) or give another --output']
    return []


def _size(n: int) -> str:
    return f'{n / 2**30:.1f} GiB' if n >= 2**30 else f'{n / 2**20:.0f} MiB'


def dataset_path(cfg: TrainConfig) -> Path:
    """data.zarr_path resolved, present and of data.format (zarr or lerobot)."""
    d = cfg.data
    path = d.resolved_zarr_path()
    if not path.exists():
        from training.download import STORE
        if path.as_posix().endswith('/' + STORE):  # the paper's: fetched to where it is read
            fix = f'run `dp-ros download-pusht --dest {path.parents[1]}`'
        else:
            fix = 'run `dp-ros download-pusht` (the paper\'s Push-T set)'
        raise FileNotFoundError(f'dataset {path} not found (data.zarr_path={d.zarr_path!r}); '
                                f'{fix} or set data.zarr_path=...')
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
