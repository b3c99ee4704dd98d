"""ROS 2 node `dp_policy`: camera and joint-state topics in, action chunks as JointTrajectory out.

Wiring only: messages are converted (dp_ros.ros.conversions) and handed to the ROS-free
PlanningLoop (dp_ros.runtime.planning_loop: when to plan, on which observation, what to
publish, when to stop); the InferenceRunner samples each chunk on its own thread, and the
chunk goes out as one multi-point JointTrajectory stamped for when its first point runs
(point i due at header.stamp + i*dt), one per controller topic when the action joints are
split across several (action_joint_topics: an arm and its gripper); a forward command
controller's topic (action_stream_topics) gets each point as it falls due, a Cartesian
controller's (action_pose_topics) each point as a PoseStamped, a velocity servo's
(action_twist_topics) a TwistStamped toward the plan every 5 ms. A stop
(disable, stale inputs, shutdown) publishes a one-point hold at the measured position
(runtime/safety.py says why not an empty one), or with stop_deceleration the points that slow
the commanded motion to rest.
Parameters: PolicyNodeConfig (dp_ros.runtime.policy_node_config).

PolicyCore is the wiring on any rclpy node: PolicyNode here (built and enabled at start, as
the sim uses it) and the managed PolicyLifecycleNode (policy_lifecycle_node.py).
"""
from __future__ import annotations

import functools
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from dp_ros.image_fit import RECORDED_AT, crop_problem, fit_image, frame_size_problem
from dp_ros.ros import conversions as cv
from dp_ros.ros.clock_guard import skipped_clock_messages
from dp_ros.ros.node_main import interrupt_without_rclpy_shutdown, run_node, wait_for_acks
from dp_ros.ros.param_files import warn_unmatched_blocks
from dp_ros.ros.parameters import declare_parameters, resolved_topics
from dp_ros.ros.qos import (
    JOINT_STATES,
    LATCHED,
    RELIABLE_10,
    SENSOR_DATA,
    make_publisher,
    make_subscription,
)
from dp_ros.runtime import planning_loop as pl
from dp_ros.runtime.camera_frames import CameraFrame
from dp_ros.runtime.command_listeners import CommandListeners, CommandRivals
from dp_ros.runtime.input_checks import BadInput, shorten
from dp_ros.runtime.joint_publishers import (
    CONFLICT_WINDOW_NS,
    JointPublishers,
    PublisherNames,
    node_name,
    publisher_key,
)
from dp_ros.runtime.observation_log import ObservationLog
from dp_ros.runtime.policy_node_config import (
    CommandGroup,
    PolicyNodeConfig,
    ResolvedSetup,
    StateSource,
    camera_compressed,
    describe_setup,
    lockstep_clock_problem,
    message_streams,
)
from dp_ros.runtime.recent_problems import PROBLEM_COUNTERS, RECENT_PROBLEMS_S, RecentCounts
from dp_ros.runtime.repeated_message import RepeatedMessage
from dp_ros.runtime.safety import Hold
from dp_ros.stamps import seconds_to_ns

NODE_NAME = 'dp_policy'
# The wall-clock poll besides message arrivals. While a plan runs it checks every 5 ms
# whether the next chunk is due and the inputs are fresh, sends streamed points as they fall
# due and servo twists. While nothing moves a plan can only start on a message (the
# observation is made of messages) or the runner coming free, so the poll is only a safety
# net: at 5 ms it cost an idle node about a quarter of a core (bench_policy_node.py idle_cpu).
PLAN_CHECK_PERIOD_NS = 5_000_000
IDLE_CHECK_PERIOD_NS = 50_000_000
# at shutdown, how long in all the stop may wait for the controllers' acknowledgements
STOP_ACK_BUDGET_S = 1.0
# a kind of bad message is said at once, then at most this often (with how many went unsaid)
BAD_LINE_PERIOD_S = 10.0
# a clock jump back seen while nothing moved (disabled, inactive, waiting for an episode):
# no hold to name it, so said on its own
CLOCK_BACK_IDLE = ('the node clock went back by more than max_input_age_s (a sim or bag '
                   'restarted under use_sim_time, a wall clock stepped back): history cleared, '
                   "the new clock's inputs are filed (logged once; clock_jumps_back on "
                   '/diagnostics)')


def read_config(node: Node) -> tuple[PolicyNodeConfig, ResolvedSetup]:
    """Declared parameters checked against the checkpoint; ValueError names the fault."""
    cfg = declare_parameters(node, PolicyNodeConfig)
    from dp_ros.runtime.policy_node_config import load_setup

    setup = load_setup(cfg)
    problem = lockstep_clock_problem(cfg.lockstep, node.get_parameter('use_sim_time').value)
    if problem is not None:
        raise ValueError(problem)
    if cfg.lockstep:  # nor undone while it runs: rclpy lets use_sim_time change at any time
        node.add_on_set_parameters_callback(functools.partial(keep_sim_time, cfg.lockstep))
    for warning in setup.start_warnings:  # joints named otherwise than in training, ...
        node.get_logger().warning(warning)
    return cfg, setup


def keep_sim_time(lockstep: bool, parameters: list[Parameter]) -> SetParametersResult:
    """Refuse a run-time change of use_sim_time that lockstep cannot run on (called before
    rclpy's own callback, which switches the clock at once)."""
    for parameter in parameters:
        if parameter.name == 'use_sim_time':
            problem = lockstep_clock_problem(lockstep, parameter.value is True)
            if problem is not None:
                return SetParametersResult(successful=False, reason=problem)
    return SetParametersResult(successful=True)


def stop_line(hold: Hold, trajectories: bool, forward: bool, poses: bool, twists: bool
              ) -> str:
    """The log line of a stop: the decelerating path where trajectory topics, or forward
    controllers point by point (Hold.streamed), get it; the hold point for the others
    (forward controllers after a stop that ends streaming, pose targets) and the twists' stop
    only where the node publishes on such topics (a line naming the measured position for a
    streamed controller the node has not reads as if that position were commanded)."""
    where = f'the {hold.source} position {np.round(hold.position, 4).tolist()}'
    streams_path = forward and hold.streamed
    decelerating = [kind for kind, gets in (('trajectory', trajectories),
                                           ('forward', streams_path)) if gets]
    if hold.path is None or not decelerating:
        return f'stop ({hold.reason}): holding at {where}'
    parts = [f'{" and ".join(decelerating)} controllers decelerate (stop_deceleration) over '
             f'{len(hold.path)} points to rest at {np.round(hold.path[-1], 4).tolist()}'
             + (' (forward: each point as it falls due)' if streams_path else '')]
    held = [kind for kind, has in (('forward controllers', forward and not streams_path),
                                   ('pose targets', poses)) if has]
    if held:
        parts.append(f'{" and ".join(held)} hold at {where}')
    if twists:
        parts.append('twist servos get a zero twist')
    return f'stop ({hold.reason}): ' + '; '.join(parts)


class PolicyCore:
    """Subscriptions, services, timers and publishers of the policy on `node`."""

    def __init__(self, node: Node, cfg: PolicyNodeConfig, setup: ResolvedSetup, runner: Any,
                 device_name: str, warmup_s: float | None, enabled: bool):
        from dp_ros.runtime.inference_runner import LatencyStats

        self.node, self.cfg, self.setup, self.runner = node, cfg, setup, runner
        self.device_name, self.warmup_s = device_name, warmup_s
        self.log = node.get_logger()
        # the executor thread (messages, timers, services) and the runner's worker share it
        self._lock = threading.RLock()
        self.loop = pl.PlanningLoop(cfg, setup, runner.device)
        self.loop.enabled = enabled
        self.enable_allowed = True  # a lifecycle node refuses ~/enable unless active
        self._overhead = LatencyStats()  # seconds per plan outside the model
        self._decode_cost = LatencyStats()  # seconds per camera frame decoded and fitted
        self._warned: set[str] = set()
        self._bad_lines: dict[str, RepeatedMessage] = {}  # per kind of bad message
        # per camera whose training frame size the checkpoint lacks: its first frame's (H, W)
        # since start or ~/reset
        self._first_frame_hw: dict[str, tuple[int, int]] = {}
        self._last_bad = ''  # the newest skipped message's kind and why (/diagnostics)
        self._sampling_failed = RepeatedMessage()
        self._drop_lines: dict[str, RepeatedMessage] = {}  # a dropped chunk's, per reason
        self._clamp_lines = RepeatedMessage()  # targets beyond the action bounds
        # the status is WARN while a problem count rose lately (at least one diagnostics
        # period), not for ever after one glitch
        self._problems_window_s = max(RECENT_PROBLEMS_S, cfg.diagnostics_period_s)
        self._recent = RecentCounts(PROBLEM_COUNTERS,
                                    seconds_to_ns(self._problems_window_s))
        # the debug observation log (checked writable at start; off after a failed write)
        self._observation_log = ObservationLog(cfg.observation_log_path)
        # per input stream: messages of header stamp 0 (a driver that never stamps) filed at
        # their receive time; and those that arrived before the node clock ran (sim time
        # before the first /clock), which nothing places: skipped
        self._stamped_on_receipt: Counter[str] = Counter()
        self._unstamped_skipped: Counter[str] = Counter()
        # command topics no controller subscribes to while the node publishes (checked with
        # each diagnostics; a dry run's own topic is for whoever looks), and when each
        # publisher last sent a message (monotonic ns)
        self._listeners = CommandListeners()
        self._rivals = CommandRivals()
        self._published_ns: dict[Any, int] = {}
        self._dt_s = cv.ns_to_seconds(setup.dt_ns)
        # one publisher per controller topic (action_joint_topics: an arm's and a gripper's):
        # a trajectory per chunk, or (action_stream_topics) a position per point as it falls due
        self.pub_actions = [(group, make_publisher(node, JointTrajectory, group.topic,
                                                          RELIABLE_10))
                            for group in setup.commands if not (group.stream or group.twist)]
        # (action_twist_topics) a twist toward the plan every poll while moving, for a servo
        self.pub_twists = [(group, make_publisher(node, TwistStamped, group.topic, RELIABLE_10))
                           for group in setup.commands if group.twist]
        self.pub_streams = [(group, make_publisher(node,
            PoseStamped if group.pose else Float64MultiArray, group.topic, RELIABLE_10))
                            for group in setup.commands if group.stream]
        self.pub_diag = make_publisher(node, DiagnosticArray, '/diagnostics', RELIABLE_10)
        self.pub_chunk = self.pub_path = None
        if cfg.debug_topics:
            self.pub_chunk = make_publisher(node, JointTrajectory, '~/planned_chunk', RELIABLE_10)
            if setup.path_joints:
                from nav_msgs.msg import Path

                self.pub_path = make_publisher(node, Path, '~/planned_path', RELIABLE_10)
        # each camera raw or compressed (image_transport's '<base>/compressed' topics)
        self._image_types = {key: CompressedImage if camera_compressed(cfg, topic) else Image
                             for key, topic in zip(setup.rgb_keys, cfg.image_topics,
                                                   strict=True)}
        cameras = [make_subscription(node, self._image_types[key], topic,
                                     lambda msg, key=key: self._on_image(key, msg), SENSOR_DATA)
                   for key, topic in zip(setup.rgb_keys, cfg.image_topics, strict=True)]
        by_topic: dict[str, list[StateSource]] = {}  # two drivers' joints on one topic: two
        for source in setup.state_sources:           # sources, one subscription
            by_topic.setdefault(source.topic, []).append(source)
        # per state topic: who gave which joint lately (two publishers of one joint refused),
        # and the names it is read for (a joint nobody reads may come from anyone)
        self._joint_publishers = {topic: JointPublishers() for topic in by_topic}
        self._read_joints = {topic: frozenset(
            name.removeprefix(s.prefix) for s in sources
            for name in (*s.joint_names, *cfg.action_joint_names)) for topic, sources
            in by_topic.items()}
        states = {  # one joint-state topic, or an arm's and its gripper's, or a pose
            topic: make_subscription(node, PoseStamped if sources[0].pose else JointState,
                                     topic, self._state_callback(sources), JOINT_STATES)
            for topic, sources in by_topic.items()}
        self._state_topics = {topic: sub.topic_name for topic, sub in states.items()}
        # per state topic, its publishers' nodes as the graph names them
        self._publisher_names = {topic: PublisherNames() for topic in by_topic}
        self.entities = [*cameras, *states.values()]
        # per input stream, its topic as subscribed (remapped by -r): what the warnings name
        self._camera_topics = {key: sub.topic_name
                               for key, sub in zip(setup.rgb_keys, cameras, strict=True)}
        self._input_topics = {**self._camera_topics, **{
            s.stream_name: states[s.topic].topic_name for s in setup.state_sources}}
        if cfg.episode_start_topic:
            self.entities.append(make_subscription(node,
                String, cfg.episode_start_topic, self._on_episode_start, LATCHED))
        self.entities += [node.create_service(SetBool, '~/enable', self._on_enable),
                          node.create_service(Trigger, '~/reset', self._on_reset)]
        steady = Clock(clock_type=ClockType.STEADY_TIME)  # sim time stops while the sim waits
        self._poll_timer = node.create_timer(IDLE_CHECK_PERIOD_NS / 1e9, self._poll,
                                             clock=steady)
        # a plan published on the runner's thread wakes the executor to poll at once (and
        # from then on every 5 ms)
        self._moving_started = node.create_guard_condition(self._poll)
        self.entities += [self._poll_timer, self._moving_started,
                          node.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics,
                                            clock=steady)]
        self.publishers = [p for _, p in self.pub_actions + self.pub_streams
                           + self.pub_twists] + [
            p for p in (self.pub_diag, self.pub_chunk, self.pub_path) if p is not None]
        # the topics as subscribed and published: in the namespace, after -r remapping
        self.log.info(describe_setup(resolved_topics(node, cfg), resolved_topics(node, setup),
                                     device_name, warmup_s))

    # ------------------------------------------------------------------ helpers
    def _clock_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log.warning(text)

    def _bad(self, kind: str, detail: str) -> None:
        with self._lock:
            self.loop.bad_message(kind)
        self._warn_bad(kind, detail)

    def _warn_bad(self, kind: str, detail: str) -> None:
        """A skipped message's line: each kind at once, then at most every BAD_LINE_PERIOD_S
        (a later cause of a kind is named too, without a line per message); the newest on
        /diagnostics (last_bad_message). The detail is cut to input_checks.MAX_TEXT: it may
        repeat a message's strings (an encoding of a megabyte)."""
        detail = shorten(detail)
        self._last_bad = f'{kind}: {detail}'
        lines = self._bad_lines.setdefault(kind, RepeatedMessage(int(BAD_LINE_PERIOD_S * 1e9)))
        line = lines.add(f'skipped a bad message ({kind}): {detail}', time.monotonic_ns())
        if line is not None:
            self.log.warning(f'{line} (each kind at most every {BAD_LINE_PERIOD_S:g} s; '
                             'counts on /diagnostics)')

    def _before_clock(self, stream: str, clock_ns: int) -> bool:
        """Whether a sample must wait for the node clock to start (realtime under
        use_sim_time, no /clock yet): skipped, counted and said once (lock held)."""
        if not self.loop.before_clock(stream, clock_ns):
            return False
        self._warn_once(pl.WAITING_FOR_CLOCK, f'not planning: {pl.NO_CLOCK}')
        return True

    def _file(self, stream: str, stamp_ns: int, value: Any,
              measured: np.ndarray | None = None) -> None:
        with self._lock:
            clock_ns = self._clock_ns()
            if self._before_clock(stream, clock_ns):
                return
            filing = self.loop.add(stream, stamp_ns, value, clock_ns, time.monotonic_ns(),
                                   measured)
            if filing.kind in pl.BAD_FILINGS:
                self._warn_bad_filing(filing, stream)
            elif filing.kind == 'older':
                self._warn_once(f'older_{stream}', f'{filing.detail} (logged once per stream; '
                                'counts on /diagnostics)')
            self._plan()

    def _warn_bad_filing(self, filing: pl.Filing, what: str) -> None:
        self._warn_bad(filing.kind, f'{what} {filing.detail}')

    # ------------------------------------------------------------------ inputs
    def _stamp_ns(self, stream: str, msg: Any, received_ns: int, what: str) -> int | None:
        """A message's header stamp, in ns. An unset one (exactly 0: a camera driver that
        never stamps its frames) is its receive time on the node clock, as bag2zarr places
        such a stream; None when the node clock does not run yet (sim time before the first
        /clock), which leaves nothing to place it by (counted, skipped). In lockstep the
        stamps are the sim's, and 0 is its first step's: taken as they are."""
        stamp_ns = cv.time_to_ns(msg.header.stamp)
        if stamp_ns != 0 or self.cfg.lockstep:
            return stamp_ns
        if received_ns <= 0:
            with self._lock:
                self._unstamped_skipped[stream] += 1
            self._warn_once('unstamped_no_clock', f'{what}: skipped a message of header stamp '
                            '0 received before the node clock ran (use_sim_time: no /clock '
                            'yet), so nothing places it (logged once; inputs_unstamped_skipped '
                            'on /diagnostics)')
            return None
        with self._lock:
            self._stamped_on_receipt[stream] += 1
        self._warn_once(f'on_receipt_{stream}', f'{what}: header stamp 0 (its driver does not '
                        'stamp): filed at its receive time on the node clock, as bag2zarr '
                        'places such a stream (logged once per stream; '
                        f'input_{stream}_stamped_on_receipt on /diagnostics)')
        return received_ns

    def _on_image(self, key: str, msg: Image | CompressedImage) -> None:
        """A camera message: checked as far as its header and buffer length tell, no pixel
        read (cv.check_camera_message: a raw Image's encoding, and its size, step and buffer
        length, in every encoding; a CompressedImage's format, a depth image refused, an
        empty buffer and what its header says; then the frame size, a compressed frame's as
        its header declares it, against the training frames', and the stamp), so that every
        bad frame is counted, also one never decoded; filed undecoded, so that full-size
        cameras cannot keep the executor from the joint states; decoded and fitted when an
        observation uses it (_decode_frame), once, where what only decoding tells is checked
        (a compressed frame's pixels, and its size where its header did not say)."""
        received_ns = self._clock_ns()
        with self._lock:
            self.loop.received(key)
        try:
            frame_hw = cv.check_camera_message(msg)
            if frame_hw is not None:
                self._check_frame_size(key, frame_hw)
        except BadInput as exc:
            self._bad(exc.kind, f"camera '{key}': {exc}")
            return
        stamp_ns = self._stamp_ns(key, msg, received_ns,
                                  f"camera '{key}' ({self._camera_topics[key]})")
        if stamp_ns is not None:
            self._file(key, stamp_ns, CameraFrame(functools.partial(
                self._decode_frame, key, msg)))

    def _check_frame_size(self, key: str, frame_hw: tuple[int, int]) -> None:
        """BadInput 'camera_size' (a frame of another size or aspect than the training
        frames) or 'camera_crop' (the crop box reaches outside it); a size resized as in
        training is said once."""
        recorded, reference = self.setup.image_frame_sizes[key], RECORDED_AT
        if recorded is None:  # the checkpoint does not say (the paper's data, older stores)
            recorded = self._first_frame_hw.get(key)
            if recorded is None and min(frame_hw) > 0:  # not one without pixels (refused)
                recorded = self._first_frame_hw[key] = tuple(frame_hw)
                if recorded != tuple(self.setup.image_shapes[key]):
                    self._warn_once(f'camera_unrecorded_{key}', (
                        f"camera '{key}': frames {frame_hw[1]}x{frame_hw[0]} px are fitted to "
                        f"the policy's {self.setup.image_shapes[key][1]}x"
                        f'{self.setup.image_shapes[key][0]}; the checkpoint does not record '
                        'the size its training frames were recorded at, so this camera is '
                        "held to its first frame's size (logged once)"))
            reference = "this camera's first frame was"
        problem = frame_size_problem(frame_hw, recorded, self.setup.image_crops[key],
                                     reference)
        if problem is not None:
            refused, why = problem
            if refused:
                raise BadInput('camera_size', why)
            self._warn_once(f'camera_size_{key}', f"camera '{key}': {why} (logged once)")
        crop = self.setup.image_crops[key]
        if crop is not None and (why := crop_problem(crop, *frame_hw)) is not None:
            raise BadInput('camera_crop', why)

    def _decode_frame(self, key: str, msg: Image | CompressedImage) -> np.ndarray:
        """The policy's image of a filed camera message, as bag2zarr fitted the training
        frames: the checkpoint's camera crop, then its size. Called (lock held) when an
        observation first uses the frame, never on receipt, where even a raw frame's RGB
        view may be a copy (rows padded past width: 6 ms a 1080p frame, for frames no
        observation uses); BadInput logged as _warn_bad says (the loop counts it). Its cost
        goes to camera_decode_* on /diagnostics."""
        start = time.perf_counter()
        try:
            rgb = cv.camera_rgb(msg)
            if isinstance(msg, CompressedImage):  # its size known only now
                self._check_frame_size(key, rgb.shape[:2])
            height, width = self.setup.image_shapes[key]
            try:
                image = fit_image(rgb, height, width, self.setup.image_crops[key])
            except ValueError as exc:
                raise BadInput('camera_crop', str(exc)) from None
            return np.ascontiguousarray(image)
        except BadInput as exc:
            self._warn_bad(exc.kind, f"camera '{key}': {exc}")
            raise
        finally:
            self._decode_cost.add(time.perf_counter() - start)

    def _state_callback(self, sources: list[StateSource]) -> Callable[[Any, Any], None]:
        def on_message(msg: JointState | PoseStamped, info: Any) -> None:
            # two parameters: rclpy passes the message info (its publisher's identity)
            self._on_states(sources, msg, info)
        return on_message

    def _on_states(self, sources: list[StateSource], msg: JointState | PoseStamped,
                   info: Any = None) -> None:
        """A state topic's message, to the streams it is for (usually the topic's one; two
        drivers' joints on one topic, read apart: the one whose joints it gives). Refused
        when another publisher gave one of its joints within a second (JointPublishers)."""
        topic = sources[0].topic
        names = getattr(msg, 'name', None)
        joints = ['pose'] if names is None else \
            [n for n in names if n in self._read_joints[topic]]
        publisher = publisher_key(info)
        others = self._joint_publishers[topic].others(joints, publisher, time.monotonic_ns())
        if others:
            self._bad('joint_publishers', self._publishers_line(topic, joints, others,
                                                                publisher))
            return
        for source in message_streams(sources, names or ()):
            self._on_state(source, msg)

    def _publishers_line(self, topic: str, joints: list[str], others: list[bytes],
                         publisher: bytes) -> str:
        """Why a state message is refused: its joints' publishers, named by node where the
        graph says (asked once per publisher, and again at most every second while it has no
        name yet: such messages come at the drivers' rate)."""
        resolved = self._state_topics[topic]

        def lookup():
            return [(bytes(i.endpoint_gid[:len(publisher)]), i.node_namespace, i.node_name)
                    for i in self.node.get_publishers_info_by_topic(resolved)]

        who = ', '.join(sorted(self._publisher_names[topic].names(
            [publisher, *others], lookup, time.monotonic_ns())))
        return (f'{resolved}: {joints} given by {len(others) + 1} publishers within '
                f'{CONFLICT_WINDOW_NS / 1e9:g} s ({who}): a joint_state_publisher or a second '
                'driver beside the arm\'s? Their values would be planned on and held at in '
                'turn: both are refused until one is gone')

    def _on_state(self, source: StateSource, msg: JointState | PoseStamped) -> None:
        """A state topic's message: a joint state, or an end effector's pose."""
        cfg = self.cfg
        topic = self._input_topics[source.stream_name]
        received_ns = self._clock_ns()
        with self._lock:
            self.loop.received(source.stream_name)
        try:
            if source.pose:
                values, measured = cv.pose_inputs(msg, source.joint_names, cfg.state_yaw_min,
                                                  cfg.action_joint_names, source.frame_id,
                                                  source.prefix)
            else:
                values, measured = cv.joint_state_inputs(msg, source.joint_names,
                                                         source.fields, cfg.action_joint_names,
                                                         source.prefix)
        except BadInput as exc:
            self._bad(exc.kind, f'{topic}: {exc}')
            if not isinstance(exc, cv.PartialJointState) or exc.measured is None:
                return
            values, measured = None, exc.measured  # refused, but its action joints measured
        else:
            if values is None:  # none of its joints: another driver's (or names it lacks)
                with self._lock:
                    self.loop.other_joints(source.stream_name, list(msg.name))
                if measured is None:  # nor an action joint's position: nothing to read
                    return
        stamp_ns = self._stamp_ns(source.stream_name, msg, received_ns, topic)
        if stamp_ns is None:
            return
        if values is None:  # another driver's joints on this topic: a measurement only
            with self._lock:
                clock_ns = self._clock_ns()
                if self._before_clock(source.stream_name, clock_ns):
                    return
                bad = self.loop.add_measurement(stamp_ns, measured, clock_ns)
                if bad is not None:
                    self._warn_bad_filing(bad, topic)
            return
        # measured: the action dimensions it measures (ramp-in start, the stop), if it is filed
        self._file(source.stream_name, stamp_ns, values, measured)

    def _on_episode_start(self, msg: String) -> None:
        try:
            episode = pl.parse_episode_start(msg.data)
        except ValueError as exc:
            self._bad('episode_start', str(exc))
            return
        with self._lock:
            last, jumps = self.loop.episode_start_ns, self.loop.clock_jumps
            clock_ns = self._clock_ns()
            try:
                taken = self.loop.start_episode(episode.seed, episode.start_ns, clock_ns)
            except BadInput as exc:  # a start far ahead: the node would wait for it idle
                self._bad(exc.kind, f'episode {episode.episode} ignored: {exc}')
                return
            if taken is None:
                if last is not None and episode.start_ns < last:  # not a re-delivery
                    self._warn_once('older_episode', f'episode {episode.episode} from '
                                    f'{episode.start_ns / 1e9:.3f} s ignored: it starts before '
                                    f'the current one ({last / 1e9:.3f} s) and the node clock '
                                    f'reads after that ({clock_ns / 1e9:.3f} s) (logged once)')
                return
            back = (f'; the node clock went back ({clock_ns / 1e9:.3f} s, before the last '
                    'episode): history cleared' if self.loop.clock_jumps > jumps else '')
            self.log.info(f'episode {episode.episode} (seed {episode.seed}) from '
                          f'{episode.start_ns / 1e9:.3f} s: generator seeded '
                          f'{self.cfg.sample_seed} * 1000003 + {episode.seed}{back}')
            # the old episode's plan is forgotten: stopped now, or the controller runs it on
            # and no later stop (~/enable false) would send a hold
            self._publish_hold(taken.hold)
            self._plan()

    # ------------------------------------------------------------------ control
    def set_enabled(self, on: bool, reason: str = 'disabled') -> bool:
        """Enable, or disable after publishing the hold; returns the previous state."""
        with self._lock:
            if not on:
                self._publish_hold(self.loop.stop(reason, self._clock_ns()))
            return self.loop.enable(on)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response):
        on_off = {True: 'enabled', False: 'disabled'}
        response.success = self.enable_allowed
        if not self.enable_allowed:
            response.message = 'refused: the node is not active (lifecycle: activate it)'
        else:
            was = self.set_enabled(request.data)
            response.message = f'{on_off[bool(request.data)]} (was {on_off[was]})'
        self.log.info(f'~/enable: {response.message}')
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        with self._lock:
            self._publish_hold(self.loop.reset(self._clock_ns()))
            env_seed = self.loop.env_seed
        self._first_frame_hw.clear()  # a camera switched to another mode on purpose
        response.success = True
        response.message = (f'history and plan cleared; generator seeded '
                            f'{self.cfg.sample_seed} * 1000003 + {env_seed}'
                            + ('; waiting for the next episode start'
                               if self.loop.announced else ''))
        self.log.info(f'~/reset: {response.message}')
        return response

    # ------------------------------------------------------------------ planning
    def _poll(self) -> None:
        with self._lock:
            self._plan()
            if self.pub_streams:
                self._stream()
            if self.pub_twists:
                self._servo()
            # a decelerating stop still streams its points (stop_point_due) at the plan's pace
            fast = self.loop.moving or self.loop.stopping is not None
            self._set_poll_period(PLAN_CHECK_PERIOD_NS if fast else IDLE_CHECK_PERIOD_NS)

    def _set_poll_period(self, period_ns: int) -> None:
        if self._poll_timer.timer_period_ns != period_ns:
            self._poll_timer.timer_period_ns = period_ns
            self._poll_timer.reset()  # the next poll one new period from now

    def _stream(self) -> None:
        """Send the plan's point that fell due to the streamed topics, or a decelerating
        stop's to the forward controllers (pose targets got the hold point) (lock held)."""
        clock = self._clock_ns()
        point = self.loop.point_due(clock)
        if point is not None:
            for group, publisher in self.pub_streams:
                self._send(group, publisher, point)
        elif (point := self.loop.stop_point_due(clock)) is not None:
            for group, publisher in self.pub_streams:
                if not group.pose:
                    self._send(group, publisher, point)

    def _servo(self) -> None:
        """Send each velocity servo its twist toward the plan now (lock held)."""
        clock = self._clock_ns()
        for group, publisher in self.pub_twists:
            twist = self.loop.twist_due(clock, group)
            if twist is not None:
                self._publish(publisher, cv.numpy_to_twist(*twist, group.frame_id,
                                                           cv.ns_to_time(clock)))

    def _plan(self) -> None:
        """Submit a chunk to the runner when the loop says so, or publish its hold (lock held)."""
        start = time.perf_counter()
        jumps = self.loop.clock_jumps
        request = self.loop.poll(self._clock_ns(), self.runner.busy)
        if self.loop.clock_jumps > jumps and not isinstance(request, Hold):
            self._warn_once('clock_back_idle', CLOCK_BACK_IDLE)
        if isinstance(request, Hold):  # the reason named, once per reason
            self._warn_once(f'stop_{request.reason}', pl.HOLD_WARNINGS.get(
                request.reason, f'a plan stopped ({request.reason}): holding (logged once)'))
            self._publish_hold(request)
            return
        if not isinstance(request, pl.PlanRequest):
            if request.detail:
                self._warn_once(request.reason, f'not planning: {request.detail}')
            return
        if request.warning:  # the state far outside the training range: once per enable
            self.log.warning(request.warning)
        from dp_ros.runtime.inference_runner import to_model_obs

        obs = to_model_obs(self.setup.model_values(request.observation.values),
                           self.setup.rgb_keys, self.runner.device)
        context = (request.context, time.perf_counter() - start)
        if self.runner.submit(obs, request.generator, self._on_chunk, context):
            self.loop.submitted(request)
            if failure := self._observation_log.append(request.observation):  # debug
                self.log.error(failure)

    def _on_chunk(self, result) -> None:
        """Worker thread: the loop shapes the chunk into the plan to publish (or drops it)."""
        with self._lock:
            context, pre_s = result.context
            start = time.perf_counter()
            plan = self.loop.finish(context, result.action_pred, result.error, self._clock_ns())
            if isinstance(plan, pl.Drop):
                if plan.reason == 'error':  # at most once per 10 s: it may fail every frame
                    line = self._sampling_failed.add(f'sampling failed: {result.error!r}',
                                                     time.monotonic_ns())
                    if line is not None:
                        self.log.error(line)
                elif plan.reason in pl.DROP_WARNINGS:  # each reason at most every 10 s
                    lines = self._drop_lines.setdefault(plan.reason, RepeatedMessage())
                    line = lines.add(pl.DROP_WARNINGS[plan.reason]
                                     + (f': {plan.detail}' if plan.detail else ''),
                                     time.monotonic_ns())
                    if line is not None:
                        self.log.warning(line)
                return
            if plan.note:  # the bounds clamped: at most every 10 s
                line = self._clamp_lines.add(plan.note, time.monotonic_ns())
                if line is not None:
                    self.log.warning(line)
            cfg = self.cfg
            for group, publisher in self.pub_actions:
                self._publish(publisher, cv.chunk_to_joint_trajectory(
                    plan.actions[:, list(group.columns)], group.message_names, self._dt_s,
                    plan.stamp_ns, frame_id=group.frame_id))
            if self.pub_chunk is not None and plan.sampled is not None:
                raw = plan.sampled
                self._publish(self.pub_chunk, cv.chunk_to_joint_trajectory(
                    raw.actions, cfg.action_joint_names, self._dt_s, int(raw.due_ns[0]),
                    frame_id=cfg.frame_id))
                if self.pub_path is not None:
                    self._publish(self.pub_path, cv.chunk_to_path(
                        raw.due_ns, raw.actions, self.setup.path_joints, cfg.debug_path_scale,
                        cfg.frame_id, self.setup.path_pose))
            self._overhead.add(pre_s + time.perf_counter() - start)
        if self._poll_timer.timer_period_ns != PLAN_CHECK_PERIOD_NS:
            self._moving_started.trigger()

    def _publish_hold(self, hold: Hold | None) -> None:
        if hold is not None:
            for group, publisher in self.pub_actions:  # one point, or the deceleration
                self._publish(publisher, cv.hold_to_joint_trajectory(
                    hold.points[:, list(group.columns)], group.message_names,
                    hold.step_ns or self.setup.dt_ns, frame_id=group.frame_id))
            # a forward controller (or pose target) goes to a point at once: never the
            # decelerating path's end, up to v^2/(2a) ahead, but a forward controller its
            # points as they fall due (_stream), unless the node streams no more after this
            # stop; a pose target the hold point
            for group, publisher in self.pub_streams:
                if group.pose or not hold.streamed:
                    self._send(group, publisher, hold.position)
            for group, publisher in self.pub_twists:  # a velocity servo stops
                self._publish(publisher, cv.numpy_to_twist(
                    np.zeros(3), np.zeros(3), group.frame_id, cv.ns_to_time(hold.stamp_ns)))
            self.log.info(stop_line(hold, bool(self.pub_actions),
                                    any(not g.pose for g, _ in self.pub_streams),
                                    any(g.pose for g, _ in self.pub_streams),
                                    bool(self.pub_twists)))

    def _send(self, group: CommandGroup, publisher, point: np.ndarray) -> None:
        """One point to a streamed topic: a forward controller's positions or a pose target."""
        values = point[list(group.columns)]
        if not group.pose:
            self._publish(publisher, cv.numpy_to_float64_array(values))
            return
        try:
            msg = cv.numpy_to_pose(values, group.message_names, group.frame_id,
                                   cv.ns_to_time(self._clock_ns()))
        except ValueError as exc:  # a predicted quaternion of no direction: nothing to aim at
            self._warn_once(f'pose_{group.topic}', f'{group.topic}: pose target not sent: {exc} '
                            '(logged once; counts as pose_targets_skipped on /diagnostics)')
            with self._lock:
                self.loop.pose_skipped += 1
            return
        self._publish(publisher, msg)

    def _publish(self, publisher, msg) -> None:
        self._published_ns[publisher] = time.monotonic_ns()  # _check_command_listeners
        try:
            publisher.publish(msg)
        except Exception:
            if self.node.context.ok():
                raise  # else: shutting down while the chunk was sampled

    # ------------------------------------------------------------------ diagnostics
    def diagnostics_values(self) -> dict[str, Any]:
        with self._lock:
            values = self.loop.diagnostics(self._clock_ns(), time.monotonic_ns())
            values['inputs_stamped_on_receipt'] = sum(self._stamped_on_receipt.values())
            values['inputs_unstamped_skipped'] = sum(self._unstamped_skipped.values())
            values.update({f'input_{name}_stamped_on_receipt': n
                           for name, n in self._stamped_on_receipt.items()})
        values['last_bad_message'] = self._last_bad
        values['clock_messages_skipped'] = skipped_clock_messages()
        values.update(device=self.device_name, sampling=self.runner.sampling_path,
                      dtype=self.cfg.dtype, dry_run=self.cfg.dry_run,
                      poll_period_ms=self._poll_timer.timer_period_ns / 1e6)
        values.update({f'latency_{k}': v for k, v in self.runner.latency.summary_ms().items()})
        overhead = self._overhead.summary_ms()  # seconds per plan outside the model
        values.update({f'node_overhead_{k}': overhead[k] for k in ('p50_ms', 'p95_ms')})
        if self.setup.rgb_keys:  # per camera frame decoded and fitted for an observation
            decode = self._decode_cost.summary_ms()
            values.update({f'camera_decode_{k}': decode[k] for k in ('p50_ms', 'p95_ms')})
        if self.warmup_s is not None:
            values['warmup_ms'] = round(self.warmup_s * 1e3, 1)
        values['outputs_unheard'] = ', '.join(self._listeners.unheard)
        values['outputs_contended'] = self._rivals.contended
        return values

    def _check_command_listeners(self) -> None:
        """Warn when a command topic has had no matched subscriber for a while as the node
        publishes on it (once each time it goes unheard): the arm stands still and nothing
        else says why. Topics by their resolved names (namespace, -r remapping)."""
        if self.cfg.dry_run:
            return
        publishers = [p for _, p in self.pub_actions + self.pub_streams + self.pub_twists]
        counts = {p.topic_name: p.get_subscription_count() for p in publishers}
        published = {p.topic_name: self._published_ns[p] for p in publishers
                     if p in self._published_ns}
        for topic in self._listeners.check(counts, published, time.monotonic_ns()):
            others = self.node.count_subscribers(topic)  # matched or not
            why = (f'its {others} subscriber(s) do not match the node\'s publisher (an '
                   'incompatible QoS: the node publishes reliable, volatile, depth 10)'
                   if others else
                   'no subscriber: the controller is not loaded or not configured, or '
                   'listens under another name (an inactive controller subscribes and drops '
                   'them; `ros2 control list_controllers`; parameters action_topic, '
                   'action_joint_topics)')
            self.log.warning(f'{topic}: the node publishes its commands there and {why}: '
                             'they go nowhere (outputs_unheard on /diagnostics; said again '
                             'each time it happens)')
        own = self.node.get_fully_qualified_name()
        rivals = {topic: [name for name in (node_name(i.node_namespace, i.node_name) for i in
                                            self.node.get_publishers_info_by_topic(topic))
                          if name != own] for topic in counts}
        for topic in self._rivals.check(rivals):
            self.log.warning(f"{topic}: {', '.join(self._rivals.of(topic))} publish(es) there "
                             'too: the controller follows whichever command came last, and the '
                             "node's step limits and stops assume its own (outputs_contended "
                             'on /diagnostics, WARN while they are there)')

    def _check_camera_types(self, values: dict[str, Any]) -> None:
        """A camera topic that delivered nothing yet, published as another type than the
        node subscribes with (camera_compressed): warn once, for DDS drops such a mismatch
        without an error on either side. Named as subscribed (remapped); looked up as written,
        which rclpy remaps as it remapped the subscription's name (the remapped name would be
        remapped again by a chain of -r rules)."""
        for key, written in zip(self.setup.rgb_keys, self.cfg.image_topics, strict=True):
            want = ('sensor_msgs/msg/CompressedImage' if self._image_types[key] is CompressedImage
                    else 'sensor_msgs/msg/Image')
            topic = self._camera_topics[key]
            if values.get(f'input_{key}_received', 0) or f'type_{topic}' in self._warned:
                continue
            types = {i.topic_type for i in self.node.get_publishers_info_by_topic(written)}
            if types and want not in types:
                self._warn_once(f'type_{topic}', f"camera '{key}': {topic} is published as "
                                f'{sorted(types)}, the node subscribes to {want} '
                                f'(compressed_images {self.cfg.compressed_images}): it '
                                'receives nothing from it')

    def _warn_slow_inputs(self) -> None:
        """Once per stream: an input much slower than its training data was recorded at (a
        camera driver at 15 fps where the bags had 30): within the gap tolerance it is used,
        but its samples at the observation times are older than the policy learned on.
        (Asked of the loop, not parsed back from inputs_slow: a stream's name may hold ', ',
        a driver's joints on a shared topic.)"""
        with self._lock:
            slow = self.loop.slow_inputs(time.monotonic_ns())
        for name, (rate, recorded) in slow.items():
            topic = self._input_topics.get(name, name)
            self._warn_once(f'slow_{name}', f"input '{name}' ({topic}) comes "
                            f'at {rate:.1f} Hz, its training data was recorded at '
                            f'{recorded:.1f} Hz: its samples at the observation times are older '
                            'than in training; check the driver\'s rate (logged once; '
                            f'input_{name}_rate_hz on /diagnostics)')

    def _warn_missing_inputs(self) -> None:
        """Once per stream: an input on which no message came, or whose joint states never
        gave its joints, loop.INPUT_WAIT_NS after the node began listening (a topic left as
        drafted, state_joint_names that are not the arm's: else a silent wait)."""
        wall_ns = time.monotonic_ns()
        with self._lock:
            unheard = self.loop.unheard_inputs(wall_ns)
            unread = self.loop.unread_inputs(wall_ns)
            unannounced = self.loop.unannounced(wall_ns)
        waited = f'{pl.INPUT_WAIT_NS / 1e9:g} s'
        if unannounced:
            self._warn_once('unannounced', f'no episode start on {self.cfg.episode_start_topic} '
                            f'in {waited}: the node plans once one is announced (is the sim or '
                            'the episode announcer running? logged once; inputs_unheard on '
                            '/diagnostics)')
        joints = {s.stream_name: list(s.joint_names) for s in self.setup.state_sources}
        shared = {s.stream_name for s in self.setup.state_sources if s.shared}
        for name in unheard:  # a shared topic's stream gets only its driver's messages
            what = f'giving its joints {joints[name]} ' if name in shared else ''
            self._warn_once(f'unheard_{name}', f"input '{name}': no message {what}on "
                            f'{self._input_topics[name]} in {waited} (is it published, under '
                            'this name and type? `ros2 topic info -v`; logged once; '
                            'inputs_unheard on /diagnostics)')
        for name, given in unread.items():
            self._warn_once(f'unread_{name}', f"input '{name}': no message on "
                            f'{self._input_topics[name]} gave its joints {joints[name]} '
                            f'(parameter state_joint_names) in {waited}; its messages name '
                            f'{shorten(str(given))} (logged once; inputs_unread on '
                            '/diagnostics)')

    def _publish_diagnostics(self) -> None:
        self._check_command_listeners()
        values = self.diagnostics_values()
        self._check_camera_types(values)
        self._warn_slow_inputs()
        self._warn_missing_inputs()
        # the level and message from the counts' recent rise, the key-values cumulative
        recent = self._recent.recent(values, time.monotonic_ns())
        values['problems_window_s'] = self._problems_window_s
        self._publish(self.pub_diag, cv.diagnostic_array(
            f'{self.node.get_fully_qualified_name()}: policy', self.device_name, values,
            pl.problems(recent),
            self.node.get_clock().now().nanoseconds))

    # ------------------------------------------------------------------ end
    def shutdown(self) -> None:
        """Hold if moving (delivered before the node goes), discard a chunk in flight, stop
        the worker."""
        with self._lock:
            hold = self.loop.stop('shutdown', self._clock_ns())
            self._publish_hold(hold)
        try:
            if hold is not None and self.node.context.ok():
                wait_for_acks([p for _, p in self.pub_actions + self.pub_streams +
                               self.pub_twists], STOP_ACK_BUDGET_S)
        finally:  # the worker never outlives the node (a live one in torch at exit aborts)
            self.runner.close()


class PolicyNode(Node):
    """The plain node: loaded, warmed up and (with start_enabled) publishing from the start."""

    def __init__(self, **kwargs: Any):
        super().__init__(NODE_NAME, **kwargs)
        warn_unmatched_blocks(self, sys.argv, NODE_NAME)  # before a config error hides it
        cfg, setup = read_config(self)  # before torch is imported: a bad parameter fails fast
        from dp_ros.runtime.inference_runner import load_runner

        self.core = PolicyCore(self, cfg, setup, *load_runner(cfg), enabled=cfg.start_enabled)

    def start(self) -> None:
        interrupt_without_rclpy_shutdown()

    def shutdown(self) -> None:
        self.core.shutdown()


def main(argv: list[str] | None = None) -> int:
    return run_node(PolicyNode, NODE_NAME, argv)


if __name__ == '__main__':
    sys.exit(main())
