"""Training configuration: dataclasses, YAML files, dotted command-line overrides.

A run is fully described by one TrainConfig; it is saved as config.yaml in the run
directory, so `dp-ros train --config <run>/config.yaml --output <run>` repeats it.
`policy` holds PolicyConfig fields (the model's own dataclass) as a plain mapping, checked
against PolicyConfig when the model is built (its fields are documented there).

Steps are optimizer steps (one batch of data.batch_size windows per process, times
optim.grad_accum_steps); every `*_every` interval is in steps and 0 turns that event off.
Every value must be of its field's type (the policy section's: PolicyConfig's): an `int`
field takes an integer (a count, an interval, a seed: 2.5 is refused, not rounded), a
`float` field any number, a `bool` field true or false.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dp_ros.atomic_dir import write_text
from dp_ros.params import check_scalar_types
from dp_ros.policy.config import SAMPLERS, PolicyConfig, jsonable
from dp_ros.safe_yaml import SafeLoader, safe_load
from sim_bridge.sim_node_config import MAX_SEED, ROBOTS
from training.deprecated_keys import rename_deprecated
from training.errors import DatasetError, TrainConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ZARR = '../shared/datasets/pusht/pusht_cchi_v7_replay.zarr'
MIXED_PRECISION = ('no', 'bf16', 'fp16')
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune', 'aot_eager')
LR_SCHEDULERS = ('cosine', 'linear', 'constant', 'constant_with_warmup', 'cosine_with_restarts',
                 'polynomial')
VIDEO_FORMATS = ('mp4', 'gif')
DATA_FORMATS = ('auto', 'zarr', 'lerobot')  # training/lerobot_source.py
# train.control_period_s where neither the config nor the dataset gives one (Push-T: 10 Hz)
DEFAULT_CONTROL_PERIOD_S = 0.1


@dataclass
class DataConfig:
    """Where the demonstrations are and how they are batched.

    Attributes:
        zarr_path: the dataset: a zarr replay buffer (`dp-ros download-pusht` or `dp-ros
            bag2zarr`) or a LeRobotDataset v3.0 directory (`dp-ros convert`, or one from the
            Hub). A relative path is taken from the working directory, else from the
            repository.
        format: 'auto' (a directory with meta/info.json is a LeRobotDataset, anything else
            zarr), 'zarr' or 'lerobot' (then the path must be of that kind). A LeRobot
            dataset's videos are decoded once into the same uint8 arrays zarr images load
            into; the keys below name its features (observation.image, observation.state,
            action) or the zarr names that map to them (img, state, action).
        val_ratio: fraction of episodes held out for the validation loss, in [0, 1); 0: no
            validation. At least one episode each way when > 0. Paper: 0.02.
        max_train_episodes: use at most this many training episodes (random, seeded by
            split_seed); None: all. For data-scaling runs and tests.
        split_seed: seeds the validation split and the episode cap, >= 0 (42: the paper's
            split).
        exclude_episodes: episode indices left out of training, validation and the normalizer
            statistics (bad demonstrations: `dp-ros inspect` findings, `dp-ros open-loop`'s
            worst episodes), e.g. [3, 17]; the split and the max_train_episodes cap are drawn
            over all episodes first, so the others keep their side. None: every episode.
        image_key, state_key, action_key: zarr arrays of the Push-T layout: images
            (N, H, W, 3) 0..255 become obs 'image', state[:, :2] obs 'agent_pos'.
        rgb_keys: obs name -> zarr image array, replacing image_key (other cameras; the
            dataset's bag2zarr keys). None: {'image': image_key}.
        low_dim_keys: obs name -> 'key' or 'key[a:b]' (a column slice of a zarr array),
            replacing state_key. None: {'agent_pos': 'state[0:2]'} (on a state other than
            Push-T's 5 columns, a warning naming the columns it leaves out).
        batch_size: windows per batch per process, >= 1. Paper: 64.
        num_workers: DataLoader worker processes, >= 0 (0: load in the training process).
        pin_memory: page-locked batches (faster host-to-GPU copies).
        persistent_workers: one loader and its workers serve every epoch (num_workers > 0
            only).
        drop_last: drop each epoch's last, smaller batch.
        device_batches: hold the training windows' arrays on the training device (images as
            uint8; Push-T: 0.7 GB) and build each batch there (training/gpu_batches.py)
            instead of in DataLoader workers: the same windows, in the same order, with the
            same values, and no host-to-device copies. For GPUs, where the loader was the
            bottleneck; num_workers and pin_memory are then unused.
    """

    zarr_path: str = DEFAULT_ZARR
    format: str = 'auto'
    val_ratio: float = 0.02
    max_train_episodes: int | None = None
    split_seed: int = 42
    exclude_episodes: list[int] | None = None
    image_key: str = 'img'
    state_key: str = 'state'
    action_key: str = 'action'
    rgb_keys: dict[str, str] | None = None
    low_dim_keys: dict[str, str] | None = None
    batch_size: int = 64
    num_workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = False
    drop_last: bool = False
    device_batches: bool = False

    def key_args(self) -> dict[str, Any]:
        """Which arrays are which observation: the keyword arguments of PushTImageDataset and
        dataset_shape_meta (training and `dp-ros open-loop` read a dataset the same way)."""
        return {'image_key': self.image_key, 'state_key': self.state_key,
                'action_key': self.action_key, 'rgb_keys': self.rgb_keys,
                'low_dim_keys': self.low_dim_keys}

    def split_args(self) -> dict[str, Any]:
        """Which episodes train and which are held out: PushTImageDataset's keyword
        arguments."""
        return {'seed': self.split_seed, 'val_ratio': self.val_ratio,
                'max_train_episodes': self.max_train_episodes,
                'exclude_episodes': self.exclude_episodes}

    def resolved_zarr_path(self) -> Path:
        """A relative path is taken from the working directory, else from the source tree (so
        the shipped configs work from the repository root and from a source checkout)."""
        path = Path(self.zarr_path).expanduser()
        if path.is_absolute() or path.exists():
            return path.resolve()
        return (REPO_ROOT / path).resolve()


@dataclass
class OptimConfig:
    """AdamW with a warmup + decay schedule, as the paper (diffusers get_scheduler).

    Attributes:
        lr: peak learning rate, > 0. Paper: 1e-4.
        betas: AdamW (beta1, beta2), each in [0, 1). Paper: (0.95, 0.999).
        eps: AdamW denominator epsilon.
        weight_decay: AdamW decoupled weight decay, >= 0. Paper: 1e-6.
        lr_scheduler: the diffusers schedule after warmup, one of LR_SCHEDULERS; 'cosine'
            decays to 0 at train.max_steps. 'constant' with lr_warmup_steps > 0 runs as
            'constant_with_warmup' (diffusers' 'constant' has no warmup).
        lr_warmup_steps: steps of linear warmup from 0 to lr, >= 0. Paper: 500.
        grad_accum_steps: batches whose gradients add up into one optimizer step, >= 1
            (effective batch = batch_size * grad_accum_steps * processes). The EMA updates
            once per optimizer step (the paper's code updates it after every batch and steps
            the optimizer on the first; the same at its Push-T setting of 1).
        max_grad_norm: clip the gradient's global L2 norm to this; None: no clipping (the
            paper's).
        fused: on CUDA, AdamW's fused kernel (a few launches per step for all parameters
            instead of a chain of multi-tensor ones); ignored on other devices.
    """

    lr: float = 1.0e-4
    betas: tuple[float, float] = (0.95, 0.999)
    eps: float = 1.0e-8
    weight_decay: float = 1.0e-6
    lr_scheduler: str = 'cosine'
    lr_warmup_steps: int = 500
    grad_accum_steps: int = 1
    max_grad_norm: float | None = None
    fused: bool = True

    @property
    def schedule(self) -> str:
        """The diffusers schedule lr_scheduler names: 'constant' with a warmup is
        'constant_with_warmup', as diffusers' own 'constant' ignores lr_warmup_steps."""
        if self.lr_scheduler == 'constant' and self.lr_warmup_steps > 0:
            return 'constant_with_warmup'
        return self.lr_scheduler


@dataclass
class EmaConfig:
    """The paper's EMA of the weights: checkpoints and evaluations use the EMA weights.

    decay = 1 - (1 + k / inv_gamma) ** -power clamped to [min_value, max_value], where
    k = step - update_after_step - 2 and decay = 0 while k <= 0 (the paper's decays 0, 0,
    1 - 2 ** -power, ...).

    Attributes:
        enabled: keep an EMA; false: checkpoints hold the trained weights themselves.
        power: warmup exponent, > 0: 0.75 reaches decay 0.999 after ~10k steps. Paper: 0.75.
        max_value: decay cap, in [0, 1]. Paper: 0.9999.
        min_value: decay floor, in [0, max_value].
        inv_gamma: warmup time scale, in steps, > 0. Paper: 1.0.
        update_after_step: steps before the EMA starts following the weights, >= 0.
        foreach: on CUDA, update the EMA with multi-tensor (torch._foreach) ops, a few
            launches per step instead of three per parameter tensor; ignored elsewhere.
    """

    enabled: bool = True
    power: float = 0.75
    max_value: float = 0.9999
    min_value: float = 0.0
    inv_gamma: float = 1.0
    update_after_step: int = 0
    foreach: bool = True


@dataclass
class LoopConfig:
    """Step-based loop control; an interval of 0 turns that event off.

    Attributes:
        seed: seeds data order, augmentation and diffusion noise (per rank), and the action
            MSE windows, in 0..2**32 - 1 (numpy's seed range). Same seed and config: the same
            run, also across a resume.
        max_steps: optimizer steps of the run, > 0 (also the length of the lr schedule).
        mixed_precision: 'no', 'bf16' or 'fp16' autocast (accelerate); YAML's bare `no` (a
            boolean false) is read as 'no'. bf16 on a CPU that emulates it (x86 without
            AVX-512: many times slower) trains in fp32 with a warning, as fp16 on the CPU
            does (accelerate has no fp16 autocast there) (training/cpu_precision.py).
        cpu: train on the CPU even when an accelerator is present.
        channels_last: keep the image encoder's convolution weights channels-last while
            training (the saved weights are ordinary contiguous tensors). On the 2-core CPU a
            batch-64 step of the Push-T CPU config takes 0.195 s instead of 0.237 s in bf16
            (NCHW max-pooling alone cost 24 ms); same model, different float rounding.
        num_threads: torch.set_num_threads for this process, >= 0; None (or 0): torch's
            default.
        torch_compile: torch.compile the training network's convolution stacks (each
            camera's ResNet trunk and the UNet) in place (nn.Module.compile: weights,
            checkpoints and train states keep their names); crops, noise and the loss stay
            eager. null (or false): eager. 'default' (or true): inductor's generated
            kernels; 'reduce-overhead': those replayed as CUDA graphs on CUDA (the launch
            overhead issue 15 measured); 'max-autotune': inductor trying kernel variants
            (a longer compilation); 'aot_eager': traced, no generated code (a quick check
            that the network compiles; no speed-up). The first step pays the compilation
            (about 3 minutes for the tiny test network on the 2-core CPU, where it does
            not pay; cached under torch's inductor cache for the next run), each new batch
            shape again (validation, an epoch's last short batch); the numbers differ from
            eager ones by float rounding. Meant for the GPU: bench/bench_gpu.py measures it
            (device_bf16_compiled); off until a device run shows what it buys.
        tf32: on CUDA, float32 matmuls (the linear layers: FiLM, the step embedding) run on
            the TF32 tensor cores, as cuDNN's convolutions already do by PyTorch's default
            (torch.backends.cuda.matmul.allow_tf32, restored when the run ends); LeRobot
            trains so. false: full float32 matmuls. Ignored on other devices. A run saved
            before this key existed (it trained in full float32) resumes with it false
            unless the config sets it (SAVED_WITHOUT).
        log_every: steps between 'train' records (mean loss, lr, samples/s, EMA decay).
        val_every: steps between validation losses (trained weights, data.val_ratio).
        val_max_batches: validation batches per measurement; None: all of them.
        action_mse_every: steps between sampled-action MSEs of the EMA policy on fixed
            training windows and, with data.val_ratio > 0, fixed held-out windows (raw units
            and normalized; logged train_action_mse*, val_action_mse*).
        eval_every: steps between closed-loop Push-T evaluations (the eval section); each
            one whose test/mean_score beats every earlier one writes checkpoints/best.
        checkpoint_every: steps between checkpoints/latest + train_state (resume points).
        snapshot_every: steps between kept policy snapshots, checkpoints/step_NNNNNN (the
            EMA weights, never overwritten; also at max_steps); 0: none. A robot without a
            simulator has no checkpoints/best: these are the candidates to compare
            (`dp-ros open-loop RUN/checkpoints/step_*`) and to try on the robot. Each is a
            full policy artifact (31 MB for the Push-T CPU config, about 1 GB for the
            paper's): train.keep_snapshots bounds how many stay.
        keep_snapshots: how many step_* snapshots of this run folder stay, >= 1: after
            each new one, the oldest beyond the newest N are removed (each removal logged);
            checkpoints/latest, checkpoints/best and anything else there are never touched.
            None: all of them (a resumed run adds to them). The paper's code keeps its best
            5 checkpoints by score (checkpoint.topk.k=5); these are by step.
        final_eval: also validate, measure, evaluate and checkpoint at max_steps.
        progress: show progress bars.
        control_period_s: seconds between control steps, the time base of the data and of
            the policy (one observation and one action per period), > 0. Written into the
            policy artifact, where the policy node reads it. None: the dataset's (a
            LeRobotDataset's 1 / fps, a zarr store's control_period_s or fps attribute),
            else 0.1 (Push-T, 10 Hz); a value other than the dataset's is refused. The run's
            config.yaml records the value used. The old name 'control_period' is still
            read, with a DeprecationWarning.
        init_from: warm start: a policy checkpoint directory, or a run directory (its
            checkpoints/latest), whose weights and normalizer start this run; optimizer,
            schedule and step start fresh. The policy config must match but for its
            sampling settings. This run's data beyond the inherited normalizer's range is a
            warning naming the key, the dimensions and by how much (with
            policy.clip_sample, actions beyond it are never sampled). A resume keeps the
            one it started with (another is refused: --resume never starts over).
    """

    seed: int = 42
    max_steps: int = 100_000
    mixed_precision: str = 'no'
    cpu: bool = False
    channels_last: bool = True
    num_threads: int | None = None
    torch_compile: str | bool | None = None
    tf32: bool = True
    log_every: int = 10
    val_every: int = 1000
    val_max_batches: int | None = None
    action_mse_every: int = 1000
    eval_every: int = 5000
    checkpoint_every: int = 1000
    snapshot_every: int = 0
    keep_snapshots: int | None = None
    final_eval: bool = True
    progress: bool = True
    control_period_s: float | None = None
    init_from: str | None = None


@dataclass
class EvalConfig:
    """In-process closed-loop evaluation with the paper's Push-T protocol.

    One episode per seed start_seed .. start_seed + n_episodes - 1; an episode's score is
    the best reward it reached, min(coverage of the goal / 0.95, 1) (in [0, 1]: half the
    goal covered is 0.526); test/mean_score is their mean.

    Attributes:
        robot: 'point' (the paper's pusher: observations image + agent_pos, x/y actions) or
            'arm' (the arm twin, sim_bridge/arm_env.py: its 640 x 480 camera fitted to the
            policy's image as the node fits it, joint_pos, joint-target actions), stepped in
            lockstep as `dp-ros eval --via ros --robot arm --mode lockstep` runs it.
        start_seed: first environment seed (100000: the paper's test seeds); the last one,
            start_seed + n_episodes - 1, at most 2**32 - 1 (numpy's, which places the start
            states).
        n_episodes: episodes per evaluation, >= 0 (0: no evaluation). Paper: 50.
        max_steps: control steps per episode at most, > 0. Paper: 300 (30 s at 10 Hz).
        sampler: 'ddpm' or 'ddim' for evaluation and the action MSE; None: the policy's.
        num_inference_steps: denoising steps there, in 1..policy.num_train_timesteps; None:
            the policy's.
        sample_seed: seeds each episode's sampling noise (with its env seed), so a score
            does not depend on how episodes are batched; >= 0.
        batch_size: episodes stepped and planned together, >= 1; None: all of them.
        n_video_episodes: the first k episodes go into a tiled video per evaluation
            (media/eval_step<step>.<video_format>), >= 0.
        video_format: 'mp4' or 'gif'.
    """

    robot: str = 'point'
    start_seed: int = 100_000
    n_episodes: int = 50
    max_steps: int = 300
    sampler: str | None = None
    num_inference_steps: int | None = None
    sample_seed: int = 0
    batch_size: int | None = None
    n_video_episodes: int = 1
    video_format: str = 'mp4'

    @property
    def seeds(self) -> list[int]:
        return list(range(self.start_seed, self.start_seed + self.n_episodes))


@dataclass
class TrainConfig:
    """One training run: the YAML file's sections.

    Attributes:
        policy: PolicyConfig fields (dp_ros/policy/config.py) that differ from the paper's
            defaults; shape_meta, when absent, is read from the dataset.
        data, optim, ema, train, eval: the sections above.
    """

    policy: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        t, o, d, e = self.train, self.optim, self.data, self.eval
        if d.format not in DATA_FORMATS:
            raise TrainConfigError(f'data.format {d.format!r} is not one of {DATA_FORMATS}')
        if t.mixed_precision is False:  # YAML 1.1: a bare `no` is a boolean
            t.mixed_precision = 'no'
        if t.mixed_precision not in MIXED_PRECISION:
            raise TrainConfigError(f'train.mixed_precision {t.mixed_precision!r} is not one '
                                   f'of {MIXED_PRECISION}')
        if t.torch_compile is True or t.torch_compile is False:
            t.torch_compile = 'default' if t.torch_compile else None
        if t.torch_compile is not None and t.torch_compile not in COMPILE_MODES:
            raise TrainConfigError(f'train.torch_compile {t.torch_compile!r} is not one of '
                                   f'{COMPILE_MODES}, true, false or null')
        if o.lr_scheduler not in LR_SCHEDULERS:
            raise TrainConfigError(f'optim.lr_scheduler {o.lr_scheduler!r} is not one of '
                                   f'{LR_SCHEDULERS}')
        if e.robot not in ROBOTS:
            raise TrainConfigError(f'eval.robot {e.robot!r} is not one of {ROBOTS}')
        if e.video_format not in VIDEO_FORMATS:
            raise TrainConfigError(f'eval.video_format {e.video_format!r} is not one of '
                                   f'{VIDEO_FORMATS}')
        positive = {'train.max_steps': t.max_steps, 'data.batch_size': d.batch_size,
                    'optim.grad_accum_steps': o.grad_accum_steps, 'optim.lr': o.lr,
                    'eval.max_steps': e.max_steps}
        if t.control_period_s is not None:  # None: the dataset's (training/run_check.py)
            positive['train.control_period_s'] = t.control_period_s
        for name, value in positive.items():
            if not _number(name, value) > 0:
                raise TrainConfigError(f'{name} must be > 0, got {value!r}')
        non_negative = {'train.log_every': t.log_every, 'train.val_every': t.val_every,
                        'train.action_mse_every': t.action_mse_every,
                        'train.eval_every': t.eval_every,
                        'train.checkpoint_every': t.checkpoint_every,
                        'train.snapshot_every': t.snapshot_every,
                        'data.num_workers': d.num_workers, 'eval.n_episodes': e.n_episodes,
                        'eval.n_video_episodes': e.n_video_episodes,
                        'optim.lr_warmup_steps': o.lr_warmup_steps,
                        'train.seed': t.seed, 'data.split_seed': d.split_seed,
                        'eval.start_seed': e.start_seed, 'eval.sample_seed': e.sample_seed}
        if d.max_train_episodes is not None:
            non_negative['data.max_train_episodes'] = d.max_train_episodes
        if t.num_threads is not None:  # 0, like None: torch's default
            non_negative['train.num_threads'] = t.num_threads
        for name, value in non_negative.items():
            if not _number(name, value) >= 0:
                raise TrainConfigError(f'{name} must be >= 0, got {value!r}')
        if d.exclude_episodes is not None and (
                not isinstance(d.exclude_episodes, list)
                or not all(type(e) is int and e >= 0 for e in d.exclude_episodes)):
            raise TrainConfigError(f'data.exclude_episodes must be a list of episode indices '
                                   f'(>= 0) or null, got {d.exclude_episodes!r}')
        if not _number('optim.eps', o.eps) > 0:
            raise TrainConfigError(f'optim.eps must be > 0, got {o.eps!r}')
        if not _number('optim.weight_decay', o.weight_decay) >= 0:
            raise TrainConfigError(f'optim.weight_decay must be >= 0, got {o.weight_decay!r}')
        if o.max_grad_norm is not None and not _number('optim.max_grad_norm',
                                                       o.max_grad_norm) > 0:
            raise TrainConfigError(f'optim.max_grad_norm must be > 0 or null, got '
                                   f'{o.max_grad_norm!r}')
        if t.val_max_batches is not None and (type(t.val_max_batches) is not int
                                              or t.val_max_batches < 1):
            raise TrainConfigError(f'train.val_max_batches must be an integer >= 1 or null, '
                                   f'got {t.val_max_batches!r}')
        if t.keep_snapshots is not None and (type(t.keep_snapshots) is not int
                                             or t.keep_snapshots < 1):
            raise TrainConfigError(f'train.keep_snapshots must be an integer >= 1 or null '
                                   f'(all), got {t.keep_snapshots!r}')
        if not 0.0 <= _number('data.val_ratio', d.val_ratio) < 1.0:
            raise TrainConfigError(f'data.val_ratio must be in [0, 1), got {d.val_ratio!r}')
        from training.dataset_meta import observation_keys  # zarr: not at import
        try:  # here, not once the dataset loads
            observation_keys(d.image_key, d.state_key, d.rgb_keys, d.low_dim_keys)
        except DatasetError as exc:
            raise TrainConfigError(f'data: {exc}') from None
        if len(o.betas) != 2:
            raise TrainConfigError(f'optim.betas must be two numbers, got {o.betas!r}')
        if not all(0.0 <= b < 1.0 for b in o.betas):  # as documented; AdamW refused it late
            raise TrainConfigError(f'optim.betas must each be in [0, 1), got {list(o.betas)}')
        if e.batch_size is not None and _number('eval.batch_size', e.batch_size) < 1:
            raise TrainConfigError(f'eval.batch_size must be >= 1 or null, got {e.batch_size}')
        if e.sampler is not None and e.sampler not in SAMPLERS:
            raise TrainConfigError(f'eval.sampler {e.sampler!r} is not one of {SAMPLERS} '
                                   "(or null: the policy's)")
        if e.num_inference_steps is not None and (
                type(e.num_inference_steps) is not int or e.num_inference_steps < 1):
            raise TrainConfigError(f'eval.num_inference_steps must be an integer >= 1 (or '
                                   f"null: the policy's), got {e.num_inference_steps!r}")
        self._validate_ema()
        for name in _SECTIONS:
            _check_types(name, _SECTIONS[name], vars(getattr(self, name)))
        _check_types('policy', PolicyConfig, self.policy)
        if t.seed > MAX_SEED:
            raise TrainConfigError(f"train.seed must be in 0..{MAX_SEED} (numpy's seed range), "
                                   f'got {t.seed}')
        if e.n_episodes and e.start_seed + e.n_episodes - 1 > MAX_SEED:
            raise TrainConfigError(f'eval.start_seed {e.start_seed} + eval.n_episodes '
                                   f'{e.n_episodes} - 1 is past the last seed the sim takes, '
                                   f'{MAX_SEED}')

    def _validate_ema(self) -> None:
        """The EMA's numbers checked and made floats: diffusers' EMAModel refuses an integer
        min_decay when a resume loads it (YAML's `min_value: 0`)."""
        m = self.ema
        for name in ('power', 'max_value', 'min_value', 'inv_gamma'):
            setattr(m, name, float(_number(f'ema.{name}', getattr(m, name))))
        if not 0.0 <= m.max_value <= 1.0:
            raise TrainConfigError(f'ema.max_value must be in [0, 1], got {m.max_value}')
        if not 0.0 <= m.min_value <= m.max_value:
            raise TrainConfigError(f'ema.min_value must be in [0, ema.max_value '
                                   f'{m.max_value}], got {m.min_value}')
        for name in ('power', 'inv_gamma'):
            if not getattr(m, name) > 0:
                raise TrainConfigError(f'ema.{name} must be > 0, got {getattr(m, name)}')
        if type(m.update_after_step) is not int or m.update_after_step < 0:
            raise TrainConfigError(f'ema.update_after_step must be an integer >= 0, got '
                                   f'{m.update_after_step!r}')

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Old key names are read with a DeprecationWarning naming the new key."""
        return _build(cls, migrate_deprecated_keys(d or {}, warn=True), prefix='')

    def to_yaml(self) -> str:
        return yaml.dump(self.to_dict(), Dumper=_YamlDumper, sort_keys=False,
                         default_flow_style=None)

    def save(self, path: str | Path) -> Path:
        return write_text(path, self.to_yaml())

    @property
    def evaluates(self) -> bool:
        """Whether the run has closed-loop evaluations (episodes, and a step or the end that
        runs them)."""
        e, t = self.eval, self.train
        return e.n_episodes > 0 and (t.eval_every > 0 or t.final_eval)

    def policy_config(self):  # -> PolicyConfig (import kept lazy: config stays torch-free)
        return PolicyConfig.from_dict(dict(self.policy))


class _YamlLoader(SafeLoader):
    """PyYAML reads YAML 1.1, where a number in e-notation without a dot (3e-4, 1e-8) is a
    string: `optim.lr=3e-4` was refused as not a number, and `eps: 1e-8` reached AdamW as a
    string. Here it is the float it is, as in YAML 1.2. Aliases are bounded (safe_yaml)."""


class _YamlDumper(yaml.SafeDumper):
    """Writes what _YamlLoader reads back the same: a string such as '1e5' (a zarr_path, an
    init_from) is quoted, as it would otherwise be read back as the float 100000.0 and the
    run's saved config.yaml refused."""


for _resolving in (_YamlLoader, _YamlDumper):
    _resolving.add_implicit_resolver(
        'tag:yaml.org,2002:float', re.compile(r'^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$'),
        list('-+0123456789'))


def _yaml(text: str) -> Any:
    return safe_load(text, _YamlLoader)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
                ) -> TrainConfig:
    """YAML file (or the defaults) with `a.b=value` overrides applied (values parsed as YAML)."""
    return TrainConfig.from_dict(load_config_data(path, overrides))


def load_config_data(path: str | Path | None = None,
                     overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """What load_config builds its TrainConfig from: the keys the file and the overrides
    give (today's names), the defaults not filled in (keep_saved_on_resume reads which keys
    were given)."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f'training config {path} not found')
        try:
            loaded = _yaml(path.read_text(encoding='utf-8'))
        except yaml.YAMLError as exc:
            raise TrainConfigError(f'{path} is not valid YAML: {exc}') from None
        except UnicodeDecodeError as exc:
            raise TrainConfigError(f'{path} is not UTF-8 text ({exc.reason} at byte '
                                   f'{exc.start}): not a training config') from None
        if loaded is not None and not isinstance(loaded, dict):
            raise TrainConfigError(f'{path}: top level must be a mapping, '
                                   f'got {type(loaded).__name__}')
        data = migrate_deprecated_keys(loaded or {}, origin=str(path), warn=True)
    for item in overrides:
        apply_override(data, item)
    return data


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set data[a][b] = yaml(value) for 'a.b=value', checking the key path exists."""
    if '=' not in item:
        raise TrainConfigError(f"override {item!r} is not of the form 'section.key=value'")
    key, _, text = item.partition('=')
    parts = [p for p in key.strip().split('.') if p]
    if not parts:
        raise TrainConfigError(f'override {item!r} has an empty key')
    if len(parts) == 2 and parts[1] in RENAMED.get(parts[0], {}):
        # the new name, so that the override replaces the file's value under either name
        new = rename_deprecated({parts[1]: None}, RENAMED[parts[0]], f'{parts[0]}.',
                                stacklevel=3)
        parts[1] = next(iter(new))
    _check_key_path(parts, item)
    if len(parts) == 1:  # `train=` or `train={...}`: every other key of it back to defaults
        raise TrainConfigError(f'override {item!r} would replace the whole {parts[0]} section: '
                               f'give {parts[0]}.KEY=VALUE')
    try:
        value = _yaml(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise TrainConfigError(f'override {item!r}: the value is not valid YAML: {exc}') from None
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if child is None else child
            if not isinstance(child, dict):
                raise TrainConfigError(f'override {item!r}: {part!r} is not a section')
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
            raise TrainConfigError(f'override {item!r}: no key {part!r} in {where}'
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
# section -> {old key: new key}: old names still read, with a DeprecationWarning
RENAMED: dict[str, dict[str, str]] = {'train': {'control_period': 'control_period_s'}}


def migrate_deprecated_keys(d: dict[str, Any], origin: str = '', warn: bool = False,
                            stacklevel: int = 3) -> dict[str, Any]:
    """A config dict with today's key names: a warning per old name when `warn` (a config
    being read), silently otherwise (e.g. the config saved in an old train state)."""
    out = dict(d)
    for section, renames in RENAMED.items():
        if isinstance(out.get(section), dict):
            out[section] = rename_deprecated(out[section], renames, f'{section}.', origin=origin,
                                             error=TrainConfigError, warn=warn,
                                             stacklevel=stacklevel)
    return out


# section -> {field added since runs were first saved: the value a saved run whose config
# lacks it ran with}, where today's default differs: train.tf32 came with default true, and a
# run saved before it trained in full float32. (train.torch_compile came with it: its
# default, null, is what such a run did.)
SAVED_WITHOUT: dict[str, dict[str, Any]] = {'train': {'tf32': False}}


def saved_config_data(d: dict[str, Any]) -> dict[str, Any]:
    """A saved run's config (its train state's, its config.yaml) with today's key names
    (renamed silently) and each SAVED_WITHOUT field it lacks at the value the run used."""
    out = migrate_deprecated_keys(d or {})
    for section, values in SAVED_WITHOUT.items():
        if isinstance(out.get(section), dict):
            out[section] = {**values, **out[section]}
    return out


def keep_saved_on_resume(cfg: TrainConfig, given: dict[str, Any],
                         saved: dict[str, Any]) -> list[str]:
    """A resume keeps the saved run's value of each SAVED_WITHOUT field that the config
    (`given`: load_config_data's keys) does not set, so that a run saved before train.tf32
    existed goes on in full float32, as it trained, not with the new default; a config that
    sets the field decides. `saved`: the train state's config, as saved (a run saved with
    the field is resumed as any other key is: saved_config_data would fill it in, and every
    resume said it kept it 'before the key existed'). The dotted keys kept."""
    raw = migrate_deprecated_keys(saved or {})  # today's names, no field filled in
    kept = []
    for section, values in SAVED_WITHOUT.items():
        theirs, ours = raw.get(section), given.get(section)
        for key, value in values.items():
            if isinstance(theirs, dict) and key not in theirs and not (
                    isinstance(ours, dict) and key in ours):
                setattr(getattr(cfg, section), key, value)
                kept.append(f'{section}.{key}')
    return kept


def _check_types(where: str, cls: type, values: dict[str, Any]) -> None:
    """TrainConfigError naming the first of `values` that is not of its `cls` field's scalar
    type (dp_ros/params.py's check_scalar_types, the rule a policy.json's config obeys too):
    YAML gives what was written, and a float interval or a string seed would be misread or
    crash hours later."""
    try:
        check_scalar_types(where, cls, values)
    except ValueError as e:
        raise TrainConfigError(str(e)) from None


def _number(name: str, value: Any) -> float:
    """value, checked to be a finite number (YAML can give a string or a list anywhere, and
    .inf, which passed every '> 0' check: an infinite lr or control period)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise TrainConfigError(f'{name} must be a number, got {value!r}')
    return value


def _build(cls: Any, d: dict[str, Any], prefix: str) -> Any:
    if not isinstance(d, dict):
        raise TrainConfigError(f'{prefix or "config"}: expected a mapping, got {d!r}')
    names = {f.name for f in dataclasses.fields(cls)}
    # a key need not be a string: `5:`, or YAML 1.1's bare no/on (booleans)
    unknown = sorted((k for k in d if k not in names), key=str)
    if unknown:
        raise TrainConfigError(f'unknown config keys {[prefix + str(k) for k in unknown]}; known '
                               f'keys in {prefix.rstrip(".") or "the top level"}: '
                               f'{sorted(names)}')
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        if cls is TrainConfig and key in _SECTIONS:
            kwargs[key] = _build(_SECTIONS[key], value or {}, prefix=f'{key}.')
        elif cls is TrainConfig and key == 'policy':
            if value is not None and not isinstance(value, dict):
                raise TrainConfigError(f'policy: expected a mapping of PolicyConfig fields, '
                                       f'got {value!r}')
            kwargs[key] = dict(value or {})
        elif key == 'betas':  # numbers only: float('12') and float(True) took a string or a bool
            if not isinstance(value, (list, tuple)) or \
                    any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in value):
                raise TrainConfigError(f'{prefix}betas must be two numbers, got {value!r}')
            kwargs[key] = tuple(float(b) for b in value)
        else:
            kwargs[key] = value
    return cls(**kwargs)
