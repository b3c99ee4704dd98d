"""Training configuration: dataclasses, YAML files, dotted command-line overrides.

A run is fully described by one TrainConfig; it is saved as config.yaml in the run
directory, so `dp-ros train --config <run>/config.yaml --output <run>` repeats it.
`policy` holds PolicyConfig fields (the model's own dataclass) as a plain mapping, checked
against PolicyConfig when the model is built.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dp_ros.policy.config import PolicyConfig, jsonable

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ZARR = '../shared/datasets/pusht/pusht_cchi_v7_replay.zarr'
MIXED_PRECISION = ('no', 'bf16', 'fp16')
LR_SCHEDULERS = ('cosine', 'linear', 'constant', 'constant_with_warmup', 'cosine_with_restarts',
                 'polynomial')
VIDEO_FORMATS = ('mp4', 'gif')


@dataclass
class DataConfig:
    """Where the demonstrations are and how they are batched."""

    zarr_path: str = DEFAULT_ZARR  # relative paths are relative to the repository root
    val_ratio: float = 0.02
    max_train_episodes: int | None = None
    split_seed: int = 42  # which episodes are validation (the paper's dataset seed)
    image_key: str = 'img'
    state_key: str = 'state'
    action_key: str = 'action'
    rgb_keys: dict[str, str] | None = None  # obs name -> zarr image array (bag2zarr sets)
    low_dim_keys: dict[str, str] | None = None  # obs name -> 'key' or 'key[a:b]'
    batch_size: int = 64
    num_workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = False
    drop_last: bool = False

    def resolved_zarr_path(self) -> Path:
        """A relative path is taken from the working directory, else from the source tree (so
        the shipped configs work from the repository root and from a source checkout)."""
        path = Path(self.zarr_path).expanduser()
        if path.is_absolute() or path.exists():
            return path.resolve()
        return (REPO_ROOT / path).resolve()


@dataclass
class OptimConfig:
    """AdamW with a warmup + decay schedule, as the paper (diffusers get_scheduler)."""

    lr: float = 1.0e-4
    betas: tuple[float, float] = (0.95, 0.999)
    eps: float = 1.0e-8
    weight_decay: float = 1.0e-6
    lr_scheduler: str = 'cosine'
    lr_warmup_steps: int = 500
    grad_accum_steps: int = 1
    max_grad_norm: float | None = None  # the paper does not clip


@dataclass
class EmaConfig:
    """The paper's EMA schedule: decay = 1 - (1 + step / inv_gamma) ** -power, capped."""

    enabled: bool = True
    power: float = 0.75
    max_value: float = 0.9999
    min_value: float = 0.0
    inv_gamma: float = 1.0
    update_after_step: int = 0


@dataclass
class LoopConfig:
    """Step-based loop control; an interval of 0 turns that event off."""

    seed: int = 42
    max_steps: int = 100_000
    mixed_precision: str = 'no'
    cpu: bool = False  # force the CPU even when an accelerator is present
    num_threads: int | None = None  # torch.set_num_threads for this process
    log_every: int = 10
    val_every: int = 1000
    val_max_batches: int | None = None
    action_mse_every: int = 1000
    eval_every: int = 5000
    checkpoint_every: int = 1000
    final_eval: bool = True  # evaluate and checkpoint at max_steps too
    progress: bool = True
    control_period: float = 0.1  # written into the policy artifact (Push-T: 10 Hz)
    # Warm start: a policy checkpoint directory (or a run directory: its checkpoints/latest)
    # whose weights and normalizer start this run; optimizer, schedule and step start fresh.
    # Ignored once the run has its own train state (a resume).
    init_from: str | None = None


@dataclass
class EvalConfig:
    """In-process closed-loop evaluation with the paper's Push-T protocol."""

    start_seed: int = 100_000
    n_episodes: int = 50
    max_steps: int = 300
    sampler: str | None = None  # None: the policy's own sampler
    num_inference_steps: int | None = None
    sample_seed: int = 0
    batch_size: int | None = None  # episodes stepped together; None: all of them
    n_video_episodes: int = 1  # the first k episodes go into a tiled video per evaluation
    video_format: str = 'mp4'

    @property
    def seeds(self) -> list[int]:
        return list(range(self.start_seed, self.start_seed + self.n_episodes))


@dataclass
class TrainConfig:
    policy: dict[str, Any] = field(default_factory=dict)  # PolicyConfig overrides
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        t, o, d, e = self.train, self.optim, self.data, self.eval
        if t.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f'train.mixed_precision {t.mixed_precision!r} is not one of '
                             f'{MIXED_PRECISION}')
        if o.lr_scheduler not in LR_SCHEDULERS:
            raise ValueError(f'optim.lr_scheduler {o.lr_scheduler!r} is not one of '
                             f'{LR_SCHEDULERS}')
        if e.video_format not in VIDEO_FORMATS:
            raise ValueError(f'eval.video_format {e.video_format!r} is not one of '
                             f'{VIDEO_FORMATS}')
        positive = {'train.max_steps': t.max_steps, 'data.batch_size': d.batch_size,
                    'optim.grad_accum_steps': o.grad_accum_steps, 'optim.lr': o.lr,
                    'eval.max_steps': e.max_steps}
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f'{name} must be > 0, got {value!r}')
        non_negative = {'train.log_every': t.log_every, 'train.val_every': t.val_every,
                        'train.action_mse_every': t.action_mse_every,
                        'train.eval_every': t.eval_every,
                        'train.checkpoint_every': t.checkpoint_every,
                        'data.num_workers': d.num_workers, 'eval.n_episodes': e.n_episodes,
                        'eval.n_video_episodes': e.n_video_episodes,
                        'optim.lr_warmup_steps': o.lr_warmup_steps}
        for name, value in non_negative.items():
            if not value >= 0:
                raise ValueError(f'{name} must be >= 0, got {value!r}')
        if len(o.betas) != 2:
            raise ValueError(f'optim.betas must be two numbers, got {o.betas!r}')
        if e.batch_size is not None and e.batch_size < 1:
            raise ValueError(f'eval.batch_size must be >= 1 or null, got {e.batch_size}')
        if not 0.0 <= self.ema.max_value <= 1.0:
            raise ValueError(f'ema.max_value must be in [0, 1], got {self.ema.max_value}')

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return _build(cls, d or {}, prefix='')

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f'.{path.name}.tmp')
        tmp.write_text(self.to_yaml())
        tmp.replace(path)
        return path

    def policy_config(self):  # -> PolicyConfig (import kept lazy: config stays torch-free)
        return PolicyConfig.from_dict(dict(self.policy))


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
                ) -> TrainConfig:
    """YAML file (or the defaults) with `a.b=value` overrides applied (values parsed as YAML)."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f'training config {path} not found')
        loaded = yaml.safe_load(path.read_text())
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f'{path}: top level must be a mapping, got {type(loaded).__name__}')
        data = loaded or {}
    for item in overrides:
        apply_override(data, item)
    return TrainConfig.from_dict(data)


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set data[a][b] = yaml(value) for 'a.b=value', checking the key path exists."""
    if '=' not in item:
        raise ValueError(f"override {item!r} is not of the form 'section.key=value'")
    key, _, text = item.partition('=')
    parts = [p for p in key.strip().split('.') if p]
    if not parts:
        raise ValueError(f'override {item!r} has an empty key')
    _check_key_path(parts, item)
    value = yaml.safe_load(text) if text.strip() else None
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if child is None else child
            if not isinstance(child, dict):
                raise ValueError(f'override {item!r}: {part!r} is not a section')
            node[part] = child
        node = child
    node[parts[-1]] = value


def _check_key_path(parts: list[str], item: str) -> None:
    node: Any = TrainConfig
    for i, part in enumerate(parts):
        if node is None:
            return  # inside a free-form mapping (rgb_keys, low_dim_keys, policy.shape_meta ...)
        children = _children(node)
        if part not in children:
            where = '.'.join(parts[:i]) or 'the top level'
            hint = difflib.get_close_matches(part, list(children), n=1)
            raise ValueError(f'override {item!r}: no key {part!r} in {where}'
                             + (f' (did you mean {hint[0]!r}?)' if hint else '')
                             + f'; known: {sorted(children)}')
        node = children[part]


def _children(node: Any) -> dict[str, Any]:
    """Key -> what lies below it: a section dataclass, 'policy', or None (a leaf or mapping)."""
    if node == 'policy':
        return {f.name: None for f in dataclasses.fields(PolicyConfig)}
    if node is TrainConfig:
        return {'policy': 'policy', **_SECTIONS}
    return {f.name: None for f in dataclasses.fields(node)}


_SECTIONS = {'data': DataConfig, 'optim': OptimConfig, 'ema': EmaConfig, 'train': LoopConfig,
             'eval': EvalConfig}


def _build(cls: Any, d: dict[str, Any], prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f'{prefix or "config"}: expected a mapping, got {d!r}')
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f'unknown config keys {[prefix + k for k in unknown]}; known keys in '
                         f'{prefix.rstrip(".") or "the top level"}: {sorted(names)}')
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        if cls is TrainConfig and key in _SECTIONS:
            kwargs[key] = _build(_SECTIONS[key], value or {}, prefix=f'{key}.')
        elif cls is TrainConfig and key == 'policy':
            if value is not None and not isinstance(value, dict):
                raise ValueError(f'policy: expected a mapping of PolicyConfig fields, '
                                 f'got {value!r}')
            kwargs[key] = dict(value or {})
        elif key == 'betas':
            kwargs[key] = tuple(float(b) for b in value)
        else:
            kwargs[key] = value
    return cls(**kwargs)
