"""ROS 2 node `dp_policy`: camera and joint-state topics in, action chunks as JointTrajectory out.

Wiring only: messages are converted (dp_ros.ros.conversions) and handed to the ROS-free
PlanningLoop (dp_ros.runtime.planning_loop: when to plan, on which observation, what to
publish); the InferenceRunner samples each chunk on its own thread, and the chunk goes out as
one multi-point JointTrajectory whose point i is due at t_obs + i*dt (header.stamp = t_obs,
so a joint_trajectory_controller runs it on time). Parameters: PolicyNodeConfig
(dp_ros.runtime.policy_node_config).

Realtime (a robot, or the sim in realtime mode) re-plans once at most `replan_threshold`
future actions are left; lockstep (the sim in lockstep mode, use_sim_time) plans on the sim's
current observation once the plan has run out, exactly as the in-process evaluation steps.
With `episode_start_topic` set, each announced episode gets a fresh history and generator,
so `dp-ros eval --via ros` reproduces `--via inprocess` bit for bit.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from dp_ros import params
from dp_ros.ros.conversions import (
    chunk_to_joint_trajectory,
    compressed_image_to_numpy,
    image_to_rgb,
    joint_state_to_numpy,
    ns_to_seconds,
    time_to_ns,
)
from dp_ros.ros.node_main import run_node
from dp_ros.ros.parameters import declare_parameters, descriptors
from dp_ros.ros.qos import JOINT_STATES, LATCHED, RELIABLE_10, SENSOR_DATA
from dp_ros.runtime.planning_loop import Drop, PlanningLoop, parse_episode_start
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, load_setup

NODE_NAME = 'dp_policy'
PLAN_CHECK_PERIOD_S = 0.005  # wall-clock poll for "is a chunk due" besides message arrivals
CAMERA_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')  # what conversions.to_rgb takes


def parameter_descriptors() -> dict[str, Any]:
    """Every parameter the node declares, with its description and range; no node needed."""
    return descriptors(PolicyNodeConfig)


def config_from_dict(values: dict[str, Any]) -> PolicyNodeConfig:
    """Typed, range-checked config from raw parameter values (None: default)."""
    return params.config_from_dict(PolicyNodeConfig, values)


def _on_off(enabled: bool) -> str:
    return 'enabled' if enabled else 'disabled'


class PolicyNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__(NODE_NAME, **kwargs)
        self.cfg = cfg = declare_parameters(self, PolicyNodeConfig)
        self.setup = setup = load_setup(cfg)
        if cfg.lockstep and not self.get_parameter('use_sim_time').value:
            # on wall time "now" is never the sim's observation time: it would never plan
            raise ValueError('parameter lockstep needs use_sim_time:=true (the sim\'s /clock)')

        import torch

        from dp_ros.runtime.inference_runner import InferenceRunner

        if cfg.cpu_threads:
            torch.set_num_threads(cfg.cpu_threads)
        self.runner = InferenceRunner.from_checkpoint(
            cfg.checkpoint, device=cfg.device, dtype=cfg.dtype, sampler=cfg.sampler or None,
            num_inference_steps=cfg.num_inference_steps or None, torchscript=cfg.torchscript,
            extra_latency_s=cfg.debug_extra_latency_s)
        self.device_name = str(self.runner.device)
        if self.runner.device.type == 'cuda':
            self.device_name += f' ({torch.cuda.get_device_name(self.runner.device)})'
        self.warmup_s = self.runner.warmup() if cfg.warmup else None

        # the executor thread (messages, timers, services) and the runner's worker share it
        self._lock = threading.RLock()
        self.loop = PlanningLoop(cfg, setup, self.runner.device)
        self._overhead: deque = deque(maxlen=200)  # seconds per plan outside the model
        self._warned: set[str] = set()

        self.pub_action = self.create_publisher(JointTrajectory, cfg.action_topic, RELIABLE_10)
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', RELIABLE_10)
        image_type = CompressedImage if cfg.compressed_images else Image
        for key, topic in zip(setup.rgb_keys, cfg.image_topics, strict=True):
            self.create_subscription(image_type, topic,
                                     lambda msg, key=key: self._on_image(key, msg), SENSOR_DATA)
        self.create_subscription(JointState, cfg.joint_state_topic, self._on_joint_state,
                                 JOINT_STATES)
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

    # ------------------------------------------------------------------ helpers
    def _clock_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warning(text)

    def _bad(self, kind: str, detail: str) -> None:
        with self._lock:
            self.loop.bad_message(kind)
            self._warn_once(f'bad_{kind}', f'skipped a bad message ({kind}): {detail} (logged '
                            'once per kind; counts on /diagnostics)')

    def _received(self, stream: str) -> None:
        with self._lock:
            self.loop.received(stream, time.monotonic_ns())

    def _file(self, stream: str, stamp_ns: int, value: Any) -> None:
        with self._lock:
            self.loop.add(stream, stamp_ns, value)
            self._plan()

    # ------------------------------------------------------------------ inputs
    def _on_image(self, key: str, msg: Image | CompressedImage) -> None:
        self._received(key)
        try:
            if isinstance(msg, CompressedImage):
                rgb = compressed_image_to_numpy(msg)
            elif msg.encoding not in CAMERA_ENCODINGS:
                self._bad('image_encoding', f"camera '{key}': encoding '{msg.encoding}' is not "
                          'an RGB/BGR/mono8 image')
                return
            else:
                rgb = image_to_rgb(msg)
        except ValueError as exc:
            self._bad('image_size' if isinstance(msg, Image) else 'image_decode',
                      f"camera '{key}': {exc}")
            return
        from dp_ros.runtime.inference_runner import fit_image

        height, width = self.setup.image_shapes[key]
        self._file(key, time_to_ns(msg.header.stamp), fit_image(rgb, height, width))

    def _on_joint_state(self, msg: JointState) -> None:
        key, names, which = self.setup.state_key, self.cfg.state_joint_names, self.cfg.state_field
        self._received(key)
        missing = [n for n in names if n not in msg.name]
        if missing:
            self._bad('joint_unknown', f'joint state lacks {missing}, has {list(msg.name)}')
            return
        try:
            values = joint_state_to_numpy(msg, names, which)
        except ValueError as exc:
            self._bad('joint_size', str(exc))
            return
        if not np.all(np.isfinite(values)):
            self._bad('non_finite', f'joint state {which} {values.tolist()} for {names}')
            return
        self._file(key, time_to_ns(msg.header.stamp), values.astype(np.float32))

    def _on_episode_start(self, msg: String) -> None:
        try:
            episode = parse_episode_start(msg.data)
        except ValueError as exc:
            self._bad('episode_start', str(exc))
            return
        with self._lock:
            if not self.loop.start_episode(episode.seed, episode.start_ns):
                return  # a re-delivery, or an older episode
            self.get_logger().info(f'episode {episode.episode} (seed {episode.seed}) from '
                                   f'{episode.start_ns / 1e9:.3f} s: generator seeded '
                                   f'{self.cfg.sample_seed} * 1000003 + {episode.seed}')
            self._plan()

    # ------------------------------------------------------------------ services
    def _on_enable(self, request: SetBool.Request, response: SetBool.Response):
        with self._lock:
            was = self.loop.enable(request.data)
        response.success = True
        response.message = f'{_on_off(request.data)} (was {_on_off(was)})'
        self.get_logger().info(f'~/enable: {response.message}')
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        with self._lock:
            self.loop.reset()
            env_seed = self.loop.env_seed
        response.success = True
        response.message = (f'history and plan cleared; generator seeded '
                            f'{self.cfg.sample_seed} * 1000003 + {env_seed}'
                            + ('; waiting for the next episode start'
                               if self.loop.announced else ''))
        self.get_logger().info(f'~/reset: {response.message}')
        return response

    # ------------------------------------------------------------------ planning
    def _poll(self) -> None:
        with self._lock:
            self._plan()

    def _plan(self) -> None:
        """Submit a chunk to the runner when the loop says so (lock held)."""
        start = time.perf_counter()
        request = self.loop.poll(self._clock_ns(), self.runner.busy)
        if not request:
            if request.detail:
                self._warn_once(request.reason, f'not planning: {request.detail}')
            return
        from dp_ros.runtime.inference_runner import to_model_obs

        obs = to_model_obs(request.observation.values, self.setup.rgb_keys, self.runner.device)
        context = (request.context, time.perf_counter() - start)
        if self.runner.submit(obs, request.generator, self._on_chunk, context):
            self.loop.submitted(request)

    def _on_chunk(self, result) -> None:
        """Worker thread: the loop clamps and drops what is due already; publish the rest."""
        with self._lock:
            context, pre_s = result.context
            start = time.perf_counter()
            plan = self.loop.finish(context, result.action_pred, result.error, self._clock_ns())
            if isinstance(plan, Drop):
                if plan.reason == 'error':
                    self.get_logger().error(f'sampling failed: {result.error!r}')
                elif plan.reason == 'non_finite':
                    self._warn_once('non_finite_actions', 'the policy produced non-finite '
                                    'actions; chunk not published')
                elif plan.reason == 'all_late':
                    self._warn_once('all_late', f'a chunk came {result.latency_s * 1e3:.0f} ms '
                                    'after its observation: every point was due already, none '
                                    'published')
                return
            msg = chunk_to_joint_trajectory(plan.actions, self.cfg.action_joint_names,
                                            ns_to_seconds(self.setup.dt_ns), plan.t_obs_ns,
                                            frame_id=self.cfg.frame_id,
                                            first_index=plan.first_index)
            try:
                self.pub_action.publish(msg)
            except Exception:
                if self.context.ok():
                    raise
                return  # shutting down (Ctrl-C) while the chunk was sampled
            self._overhead.append(pre_s + time.perf_counter() - start)

    # ------------------------------------------------------------------ diagnostics
    def diagnostics_values(self) -> dict[str, Any]:
        with self._lock:
            values = self.loop.diagnostics(self._clock_ns(), time.monotonic_ns())
            overhead = list(self._overhead)
        values.update(device=self.device_name, dtype=self.cfg.dtype)
        values.update({f'latency_{k}': v for k, v in self.runner.latency.summary_ms().items()})
        if overhead:
            over = np.asarray(overhead) * 1e3
            values['node_overhead_p50_ms'] = round(float(np.percentile(over, 50)), 3)
            values['node_overhead_p95_ms'] = round(float(np.percentile(over, 95)), 3)
        if self.warmup_s is not None:
            values['warmup_ms'] = round(self.warmup_s * 1e3, 1)
        return values

    def _publish_diagnostics(self) -> None:
        values = self.diagnostics_values()
        status = DiagnosticStatus()
        status.name = f'{self.get_name()}: policy'
        status.hardware_id = self.device_name
        problems = []
        if values['bad_messages']:
            problems.append(f"{values['bad_messages']} bad message(s)")
        if str(values['state']) in ('inputs: stale', 'inputs: gap'):
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
            self.loop.discard_pending()  # a chunk finishing after this is not published
        self.runner.close()


def main(argv: list[str] | None = None) -> int:
    return run_node(PolicyNode, NODE_NAME, argv)


if __name__ == '__main__':
    sys.exit(main())
