"""Model configuration: one dataclass that travels, as JSON, inside every policy artifact."""
from __future__ import annotations

import copy
import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dp_ros.dimension_names import NAMES, check_names
from dp_ros.image_fit import CAMERA_CROP, check_crop
from dp_ros.params import check_scalar_types, is_number
from dp_ros.recorded_sources import FRAME_SIZE, SOURCES, check_sources, entry_frame_size, frame_size

SAMPLERS = ('ddpm', 'ddim')
OBS_TYPES = ('rgb', 'low_dim')
PREDICTION_TYPES = ('epsilon', 'sample')
BETA_SCHEDULES = ('linear', 'scaled_linear', 'squaredcos_cap_v2')
# sanity caps on the sizes the weights do not constrain, so a hand-edited or hostile
# policy.json is refused at load rather than allocating gigabytes or hanging there (the
# schedule's K betas are built at load) or at the first chunk (horizon x Da noise)
MAX_NUM_TRAIN_TIMESTEPS = 10_000  # the paper: 100; DDPM: 1000
MAX_HORIZON = 4096  # the paper: 16
MAX_CAMERA_PIXELS = 4096 * 4096  # H x W of one rgb obs; the paper: 96 x 96, 240 x 320


def pusht_shape_meta() -> dict:
    """Push-T image task: one 96x96 camera and the 2-D agent position; 2-D target actions."""
    return {
        'obs': {
            'image': {'shape': [3, 96, 96], 'type': 'rgb'},
            'agent_pos': {'shape': [2], 'type': 'low_dim'},
        },
        'action': {'shape': [2]},
    }


def encoder_map_hw(h: int, w: int) -> tuple[int, int]:
    """Spatial size of the ResNet18 trunk's last feature map for an (h, w) input (conv1,
    maxpool, 3 stride-2 stages): torch-free, for the config's checks and the trunk."""

    def out(n: int, k: int, s: int, p: int) -> int:
        return (n + 2 * p - k) // s + 1

    for k, s, p in [(7, 2, 3), (3, 2, 1), (3, 2, 1), (3, 2, 1), (3, 2, 1)]:
        h, w = out(h, k, s, p), out(w, k, s, p)
    return h, w


def name_clash(keys: Iterable[str], name_of: Callable[[str], str]) -> tuple[str, str] | None:
    """The first two of `keys` that `name_of` gives one name (None: every name distinct)."""
    seen: dict[str, str] = {}
    for key in keys:
        other = seen.setdefault(name_of(key), key)
        if other != key:
            return other, key
    return None


def normalizer_key_name(key: str) -> str:
    """A key's name in the normalizer's buffers (scale__KEY, offset__KEY): torch refuses '.'
    in one, so '.' becomes '_'; two keys that differ only so would share one entry."""
    return key.replace('.', '_')


def camera_module_name(key: str) -> str:
    """The module name of camera `key`'s encoder: torch refuses '.' in one, and LeRobot names
    cameras observation.images.top, so '.' becomes '__' (a plain name keeps its weights'
    names: obs_encoder.cameras.image...)."""
    return key.replace('.', '__')


def _whole_numbers(name: str, values: Any) -> tuple[int, ...]:
    """`values` as ints; ValueError naming `name` for one that is no whole number (16.5
    channels was read as 16, a string as a TypeError)."""
    whole = [_whole(v) for v in values] if isinstance(values, (list, tuple)) else [None]
    if None in whole:
        raise ValueError(f'{name} must be a list of whole numbers, got {values!r}')
    return tuple(whole)


def _whole(value: Any) -> int | None:
    """An int or a whole float as the int; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else None


def _shape(value: Any, what: str) -> list[int]:
    """A shape_meta entry's shape: whole numbers >= 1 (2.5 was read as 2, '2' as 2, 0 failed
    in the normalizer, an int in a TypeError)."""
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
            for v in value):
        raise ValueError(f'{what} shape must be a list of whole numbers >= 1, got {value!r}')
    return [int(v) for v in value]


def late_start_warning(num_train_timesteps: int, num_inference_steps: int,
                       name: str = 'num_inference_steps') -> str:
    """A warning when `num_inference_steps` starts denoising below where a smaller count
    starts ('' if not): with the paper's 'leading' spacing (diffusers', kept for parity) the
    first step is (n - 1) * (K // n), so 51..99 of 100 start at n - 1 (51: at 50, where 50
    starts at 98) and the model takes pure noise for a half-clean sample: more steps, worse
    chunks (a review measured DDIM-51's error 2.3x DDIM-50's on the shipped policy). Few
    steps starting low (DDIM-4 at 75) are the count's nature, not warned of, nor a start a
    few steps below (10% of K)."""
    k, n = int(num_train_timesteps), int(num_inference_steps)

    def first(m: int) -> int:
        return (m - 1) * (k // m)

    start = first(n)
    fewer = max(range(1, n), key=lambda m: (first(m), m), default=None)
    if fewer is None or first(fewer) - start <= 0.1 * (k - 1):  # DDIM-13 at 84, 10 at 90
        return ''
    return (f'{name} {n} starts denoising at step {start} of {k - 1} (the paper\'s leading '
            f'spacing: the first step is (n-1)*({k}//n)), where {fewer} steps start at '
            f'{first(fewer)}: the model takes pure noise for a partly clean sample, worse '
            f'chunks for more work; a count that divides {k} starts near the top')


@dataclass
class PolicyConfig:
    """Everything needed to rebuild the network; defaults are the paper's Push-T image settings.

    Observation features are concatenated in `shape_meta['obs']` order (as robomimic does
    in the paper's hybrid policy), so that order is part of the model. Time is counted in
    control steps: one observation and one action per control period (`control_period_s`
    of the policy artifact; Push-T: 0.1 s). The timeline of n_obs_steps, horizon and
    n_action_steps is drawn in DiffusionPolicy.predict_action.

    Task and timeline:
        shape_meta: {'obs': {name: {'shape': [...], 'type': 'rgb' | 'low_dim'}},
            'action': {'shape': [Da]}}. rgb shapes are [3, H, W] (pixels, images in [0, 1]);
            low_dim shapes are [D] in the data's own units (e.g. px). At least one obs;
            H x W at most 4096 x 4096.
            An rgb entry may carry 'camera_crop': [x0, y0, width, height], the box in camera
            pixels cut from each frame before it is fitted to [H, W] (bag2zarr's image crop,
            dp_ros/image_fit.py); the policy node cuts the same box. Absent: the whole frame.
            A low_dim entry and the action may carry 'names': one name per value (the joints,
            in order, that bag2zarr recorded: dp_ros/dimension_names.py); the policy node
            checks its joint parameters against them. Absent: not recorded. Every entry may
            carry 'sources': the topics bag2zarr recorded it from, [{kind, topic, width}]
            in column order (dp_ros/recorded_sources.py); the node compares its topic
            parameters with them. Absent: not recorded. An rgb entry without sources may
            carry 'frame_size': [height, width], the camera's frames as training read them
            before any crop (a LeRobot video's size); the node refuses a camera of another
            field of view as for a recorded source's frame_size. Absent: unknown.
        horizon: action steps the denoiser predicts per sample (Tp), starting at the oldest
            observation step. Must be >= n_obs_steps - 1 + n_action_steps and divisible by
            2 ** (len(down_dims) - 1), <= 4096. Paper: 16.
        n_obs_steps: observation steps the policy conditions on (To): the current one and
            To - 1 before it. >= 1. Paper: 2.
        n_action_steps: actions executed per plan (Ta), from the current step on; the rest
            of the horizon is discarded. >= 1. Paper: 8 (0.8 s at 10 Hz).

    Denoiser (ConditionalUnet1D, a 1-D temporal UNet with FiLM conditioning):
        down_dims: channels of each UNet stage; the horizon is halved between stages
            (len(down_dims) - 1 times). Width drives the parameter count: the paper's
            (512, 1024, 2048) is ~250M parameters, (64, 128, 256) ~5M. Each divisible by
            n_groups.
        kernel_size: temporal convolution kernel, in action steps. Odd (same padding). 5.
        n_groups: GroupNorm groups in every UNet residual block. Divides every down_dims
            entry.
        final_block_groups: GroupNorm groups in the UNet's final conv block: 8, the paper's,
            whatever n_groups is. Divides down_dims[0]. Policies saved before 2026-12-03
            (c39e57f) had n_groups there and record no value (with_final_block_groups).
        diffusion_step_embed_dim: size of the diffusion-step embedding (sinusoidal, then an
            MLP) that joins the observation features in every block's FiLM condition. Even,
            >= 4. 128.

    Observation encoder (per camera: crop, ResNet18 with GroupNorm, spatial softmax):
        crop_shape: (height, width) in pixels of the crop fed to the ResNet: random in
            training (augmentation), centred at inference. None: no crop. Must fit inside
            every rgb shape, and is absolute: a crop much smaller than the frame trains on a
            patch of it (training warns under half its area). Paper: (84, 84) of 96x96
            Push-T frames, (216, 288) of its real robots' 240x320 ones (90% each way).
        color_jitter: (brightness, contrast, saturation, hue) strengths of a random colour
            change per training sample, one draw for the n_obs_steps frames of its window
            (dp_ros/policy/color_jitter.py: factors drawn from
            [max(0, 1 - s), 1 + s], torchvision's range, a hue turn from [-h, h] of the
            colour wheel, h <= 0.5); nothing at inference. (0, 0, 0, 0): off, the paper's
            simulated tasks. A real camera's light changes: e.g. (0.3, 0.4, 0.5, 0.08), UMI's
            diffusion policy's.
        resnet_width: channel multiplier of the ResNet18 trunk (1.0: 64..512 channels, the
            paper's). 64 * resnet_width must be a positive multiple of 16 (GroupNorm uses
            C // 16 groups), e.g. 0.25, 0.5, 1.0.
        num_keypoints: spatial-softmax keypoints per camera: each is the expected (x, y) in
            [-1, 1] of one learned attention map over the last feature map. >= 1. 32.
        feature_dim: length of one camera's feature vector (a Linear + ReLU of the 2 *
            num_keypoints coordinates), >= 1. Low-dim observations are appended unchanged,
            so the condition has n_obs_steps * (cameras * feature_dim + sum of low-dim D)
            values. A camera the encoder sees at 32 px or less each way (after crop_shape)
            gives the trunk a 1 x 1 map and the policy nothing: a warning at the start.

    Noise schedule (DDPM as diffusers' DDPMScheduler computes it, policy/noise_schedule.py;
    actions are normalized to [-1, 1]):
        num_train_timesteps: diffusion steps K of the forward (noising) process in training.
            >= num_inference_steps, <= 10000. Paper: 100.
        beta_schedule: noise variance schedule over the K steps, a diffusers name: 'linear',
            'scaled_linear' or 'squaredcos_cap_v2' (the paper's cosine schedule).
        prediction_type: what the UNet predicts: 'epsilon' (the added noise, the paper's) or
            'sample' (the clean action sequence).
        clip_sample: clip each denoising step's clean-action estimate to [-1, 1], the range
            of normalized actions (actions outside the training data's range are cut).

    Sampling defaults (predict_action can override both per call):
        sampler: 'ddpm' (the paper's, one network call per step) or 'ddim' (deterministic,
            good with far fewer steps).
        num_inference_steps: denoising steps per action chunk, in 1..num_train_timesteps;
            inference time grows linearly with it. Paper: 100 DDPM steps; CPU: ~10 DDIM.
    """

    shape_meta: dict = field(default_factory=pusht_shape_meta)
    horizon: int = 16
    n_obs_steps: int = 2
    n_action_steps: int = 8
    # denoiser (ConditionalUnet1D)
    down_dims: tuple[int, ...] = (512, 1024, 2048)
    kernel_size: int = 5
    n_groups: int = 8
    final_block_groups: int = 8
    diffusion_step_embed_dim: int = 128
    # observation encoder (ResNet18 + GroupNorm + spatial softmax)
    crop_shape: tuple[int, int] | None = (84, 84)
    color_jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    resnet_width: float = 1.0
    num_keypoints: int = 32
    feature_dim: int = 64
    # noise schedule (DDPM, dp_ros/policy/noise_schedule.py)
    num_train_timesteps: int = 100
    beta_schedule: str = 'squaredcos_cap_v2'
    prediction_type: str = 'epsilon'
    clip_sample: bool = True
    # default sampling; predict_action can override both per call
    sampler: str = 'ddpm'
    num_inference_steps: int = 100

    def __post_init__(self) -> None:
        # the scalars as annotated, named as policy.json's 'config' names them: 16.0 for
        # horizon was a torch TypeError at load or at the first chunk, 'false' clipped
        check_scalar_types('config', type(self),
                           {f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        self.down_dims = _whole_numbers('down_dims', self.down_dims)
        if self.crop_shape is not None:
            self.crop_shape = _whole_numbers('crop_shape', self.crop_shape)
            if len(self.crop_shape) != 2 or min(self.crop_shape) < 1:
                raise ValueError(f'crop_shape must be [height, width] of at least 1 pixel '
                                 f'each, got {list(self.crop_shape)}')
        jitter = self.color_jitter  # 5 or 'abc' was "'int' object is not iterable"
        if not isinstance(jitter, (list, tuple)) or not all(is_number(v) for v in jitter):
            raise ValueError(f'color_jitter {jitter!r} must be 4 numbers (brightness, '
                             'contrast, saturation, hue)')
        self.color_jitter = tuple(float(v) for v in jitter)
        self._validate()

    # ------------------------------------------------------------------ derived
    @property
    def rgb_keys(self) -> list[str]:
        return [k for k, v in self.shape_meta['obs'].items() if v.get('type') == 'rgb']

    @property
    def low_dim_keys(self) -> list[str]:
        obs = self.shape_meta['obs']
        return [k for k, v in obs.items() if v.get('type', 'low_dim') == 'low_dim']

    @property
    def obs_keys(self) -> list[str]:
        return list(self.shape_meta['obs'])

    @property
    def action_dim(self) -> int:
        return int(self.shape_meta['action']['shape'][0])

    def obs_shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(s) for s in self.shape_meta['obs'][key]['shape'])

    def normalized_dims(self) -> dict[str, int]:
        """The dimension of each key the normalizer fits: 'action' and every low-dim
        observation."""
        return {'action': self.action_dim,
                **{k: self.obs_shape(k)[0] for k in self.low_dim_keys}}

    def dimension_names(self, key: str) -> list[str] | None:
        """The names of the values of low-dim obs `key` or of 'action' (None: not recorded)."""
        entry = self.shape_meta['action'] if key == 'action' else self.shape_meta['obs'][key]
        return entry.get(NAMES)

    def recorded_sources(self, key: str) -> list[dict] | None:
        """The topics obs `key` or 'action' was recorded from (dp_ros/recorded_sources.py;
        None: not recorded)."""
        entry = self.shape_meta['action'] if key == 'action' else self.shape_meta['obs'][key]
        return entry.get(SOURCES)

    def frame_size(self, key: str) -> tuple[int, int] | None:
        """Camera `key`'s frame (height, width) before any crop or resize: its recorded
        source's (bag2zarr), else its entry's own (a LeRobot video's); None: unknown."""
        entry = self.shape_meta['obs'][key]
        return frame_size(entry.get(SOURCES)) or entry_frame_size(entry.get(FRAME_SIZE), key)

    def cartesian_io(self) -> tuple[str, list[str], list[str]]:
        """(state key, its pose fields, the action's pose fields) of a policy that acts on an
        end effector's pose: its action names a whole pose (x, y, z, one orientation) and its
        one low-dim key pose fields. ValueError saying why this policy is no such one (a
        joint-space policy: its names are joints)."""
        from dp_ros.pose_fields import POSE_FIELDS, pose_target_problem

        action = self.dimension_names('action')
        if not action:
            raise ValueError("a Cartesian policy's action names pose fields; this checkpoint's "
                             'action has no names')
        problem = pose_target_problem(action)
        if problem:
            raise ValueError(f"the checkpoint's action {problem}")
        low_dim = {key: self.dimension_names(key) for key in self.low_dim_keys}
        names = list(low_dim.values())
        if len(names) != 1 or not names[0] or not set(names[0]) <= set(POSE_FIELDS):
            raise ValueError("a Cartesian policy's state is the end effector's pose, named by "
                             f'pose fields among {list(POSE_FIELDS)}; this checkpoint has '
                             f'{names}')
        key = next(iter(low_dim))
        return key, list(names[0]), list(action)

    def pose_io(self) -> tuple[str, list[str], list[str]] | None:
        """cartesian_io for a policy that acts on an end effector's pose, None for any other
        (the one rule by which the sim, `dp-ros eval` and training wire a policy)."""
        try:
            return self.cartesian_io()
        except ValueError:
            return None

    def camera_crop(self, key: str) -> tuple[int, int, int, int] | None:
        """The box cut from the camera frame before it is fitted to rgb obs `key` (None:
        the whole frame)."""
        return check_crop(self.shape_meta['obs'][key].get(CAMERA_CROP))

    def camera_warnings(self) -> list[str]:
        """What the cameras' sizes let train but not as meant: small_crop_warnings, and a
        camera whose encoder input is so small (32 px or less each way) that the trunk's
        last map is 1 x 1: the spatial softmax of one position gives every keypoint the same
        (-1, -1), so the camera adds nothing and the policy acts on the low-dim state alone."""
        out = self.small_crop_warnings()
        for key in self.rgb_keys:
            _, h, w = self.obs_shape(key)
            ch, cw = self.crop_shape if self.crop_shape is not None else (h, w)
            if encoder_map_hw(ch, cw) == (1, 1):
                out.append(f'rgb obs {key!r}: the encoder sees {ch} x {cw} px, which its '
                           'ResNet18 trunk turns into a 1 x 1 map: every image gives the same '
                           'feature, the camera tells the policy nothing; give it at least '
                           '33 px each way (the paper: 84 x 84 of 96 x 96)')
        return out

    def small_crop_warnings(self) -> list[str]:
        """One line per rgb obs whose crop_shape keeps under half of its frame: crop_shape is
        absolute, so the paper's (84, 84) on a 240x320 camera trains on a tenth of it."""
        if self.crop_shape is None:
            return []
        ch, cw = self.crop_shape
        out = []
        for key in self.rgb_keys:
            _, h, w = self.obs_shape(key)
            kept = ch * cw / (h * w)
            if kept < 0.5:
                out.append(f'crop_shape ({ch}, {cw}) keeps {kept:.0%} of rgb obs {key!r} '
                           f'({h} x {w}): training sees random {ch} x {cw} patches of it and '
                           'the node the centre one. The paper crops about 90% each way '
                           '((84, 84) of 96 x 96, (216, 288) of 240 x 320): set '
                           'policy.crop_shape to match the frames')
        return out

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d['down_dims'] = list(self.down_dims)
        d['crop_shape'] = None if self.crop_shape is None else list(self.crop_shape)
        d['color_jitter'] = list(self.color_jitter)
        return jsonable(d)

    @classmethod
    def from_dict(cls, d: dict) -> PolicyConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f'unknown PolicyConfig keys {unknown}; known keys: {sorted(known)}')
        return cls(**copy.deepcopy(d))

    # ------------------------------------------------------------------ checks
    def late_start_warning(self, steps: int | None, name: str) -> str:
        """late_start_warning for this policy's num_train_timesteps, of `steps` given as
        `name`; None or 0 (not given): this policy's own count, the checkpoint's."""
        if not steps:
            steps, name = self.num_inference_steps, "the checkpoint's num_inference_steps"
        return late_start_warning(self.num_train_timesteps, steps, name)

    def check_inference_steps(self, steps: int, name: str = 'num_inference_steps') -> None:
        """ValueError unless `steps` (the setting called `name`) is an integer in
        1..num_train_timesteps: checked where it is given, not at the first chunk, which
        cannot sample that many (2.5 was truncated to 2)."""
        whole = isinstance(steps, numbers.Integral) and not isinstance(steps, bool)
        if not (whole and 1 <= steps <= self.num_train_timesteps):
            raise ValueError(f'{name} {steps!r} must be in 1..{self.num_train_timesteps} (the '
                             "policy's num_train_timesteps)")

    def _validate(self) -> None:
        meta = self.shape_meta
        if not isinstance(meta, dict) or 'obs' not in meta or 'action' not in meta:
            raise ValueError(f"shape_meta needs 'obs' and 'action' entries, got {meta!r}")
        for entry in ('obs', 'action'):  # a hand-edited policy.json's null: not a traceback
            if not isinstance(meta[entry], dict):
                raise ValueError(f'shape_meta.{entry} must be a mapping, got {meta[entry]!r}')
        if not meta['obs']:
            raise ValueError('shape_meta.obs is empty: the policy needs at least one observation')
        for key, attr in meta['obs'].items():
            if not isinstance(key, str) or not key:
                raise ValueError(f'shape_meta.obs has an observation without a name: {key!r}')
            if not isinstance(attr, dict):
                raise ValueError(f'shape_meta.obs {key!r} must be a mapping (type, shape), '
                                 f'got {attr!r}')
            kind = attr.get('type', 'low_dim')
            if kind not in OBS_TYPES:
                raise ValueError(f'obs {key!r}: type {kind!r} is not one of {OBS_TYPES}')
            shape = _shape(attr.get('shape', []), f'obs {key!r}')
            if kind == 'rgb' and (len(shape) != 3 or shape[0] != 3):
                raise ValueError(f'rgb obs {key!r} needs shape [3, H, W], got {shape}')
            if kind == 'low_dim' and len(shape) != 1:
                raise ValueError(f'low_dim obs {key!r} needs shape [D], got {shape}')
            if kind == 'rgb' and shape[1] * shape[2] > MAX_CAMERA_PIXELS:
                raise ValueError(f'rgb obs {key!r} shape {shape}: H x W above 4096 x 4096 '
                                 'pixels is refused (the paper: 96 x 96, 240 x 320)')
            if kind == 'rgb':
                check_crop(attr.get(CAMERA_CROP), f'rgb obs {key!r} {CAMERA_CROP}')
                check_sources(attr.get(SOURCES), None, f'rgb obs {key!r}')
                entry_frame_size(attr.get(FRAME_SIZE), f'rgb obs {key!r}')
            else:
                check_names(attr.get(NAMES), shape[0], f'low_dim obs {key!r}')
                check_sources(attr.get(SOURCES), shape[0], f'low_dim obs {key!r}')
            if kind == 'rgb' and self.crop_shape is not None:
                if self.crop_shape[0] > shape[1] or self.crop_shape[1] > shape[2]:
                    raise ValueError(f'crop_shape {self.crop_shape} is larger than {key!r} {shape}')
        # torch refuses '.' in a module's or buffer's name: two keys that differ only there
        # would share one (the second overwriting the first)
        if clash := name_clash((*self.rgb_keys, *self.low_dim_keys, 'action'),
                               normalizer_key_name):
            raise ValueError(f'observations {clash[0]!r} and {clash[1]!r} would share the '
                             f"normalizer's entry {normalizer_key_name(clash[1])!r} ('.' is "
                             "written '_'): rename one")
        if clash := name_clash(self.rgb_keys, camera_module_name):
            raise ValueError(f'cameras {clash[0]!r} and {clash[1]!r} would share the encoder '
                             f"name {camera_module_name(clash[1])!r} ('.' is written '__'): "
                             'rename one')
        jitter = self.color_jitter
        if len(jitter) != 4 or not all(math.isfinite(v) and v >= 0 for v in jitter) \
                or jitter[3] > 0.5:
            raise ValueError(f'color_jitter {list(jitter)} must be 4 strengths >= 0 '
                             '(brightness, contrast, saturation, hue), hue at most 0.5')
        if len(_shape(meta['action'].get('shape', []), 'action')) != 1:
            raise ValueError(f"action shape must be [Da], got {meta['action'].get('shape')}")
        check_names(meta['action'].get(NAMES), meta['action']['shape'][0], 'action')
        check_sources(meta['action'].get(SOURCES), meta['action']['shape'][0], 'action')
        if self.sampler not in SAMPLERS:
            raise ValueError(f'sampler {self.sampler!r} is not one of {SAMPLERS}')
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f'beta_schedule {self.beta_schedule!r} is not one of '
                             f'{BETA_SCHEDULES}')
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f'prediction_type {self.prediction_type!r} not in {PREDICTION_TYPES}')
        if self.n_obs_steps < 1 or self.n_action_steps < 1:
            raise ValueError(f'n_obs_steps={self.n_obs_steps}, n_action_steps='
                             f'{self.n_action_steps}: both must be >= 1')
        if self.horizon > MAX_HORIZON:
            raise ValueError(f'horizon {self.horizon} is above {MAX_HORIZON} action steps, '
                             'refused as absurd (the paper: 16)')
        if self.n_obs_steps - 1 + self.n_action_steps > self.horizon:
            raise ValueError(f'horizon {self.horizon} too short for n_obs_steps {self.n_obs_steps} '
                             f'and n_action_steps {self.n_action_steps}')
        if not self.down_dims:
            raise ValueError('down_dims is empty')
        stride = 2 ** (len(self.down_dims) - 1)
        if self.horizon % stride:
            raise ValueError(f'horizon {self.horizon} must be divisible by {stride} '
                             f'(the UNet halves it {len(self.down_dims) - 1} times)')
        if self.n_groups < 1:  # 0: a ZeroDivisionError below, < 0 torch's GroupNorm error
            raise ValueError(f'n_groups {self.n_groups} must be >= 1 (GroupNorm groups)')
        bad = [d for d in self.down_dims if d % self.n_groups]
        if bad:
            raise ValueError(f'down_dims {bad} not divisible by n_groups {self.n_groups}')
        if self.final_block_groups < 1 or self.down_dims[0] % self.final_block_groups:
            raise ValueError(f'down_dims[0] {self.down_dims[0]} must be divisible by '
                             f'{self.final_block_groups} (final_block_groups: the GroupNorm '
                             'groups of the final conv block)')
        sizes = {'diffusion_step_embed_dim': self.diffusion_step_embed_dim,
                 'num_keypoints': self.num_keypoints, 'feature_dim': self.feature_dim}
        small = [f'{name} {v}' for name, v in sizes.items() if v < 1]
        if small or min(self.down_dims) < 1:
            raise ValueError(f"{', '.join(small) or f'down_dims {list(self.down_dims)}'} must "
                             'be >= 1 (a zero-size layer crashes in torch or conditions on '
                             'nothing)')
        if self.diffusion_step_embed_dim < 4 or self.diffusion_step_embed_dim % 2:
            raise ValueError(f'diffusion_step_embed_dim {self.diffusion_step_embed_dim} must be '
                             'even and >= 4 (half sines, half cosines over >= 2 frequencies)')
        if self.kernel_size < 1 or self.kernel_size % 2 != 1:  # -1 is odd too
            raise ValueError(f'kernel_size {self.kernel_size} must be odd and >= 1')
        if not 1 <= self.num_train_timesteps <= MAX_NUM_TRAIN_TIMESTEPS:
            raise ValueError(f'num_train_timesteps {self.num_train_timesteps} must be in '
                             f'1..{MAX_NUM_TRAIN_TIMESTEPS} (the paper: 100, DDPM: 1000; the '
                             'schedule holds one beta per step, built at load)')
        self.check_inference_steps(self.num_inference_steps)
        base = 64 * self.resnet_width
        if not math.isfinite(base) or base != int(base) or int(base) % 16 or base <= 0:
            raise ValueError(f'resnet_width {self.resnet_width} gives {base} base channels; '
                             'it must be a positive multiple of 16 (GroupNorm uses C // 16 groups)')


# the commit after which the final conv block took 8 groups whatever n_groups was
FINAL_BLOCK_GROUPS_CHANGE = 'before 2026-12-03 (c39e57f)'


def with_final_block_groups(config: dict, where: str) -> dict:
    """A saved policy config (policy.json's, a train state's) with the final_block_groups its
    weights were trained with, for one saved before the field was recorded. Its final conv
    block had n_groups groups before c39e57f and 8 since, with the same weights' names and
    shapes: taking the default for the older file changed its actions by tens of px. Without
    the field, n_groups 8 is 8 either way and a down_dims[0] that 8 does not divide was only
    valid before; any other n_groups is ambiguous: ValueError saying how `where` (the file
    to edit) tells which. A `config` that is no mapping: ValueError naming `where`."""
    if not isinstance(config, dict):
        raise ValueError(f'{where} is no mapping of config fields but {type(config).__name__}')
    n_groups, dims = config.get('n_groups', 8), config.get('down_dims')
    # whole floats as PolicyConfig reads them (16.0 channels are 16)
    n_groups = _whole(n_groups)
    first = _whole(dims[0]) if isinstance(dims, (list, tuple)) and dims else None
    if 'final_block_groups' in config or n_groups is None or n_groups == 8 or first is None:
        return config  # recorded, unambiguous, or refused by PolicyConfig itself
    if first % 8:
        return {**config, 'final_block_groups': n_groups}
    raise ValueError(f'n_groups {n_groups} without final_block_groups: saved '
                     f'{FINAL_BLOCK_GROUPS_CHANGE}, the final conv block has {n_groups} '
                     f'GroupNorm groups; saved since, 8 (same weights, other actions): add '
                     f'"final_block_groups": {n_groups} or 8 to {where} to say which')


def pusht_image_config(**overrides: Any) -> PolicyConfig:
    """The paper's Push-T image policy (train_diffusion_unet_hybrid_workspace)."""
    return PolicyConfig(**overrides)


def small_cpu_config(**overrides: Any) -> PolicyConfig:
    """A ~8M-parameter variant that samples a chunk in well under 0.1 s on a laptop CPU."""
    params: dict[str, Any] = dict(resnet_width=0.5, down_dims=(64, 128, 256),
                                  sampler='ddim', num_inference_steps=10)
    params.update(overrides)
    return PolicyConfig(**params)


def jsonable(x: Any) -> Any:
    """Dicts with str keys and lists instead of tuples, as JSON and YAML write them."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    return x
