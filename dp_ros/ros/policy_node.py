"""ROS 2 node `dp_policy`: camera and joint-state topics in, action chunks as JointTrajectory out.

The node is a thin adapter around dp_ros.runtime: messages are converted and filed in the
ObservationHistory (by header stamp), the ActionSchedule says when a chunk is needed, the
InferenceRunner samples it on its own thread, and the chunk goes out as one multi-point
JointTrajectory whose point i is due at t_obs + i*dt (header.stamp = t_obs, so a
joint_trajectory_controller runs it on time). Points already due when the chunk is ready are
dropped.

Two ways of running:
- realtime (a robot, or the sim in realtime mode): re-plan once at most `replan_threshold`
  future actions are left, so the next chunk arrives before the current one runs out;
- lockstep (the sim in lockstep mode, use_sim_time): the sim waits for the action of its
  current observation; the node plans on that observation when the plan has run out and
  point 0 is that observation's action, exactly as the in-process evaluation steps.

Episodes: with `episode_start_topic` set (the sim's std_msgs/String JSON
{"episode", "seed", "start_ns"}), each episode starts with a fresh history and a generator
seeded sample_seed * 1_000_003 + seed, and no chunk is planned until the episode is announced
(after ~/reset too), so `dp-ros eval --via ros` reproduces `--via inprocess` bit for bit.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros.conversions import (
    chunk_to_joint_trajectory,
    compressed_image_to_numpy,
    image_to_rgb,
    joint_state_to_numpy,
    ns_to_seconds,
    seconds_to_ns,
    time_to_ns,
)
from dp_ros.runtime.action_schedule import ActionSchedule
from dp_ros.runtime.observation_history import ObservationHistory

NODE_NAME = 'dp_policy'
RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Joint states: best effort (matches reliable and best-effort publishers alike), with a queue
# deep enough for 100+ Hz streams while sampling holds the GIL for a few ms at a time.
JOINT_STATE_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
PLAN_CHECK_PERIOD_S = 0.005  # wall-clock poll for "is a chunk due" besides message arrivals
CAMERA_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')  # what conversions.to_rgb takes
MAX_SEED = 2 ** 40  # sample_seed and env seeds are at most this (the generator seed fits int64)


# --- parameters ------------------------------------------------------------------------------

@dataclass
class PolicyNodeConfig:
    """The node's parameters; defaults drive the Push-T sim in realtime mode."""

    checkpoint: str = ''
    device: str = 'auto'
    dtype: str = 'float32'
    sampler: str = ''
    num_inference_steps: int = 0
    cpu_threads: int = 0
    torchscript: bool = True
    warmup: bool = True
    image_topics: list[str] = field(default_factory=lambda: ['/pusht/image_raw'])
    compressed_images: bool = False
    joint_state_topic: str = '/pusht/joint_states'
    state_joint_names: list[str] = field(default_factory=lambda: ['agent_x', 'agent_y'])
    state_obs_key: str = ''
    state_field: str = 'position'
    action_topic: str = '/pusht/joint_trajectory'
    action_joint_names: list[str] = field(default_factory=lambda: ['agent_x', 'agent_y'])
    frame_id: str = ''
    n_action_steps: int = 0
    control_period_s: float = 0.0
    max_input_age_s: float = 0.5
    history_s: float = 3.0
    action_lower: list[float] = field(default_factory=list)
    action_upper: list[float] = field(default_factory=list)
    sample_seed: int = 0
    env_seed: int = 0
    episode_start_topic: str = ''
    start_enabled: bool = True
    lockstep: bool = False
    replan_threshold: int = 2
    action_lead_s: float = 0.0
    diagnostics_period_s: float = 1.0
    debug_extra_latency_s: float = 0.0


# name -> (description, range (low, high) or None)
PARAMETER_HELP: dict[str, tuple[str, tuple[float, float] | None]] = {
    'checkpoint': ('policy directory (policy.json + model.safetensors); required', None),
    'device': ("'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'", None),
    'dtype': ("'float32', 'bfloat16' (CPU or CUDA) or 'float16' (CUDA only)", None),
    'sampler': ("'ddim' or 'ddpm'; empty: the checkpoint's", None),
    'num_inference_steps': ("denoising steps; 0: the checkpoint's", (0, 1000)),
    'cpu_threads': ('torch CPU threads; 0: torch default', (0, 256)),
    'torchscript': ('sample with a TorchScript-frozen UNet (about 1.6x faster at batch 1 on '
                    'CPU); false: eager PyTorch', None),
    'warmup': ('run the model once at start (CUDA kernels, caches) before taking inputs', None),
    'image_topics': ("camera topics, one per image key of the checkpoint, in its order", None),
    'compressed_images': ('cameras publish sensor_msgs/CompressedImage (jpeg/png)', None),
    'joint_state_topic': ('sensor_msgs/JointState topic of the low-dim observation', None),
    'state_joint_names': ('joints whose values, in this order, form the low-dim observation',
                          None),
    'state_obs_key': ("checkpoint key of the low-dim observation; empty: its only one", None),
    'state_field': ("JointState field of the observation: position, velocity or effort", None),
    'action_topic': ('trajectory_msgs/JointTrajectory topic the chunks go to', None),
    'action_joint_names': ('joint names of the action dimensions, in order', None),
    'frame_id': ('header.frame_id of the published trajectories', None),
    'n_action_steps': ("actions of each chunk to execute; 0: the checkpoint's", (0, 1024)),
    'control_period_s': ("seconds between actions and between observation steps; 0: the "
                         "checkpoint's", (0.0, 10.0)),
    'max_input_age_s': ('inputs older than this (ROS time) stop planning', (0.001, 3600.0)),
    'history_s': ('seconds of messages kept per input stream', (0.01, 3600.0)),
    'action_lower': ('lower bound per action dimension (actions are clamped); empty: none',
                     None),
    'action_upper': ('upper bound per action dimension (actions are clamped); empty: none',
                     None),
    'sample_seed': ('sampling seed; episode generator seed = sample_seed * 1000003 + env seed',
                    (0, MAX_SEED)),
    'env_seed': ('env seed of the episode when no episode_start_topic announces it',
                 (0, MAX_SEED)),
    'episode_start_topic': ('std_msgs/String JSON {"episode","seed","start_ns"} published at '
                            'each episode start (the sim: /pusht/episode_start); empty: none',
                            None),
    'start_enabled': ('publish actions from the start (else wait for ~/enable)', None),
    'lockstep': ('the sim waits for the action of its current observation (use with '
                 'use_sim_time): plan on it once the plan has run out', None),
    'replan_threshold': ('realtime: plan the next chunk once at most this many future actions '
                         'are left (lockstep always waits for the plan to run out)', (0, 1024)),
    'action_lead_s': ('realtime: points due sooner than this are dropped as past (actuation '
                      'delay); lockstep ignores it, as it does replan_threshold', (0.0, 10.0)),
    'diagnostics_period_s': ('period of /diagnostics (wall seconds)', (0.05, 60.0)),
    'debug_extra_latency_s': ('TEST ONLY: sleep this long after each sampling, to emulate a '
                              'slow policy', (0.0, 60.0)),
}


def parameter_descriptors() -> dict[str, ParameterDescriptor]:
    """Every parameter the node declares, with its description and range; no node needed."""
    out = {}
    for f in fields(PolicyNodeConfig):
        description, bounds = PARAMETER_HELP[f.name]
        # dynamic typing: YAML gives 1 for 1.0 and [] without a type; _coerce checks types
        desc = ParameterDescriptor(name=f.name, description=description, read_only=True,
                                   dynamic_typing=True)
        if bounds is not None and f.type == 'int':
            desc.integer_range = [IntegerRange(from_value=int(bounds[0]),
                                               to_value=int(bounds[1]), step=0)]
        elif bounds is not None and f.type == 'float':
            desc.floating_point_range = [FloatingPointRange(from_value=float(bounds[0]),
                                                            to_value=float(bounds[1]), step=0.0)]
        out[f.name] = desc
    return out


def _coerce(name: str, kind: str, value: Any, default: Any) -> Any:
    """YAML and the command line give 1 for 1.0 and [] without a type: check and convert."""
    if value is None:
        return default
    if kind == 'bool':
        if not isinstance(value, bool):
            raise ValueError(f'parameter {name} must be true or false, got {value!r}')
        return value
    if kind == 'str':
        if not isinstance(value, str):
            raise ValueError(f'parameter {name} must be a string, got {value!r}')
        return value
    if kind == 'int':
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f'parameter {name} must be an integer, got {value!r}')
        return int(value)
    if kind == 'float':
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f'parameter {name} must be a number, got {value!r}')
        return float(value)
    if kind == 'list[str]':
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(f'parameter {name} must be a list of strings, got {value!r}')
        return list(value)
    if kind == 'list[float]':
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f'parameter {name} must be a list of numbers, got {value!r}')
        return [float(v) for v in value]
    raise AssertionError(kind)


def config_from_dict(values: dict[str, Any]) -> PolicyNodeConfig:
    """Typed config from raw parameter values (None: default); unknown names are an error."""
    unknown = sorted(set(values) - {f.name for f in fields(PolicyNodeConfig)})
    if unknown:
        raise ValueError(f'unknown policy node parameter(s) {unknown}')
    defaults = PolicyNodeConfig()
    kwargs = {f.name: _coerce(f.name, f.type, values.get(f.name), getattr(defaults, f.name))
              for f in fields(PolicyNodeConfig)}
    return PolicyNodeConfig(**kwargs)


@dataclass
class ResolvedSetup:
    """The config checked against the checkpoint: what the node actually runs with."""

    rgb_keys: list[str]
    state_key: str
    image_shapes: dict[str, tuple[int, int]]  # key -> (H, W)
    n_obs_steps: int
    n_action_steps: int
    dt_ns: int
    max_age_ns: int
    lower: np.ndarray | None
    upper: np.ndarray | None


def resolve_setup(cfg: PolicyNodeConfig, metadata: dict) -> ResolvedSetup:
    """Validate the parameters against each other and the checkpoint; ValueError names the fault."""
    from dp_ros.policy.config import PolicyConfig
    from dp_ros.runtime.inference_runner import DTYPES, resolve_device

    if not cfg.checkpoint:
        raise ValueError('parameter checkpoint is empty: give the policy directory')
    resolve_device(cfg.device)
    if cfg.dtype not in DTYPES:
        raise ValueError(f"parameter dtype must be one of {list(DTYPES)}, got '{cfg.dtype}'")
    if cfg.sampler not in ('', 'ddim', 'ddpm'):
        raise ValueError(f"parameter sampler must be 'ddim', 'ddpm' or empty, got "
                         f"'{cfg.sampler}'")
    if cfg.state_field not in ('position', 'velocity', 'effort'):
        raise ValueError(f"parameter state_field must be position, velocity or effort, got "
                         f"'{cfg.state_field}'")
    for name in ('num_inference_steps', 'cpu_threads', 'n_action_steps', 'replan_threshold',
                 'sample_seed', 'env_seed'):
        if getattr(cfg, name) < 0:
            raise ValueError(f'parameter {name} must be >= 0, got {getattr(cfg, name)}')
    for name in ('control_period_s', 'action_lead_s', 'debug_extra_latency_s'):
        if not np.isfinite(getattr(cfg, name)) or getattr(cfg, name) < 0:
            raise ValueError(f'parameter {name} must be >= 0, got {getattr(cfg, name)}')
    for name in ('max_input_age_s', 'history_s', 'diagnostics_period_s'):
        if not np.isfinite(getattr(cfg, name)) or getattr(cfg, name) <= 0:
            raise ValueError(f'parameter {name} must be > 0, got {getattr(cfg, name)}')
    if not cfg.joint_state_topic or not cfg.action_topic:
        raise ValueError('parameters joint_state_topic and action_topic must not be empty')

    config = PolicyConfig.from_dict(metadata['config'])
    rgb_keys, low_dim = config.rgb_keys, config.low_dim_keys
    if len(cfg.image_topics) != len(rgb_keys) or not all(cfg.image_topics):
        raise ValueError(f'parameter image_topics has {len(cfg.image_topics)} topic(s) '
                         f'{cfg.image_topics}, the checkpoint has {len(rgb_keys)} camera(s) '
                         f'{rgb_keys}: give one topic per camera, in that order')
    if len(set(cfg.image_topics)) != len(cfg.image_topics):
        raise ValueError(f'parameter image_topics repeats a topic: {cfg.image_topics}')
    state_key = cfg.state_obs_key
    if not state_key:
        if len(low_dim) != 1:
            raise ValueError(f'the checkpoint has low-dim observations {low_dim}; this node '
                             'feeds exactly one from the joint states: set state_obs_key')
        state_key = low_dim[0]
    if state_key not in low_dim or len(low_dim) != 1:
        raise ValueError(f"parameter state_obs_key '{state_key}': the checkpoint's low-dim "
                         f'observations are {low_dim} (exactly one is supported)')
    state_dim = config.obs_shape(state_key)[0]
    if len(cfg.state_joint_names) != state_dim or len(set(cfg.state_joint_names)) != state_dim:
        raise ValueError(f'parameter state_joint_names {cfg.state_joint_names} must be '
                         f"{state_dim} distinct names ('{state_key}' has {state_dim} values)")
    if len(cfg.action_joint_names) != config.action_dim or \
            len(set(cfg.action_joint_names)) != config.action_dim:
        raise ValueError(f'parameter action_joint_names {cfg.action_joint_names} must be '
                         f'{config.action_dim} distinct names (the action dimension)')
    max_steps = config.horizon - config.n_obs_steps + 1
    n_action = cfg.n_action_steps or config.n_action_steps
    if n_action > max_steps:
        raise ValueError(f'parameter n_action_steps {n_action} is more than the chunk holds '
                         f'(horizon {config.horizon} - n_obs_steps {config.n_obs_steps} + 1 = '
                         f'{max_steps})')
    period = cfg.control_period_s or float(metadata['control_period_s'])
    lower = upper = None
    if cfg.action_lower or cfg.action_upper:
        if len(cfg.action_lower) != config.action_dim or \
                len(cfg.action_upper) != config.action_dim:
            raise ValueError(f'parameters action_lower {cfg.action_lower} and action_upper '
                             f'{cfg.action_upper} must both have {config.action_dim} values')
        lower = np.asarray(cfg.action_lower, dtype=np.float64)
        upper = np.asarray(cfg.action_upper, dtype=np.float64)
        if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))
                and np.all(lower <= upper)):
            raise ValueError(f'action bounds must be finite with lower <= upper, got '
                             f'{cfg.action_lower} / {cfg.action_upper}')
    dt_ns = seconds_to_ns(period)
    max_age_ns = seconds_to_ns(cfg.max_input_age_s)
    if seconds_to_ns(cfg.history_s) < (config.n_obs_steps - 1) * dt_ns + max_age_ns:
        raise ValueError(f'parameter history_s {cfg.history_s} is shorter than an observation '
                         f'spans ((n_obs_steps-1)*dt + max_input_age_s)')
    return ResolvedSetup(
        rgb_keys=rgb_keys, state_key=state_key,
        image_shapes={k: tuple(config.obs_shape(k)[1:]) for k in rgb_keys},
        n_obs_steps=config.n_obs_steps, n_action_steps=n_action, dt_ns=dt_ns,
        max_age_ns=max_age_ns, lower=lower, upper=upper)


# --- bookkeeping -----------------------------------------------------------------------------

@dataclass
class _StreamStats:
    received: int = 0
    filed: int = 0
    duplicates: int = 0  # not newer than the newest sample (e.g. the sim's lockstep re-sends)
    arrivals: deque = field(default_factory=lambda: deque(maxlen=400))  # wall ns

    def rate_hz(self, now_wall_ns: int, window_ns: int = 2_000_000_000) -> float:
        recent = [t for t in self.arrivals if now_wall_ns - t <= window_ns]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) * 1e9 / max(now_wall_ns - recent[0], 1)


@dataclass
class _PlanContext:
    generation: int
    t_obs_ns: int
    pre_s: float  # assembly + conversion time on the executor thread


# --- the node --------------------------------------------------------------------------------

class PolicyNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__(NODE_NAME, **kwargs)
        self.cfg = self._read_parameters()
        cfg = self.cfg
        from dp_ros.policy.checkpoint import read_policy_metadata

        if not cfg.checkpoint:
            raise ValueError('parameter checkpoint is empty: give the policy directory')
        if not Path(cfg.checkpoint).is_dir():
            raise ValueError(f"parameter checkpoint: '{cfg.checkpoint}' is not a directory")
        if cfg.lockstep and not self.get_parameter('use_sim_time').value:
            # on wall time "now" is never the sim's observation time: it would never plan
            raise ValueError('parameter lockstep needs use_sim_time:=true (the sim\'s /clock)')
        metadata = read_policy_metadata(cfg.checkpoint)
        self.setup = setup = resolve_setup(cfg, metadata)

        import torch

        from dp_ros.policy.inputs import episode_generator
        from dp_ros.runtime.inference_runner import InferenceRunner

        if cfg.cpu_threads:
            torch.set_num_threads(cfg.cpu_threads)
        self._episode_generator = episode_generator
        self.runner = InferenceRunner.from_checkpoint(
            cfg.checkpoint, device=cfg.device, dtype=cfg.dtype, sampler=cfg.sampler or None,
            num_inference_steps=cfg.num_inference_steps or None, torchscript=cfg.torchscript,
            extra_latency_s=cfg.debug_extra_latency_s)
        self.device_name = str(self.runner.device)
        if self.runner.device.type == 'cuda':
            self.device_name += f' ({torch.cuda.get_device_name(self.runner.device)})'
        self.warmup_s = self.runner.warmup() if cfg.warmup else None

        self._lock = threading.RLock()
        streams = [*setup.rgb_keys, setup.state_key]
        self.history = ObservationHistory(streams, setup.n_obs_steps, setup.dt_ns,
                                          setup.max_age_ns, keep_ns=seconds_to_ns(cfg.history_s))
        # lockstep runs a plan out and keeps point 0 (the sim waits for it): no threshold, no lead
        self.schedule = ActionSchedule(
            setup.dt_ns, replan_threshold=0 if cfg.lockstep else cfg.replan_threshold,
            lead_ns=0 if cfg.lockstep else seconds_to_ns(cfg.action_lead_s))
        self._stats = {name: _StreamStats() for name in streams}
        self._bad: Counter = Counter()
        self._enabled = cfg.start_enabled
        self._armed = not cfg.episode_start_topic  # announced episode (or no episodes at all)
        self._generation = 0
        self._env_seed = cfg.env_seed
        self._episode_start_ns: int | None = None  # of the newest announced episode
        self._generator = self._new_generator()
        self._last_t_obs: int | None = None
        self._waiting = 'starting'
        self._published = 0
        self._clamped = 0
        self._discarded = 0
        self._errors = 0
        self._all_late = 0
        self._overhead: deque = deque(maxlen=200)  # seconds per plan outside the model
        self._logged: set[str] = set()

        self.pub_action = self.create_publisher(JointTrajectory, cfg.action_topic, RELIABLE_10)
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', RELIABLE_10)
        image_type = CompressedImage if cfg.compressed_images else Image
        for key, topic in zip(setup.rgb_keys, cfg.image_topics, strict=True):
            self.create_subscription(image_type, topic,
                                     lambda msg, key=key: self._on_image(key, msg),
                                     qos_profile_sensor_data)
        self.create_subscription(JointState, cfg.joint_state_topic, self._on_joint_state,
                                 JOINT_STATE_QOS)
        if cfg.episode_start_topic:
            self.create_subscription(String, cfg.episode_start_topic, self._on_episode_start,
                                     LATCHED)
        self.create_service(SetBool, '~/enable', self._on_enable)
        self.create_service(Trigger, '~/reset', self._on_reset)
        steady = Clock(clock_type=ClockType.STEADY_TIME)  # sim time stops while the sim waits
        self.create_timer(PLAN_CHECK_PERIOD_S, self._poll, clock=steady)
        self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics, clock=steady)
        timing = ('lockstep' if cfg.lockstep
                  else f'realtime (replan at <= {cfg.replan_threshold} left)')
        self.get_logger().info(
            f'policy {cfg.checkpoint} on {self.device_name} ({cfg.dtype}); cameras '
            f'{dict(zip(setup.rgb_keys, cfg.image_topics, strict=True))}, state '
            f"'{setup.state_key}' <- {cfg.joint_state_topic} {cfg.state_joint_names}, actions "
            f'-> {cfg.action_topic} {cfg.action_joint_names}; n_obs_steps={setup.n_obs_steps}, '
            f'n_action_steps={setup.n_action_steps}, dt={ns_to_seconds(setup.dt_ns)} s, '
            f'{timing}'
            + (f', warm-up {self.warmup_s * 1e3:.0f} ms' if self.warmup_s is not None else ''))

    # ------------------------------------------------------------------ parameters
    def _read_parameters(self) -> PolicyNodeConfig:
        values = {}
        defaults = PolicyNodeConfig()
        for name, desc in parameter_descriptors().items():
            default = getattr(defaults, name)
            initial = None if isinstance(default, list) else default
            values[name] = self.declare_parameter(name, initial, desc).value
        return config_from_dict(values)

    # ------------------------------------------------------------------ helpers
    def _now_ns(self) -> int:
        now = self.get_clock().now().nanoseconds
        if self.cfg.lockstep:  # the newest observation is the sim's "now", whatever /clock says
            t_last = self.history.t_last()
            if t_last is not None:
                now = max(now, t_last)
        return now

    def _new_generator(self):
        return self._episode_generator(self.cfg.sample_seed, self._env_seed, self.runner.device)

    def _bad_message(self, kind: str, detail: str) -> None:
        self._bad[kind] += 1
        if kind not in self._logged:
            self._logged.add(kind)
            self.get_logger().warning(f'skipped a bad message ({kind}): {detail} (logged once '
                                      'per kind; counts on /diagnostics)')

    def _log_once(self, key: str, text: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            self.get_logger().warning(text)

    def _file(self, stream: str, stamp_ns: int, value: Any) -> None:
        with self._lock:
            stats = self._stats[stream]
            if self.history.episode_start_ns is None and self.cfg.lockstep and \
                    not self.cfg.episode_start_topic:
                # a lockstep sim without episode announcements: its first observation starts
                # the episode (padded, as the in-process evaluation pads), else it waits forever
                self.history.start_episode(stamp_ns)
            if self.history.add(stream, stamp_ns, value):
                stats.filed += 1
            else:
                stats.duplicates += 1
            self._maybe_plan()

    # ------------------------------------------------------------------ inputs
    def _on_image(self, key: str, msg: Image | CompressedImage) -> None:
        stats = self._stats[key]
        with self._lock:
            stats.received += 1
            stats.arrivals.append(time.monotonic_ns())
        try:
            if isinstance(msg, CompressedImage):
                rgb = compressed_image_to_numpy(msg)
            else:
                if msg.encoding not in CAMERA_ENCODINGS:
                    with self._lock:
                        self._bad_message('image_encoding', f"camera '{key}': encoding "
                                          f"'{msg.encoding}' is not an RGB/BGR/mono8 image")
                    return
                rgb = image_to_rgb(msg)
        except ValueError as exc:
            with self._lock:
                self._bad_message('image_size' if isinstance(msg, Image) else 'image_decode',
                                  f"camera '{key}': {exc}")
            return
        from dp_ros.runtime.inference_runner import fit_image

        height, width = self.setup.image_shapes[key]
        rgb = fit_image(rgb, height, width)
        self._file(key, time_to_ns(msg.header.stamp), rgb)

    def _on_joint_state(self, msg: JointState) -> None:
        key = self.setup.state_key
        stats = self._stats[key]
        with self._lock:
            stats.received += 1
            stats.arrivals.append(time.monotonic_ns())
            names = self.cfg.state_joint_names
            missing = [n for n in names if n not in msg.name]
            if missing:
                self._bad_message('joint_unknown', f'joint state lacks {missing}, has '
                                  f'{list(msg.name)}')
                return
            try:
                values = joint_state_to_numpy(msg, names, self.cfg.state_field)
            except ValueError as exc:
                self._bad_message('joint_size', str(exc))
                return
            if not np.all(np.isfinite(values)):
                self._bad_message('non_finite', f'joint state {self.cfg.state_field} '
                                  f'{values.tolist()} for {names}')
                return
        self._file(key, time_to_ns(msg.header.stamp), values.astype(np.float32))

    def _on_episode_start(self, msg: String) -> None:
        try:
            info = json.loads(msg.data)
            seed, start_ns = int(info['seed']), int(info['start_ns'])
            if not 0 <= seed <= MAX_SEED:
                raise ValueError(f'seed {seed} outside [0, {MAX_SEED}]')
        except (ValueError, KeyError, TypeError, OverflowError) as exc:  # 1e999 -> inf
            with self._lock:
                self._bad_message('episode_start', f'{msg.data!r}: {exc!r}')
            return
        with self._lock:
            if self._episode_start_ns is not None and start_ns <= self._episode_start_ns:
                return  # a re-delivery, or an older episode
            self._episode_start_ns = start_ns
            self._env_seed = seed
            self._restart(keep_from_ns=start_ns)
            self._armed = True
            self.get_logger().info(f"episode {info.get('episode')} (seed {seed}) from "
                                   f'{start_ns / 1e9:.3f} s: generator seeded '
                                   f'{self.cfg.sample_seed} * 1000003 + {seed}')
            self._maybe_plan()

    def _restart(self, keep_from_ns: int | None = None) -> None:
        """New history, plan and generator; a chunk still being sampled is discarded."""
        if keep_from_ns is None:
            self.history.clear()
        else:
            self.history.start_episode(keep_from_ns)
        self.schedule.clear()
        self._generation += 1
        self._generator = self._new_generator()
        self._last_t_obs = None

    # ------------------------------------------------------------------ services
    def _on_enable(self, request: SetBool.Request, response: SetBool.Response):
        with self._lock:
            was = self._enabled
            self._enabled = bool(request.data)
            if not self._enabled:
                self.schedule.clear()
                self._generation += 1  # a chunk in flight is not published
            response.success = True
            response.message = f"{'enabled' if self._enabled else 'disabled'} (was " \
                               f"{'enabled' if was else 'disabled'})"
        self.get_logger().info(f'~/enable: {response.message}')
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        with self._lock:
            self._restart()
            if self.cfg.episode_start_topic:
                self._armed = False
            response.success = True
            response.message = (f'history and plan cleared; generator seeded '
                                f'{self.cfg.sample_seed} * 1000003 + {self._env_seed}'
                                + ('; waiting for the next episode start'
                                   if self.cfg.episode_start_topic else ''))
        self.get_logger().info(f'~/reset: {response.message}')
        return response

    # ------------------------------------------------------------------ planning
    def _poll(self) -> None:
        with self._lock:
            self._maybe_plan()

    def _maybe_plan(self) -> None:
        """Start sampling a chunk when one is needed and the inputs allow it (lock held)."""
        if not self._enabled:
            self._waiting = 'disabled'
            return
        if not self._armed:
            self._waiting = 'waiting for an episode start'
            return
        if self.runner.busy:
            self._waiting = 'sampling'
            return
        now = self._now_ns()
        if not self.schedule.needs_plan(now):
            self._waiting = 'executing'
            return
        start = time.perf_counter()
        obs = self.history.assemble(now)
        if not obs:
            self._waiting = f'inputs: {obs.kind}'
            if obs.kind in ('stale', 'gap'):
                self._log_once(f'refusal_{obs.kind}', f'not planning: {obs.message}')
            return
        if self.cfg.lockstep and obs.t_ns < now:
            # the sim waits at `now`: plan on its observation of now, not on an older one
            self._waiting = 'waiting for the observation of the current sim time'
            return
        if self._last_t_obs is not None and obs.t_ns <= self._last_t_obs:
            self._waiting = 'waiting for a newer observation'
            return
        from dp_ros.runtime.inference_runner import to_model_obs

        model_obs = to_model_obs(obs.values, self.setup.rgb_keys, self.runner.device)
        ctx = _PlanContext(self._generation, obs.t_ns, time.perf_counter() - start)
        if self.runner.submit(model_obs, self._generator, self._on_chunk, ctx):
            self._last_t_obs = obs.t_ns
            self._waiting = 'sampling'

    def _on_chunk(self, result) -> None:
        """Worker thread: clamp, drop what is due already, publish."""
        with self._lock:
            ctx: _PlanContext = result.context
            if result.error is not None:
                self._errors += 1
                self.get_logger().error(f'sampling failed: {result.error!r}')
                return
            if ctx.generation != self._generation:  # reset or disabled meanwhile
                self._discarded += 1
                return
            start = time.perf_counter()
            s = self.setup
            first = s.n_obs_steps - 1
            actions = np.asarray(result.action_pred[first:first + s.n_action_steps],
                                 dtype=np.float64)
            if not np.all(np.isfinite(actions)):
                self._errors += 1
                self._log_once('nan_actions', 'the policy produced non-finite actions; '
                               'chunk not published')
                return
            if s.lower is not None:
                clipped = np.clip(actions, s.lower, s.upper)
                self._clamped += int(np.count_nonzero(clipped != actions))
                actions = clipped
            plan = self.schedule.set_plan(actions, ctx.t_obs_ns, self._now_ns())
            if plan is None:
                self._all_late += 1
                self._log_once('all_late', f'a chunk came {result.latency_s * 1e3:.0f} ms after '
                               'its observation: every point was due already, none published')
                return
            msg = chunk_to_joint_trajectory(plan.actions, self.cfg.action_joint_names,
                                            ns_to_seconds(s.dt_ns), ctx.t_obs_ns,
                                            frame_id=self.cfg.frame_id,
                                            first_index=plan.first_index)
            try:
                self.pub_action.publish(msg)
            except Exception:
                if self.context.ok():
                    raise
                return  # shutting down (Ctrl-C) while the chunk was sampled
            self._published += 1
            self._overhead.append(ctx.pre_s + time.perf_counter() - start)

    # ------------------------------------------------------------------ diagnostics
    def diagnostics_values(self) -> dict[str, Any]:
        with self._lock:
            now = self._now_ns()
            wall = time.monotonic_ns()
            values: dict[str, Any] = {
                'enabled': self._enabled, 'state': self._waiting, 'device': self.device_name,
                'dtype': self.cfg.dtype, 'mode': 'lockstep' if self.cfg.lockstep else 'realtime',
                'env_seed': self._env_seed, 'chunks_published': self._published,
                'actions_dropped': self.schedule.dropped, 'chunks_all_late': self._all_late,
                'chunks_discarded': self._discarded, 'actions_clamped': self._clamped,
                'sampling_errors': self._errors, 'plan_remaining': self.schedule.remaining(now),
                'bad_messages': sum(self._bad.values()),
            }
            values.update({f'latency_{k}': v for k, v in self.runner.latency.summary_ms().items()})
            if self._overhead:
                over = np.asarray(self._overhead) * 1e3
                values['node_overhead_p50_ms'] = round(float(np.percentile(over, 50)), 3)
                values['node_overhead_p95_ms'] = round(float(np.percentile(over, 95)), 3)
            if self.warmup_s is not None:
                values['warmup_ms'] = round(self.warmup_s * 1e3, 1)
            for kind, count in sorted(self._bad.items()):
                values[f'bad_{kind}'] = count
            for name, age in self.history.ages_ns(now).items():
                st = self._stats[name]
                values[f'input_{name}_age_ms'] = None if age is None else round(age / 1e6, 3)
                values[f'input_{name}_rate_hz'] = round(st.rate_hz(wall), 2)
                values[f'input_{name}_received'] = st.received
                values[f'input_{name}_filed'] = st.filed
                values[f'input_{name}_duplicates'] = st.duplicates
        return values

    def _publish_diagnostics(self) -> None:
        values = self.diagnostics_values()
        status = DiagnosticStatus()
        status.name = f'{self.get_name()}: policy'
        status.hardware_id = self.device_name
        problems = []
        if values['bad_messages']:
            problems.append(f"{values['bad_messages']} bad message(s)")
        if str(values['state']).startswith('inputs: stale') or \
                str(values['state']).startswith('inputs: gap'):
            problems.append('inputs stale')
        if values['sampling_errors']:
            problems.append('sampling errors')
        status.level = DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        status.message = '; '.join(problems) if problems else str(values['state'])
        status.values = [KeyValue(key=k, value='' if v is None else str(v))
                         for k, v in values.items()]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self.pub_diag.publish(array)

    def shutdown(self) -> None:
        with self._lock:
            self._generation += 1  # a chunk finishing after this is not published
        self.runner.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv if argv is None else ['policy_node', *argv]
    rclpy.init(args=args)
    node = None
    executor = SingleThreadedExecutor()
    try:
        try:
            node = PolicyNode()
        except (ValueError, ParameterException, NameValidationException) as exc:
            print(f'{NODE_NAME}: invalid configuration: {exc}', file=sys.stderr)
            return 2
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.shutdown()
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown(timeout_sec=1.0)
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
