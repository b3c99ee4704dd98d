"""ROS 2 node `pusht_sim`: the Push-T episode stepper behind camera, joint-state and trajectory
topics, and, when configured, the end effector's pose and Cartesian targets (PoseStamped,
sim_bridge/cartesian.py: a Cartesian policy runs closed-loop against the twin).

The stepping rules live in sim_bridge/episode_stepper.py (no ROS): in `lockstep` the sim owns
time (published on /clock from 0) and a step runs once its action exists, so a run is
reproducible; in `realtime` it steps at wall-clock 10 Hz with ROS time stamps. Parameter
`robot` picks the paper's point pusher or the 3-joint arm (100 Hz joint states, 640 x 480
camera at 30 Hz, whose substeps are paced on the wall clock in realtime). This file is the
wiring: parameters, publishers, services, and the wall-clock waits of one worker thread. The
executor thread only files trajectories, resets and parameter changes under the same lock as
the worker, so stepping order never depends on callback timing.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
import traceback
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from dp_ros.params import field_value
from dp_ros.ros.conversions import (
    joint_trajectory_to_chunk,
    ns_to_time,
    numpy_to_image,
    numpy_to_joint_state,
    time_to_ns,
)
from dp_ros.ros.node_main import interrupt_without_rclpy_shutdown, run_node
from dp_ros.ros.param_files import warn_unmatched_blocks
from dp_ros.ros.parameters import declare_parameters
from dp_ros.ros.qos import LATCHED, RELIABLE_10, SENSOR_DATA, make_publisher, make_subscription
from sim_bridge.cartesian import PlanarCartesian, yaw_to_quaternion
from sim_bridge.episode_stepper import (
    ActionWait,
    Episode,
    EpisodeStepper,
    Observation,
    make_env,
)
from sim_bridge.sim_node_config import (
    DEPRECATED_PARAMETERS,
    SimNodeConfig,
    finish_config,
    parse_initial_state,
)
from sim_bridge.video import BackgroundVideos, episode_label, video_file_for

NODE_NAME = 'pusht_sim'
RUNTIME_PARAMETERS = ('initial_state', 'max_steps')  # the fields not read_only
# a realtime sim paces its steps on the node clock: on sim time nothing drives it (the sim
# publishes /clock only in lockstep), so it would publish step 0 and wait for ever, silently
REALTIME_ON_SIM_TIME = ('parameter use_sim_time:=true needs mode:=lockstep: a realtime sim '
                        'steps on the wall clock (on sim time its clock stays at 0: only a '
                        'lockstep sim publishes /clock)')


def planar_pose(xy_yaw, frame_id: str, stamp) -> PoseStamped:
    """A PoseStamped of a planar pose (x, y, yaw about z) at z 0."""
    pose = PoseStamped()
    pose.header.stamp = stamp
    pose.header.frame_id = frame_id
    pose.pose.position.x, pose.pose.position.y = float(xy_yaw[0]), float(xy_yaw[1])
    o = pose.pose.orientation
    o.x, o.y, o.z, o.w = yaw_to_quaternion(float(xy_yaw[2]))
    return pose


class RosOutput:
    """The stepper's events as messages; keeps the last observation for republishing."""

    def __init__(self, node: Node, cfg: SimNodeConfig):
        self.cfg = cfg
        self.logger = node.get_logger()
        self.videos = BackgroundVideos(1.0 / cfg.control_period_s, self.logger.info,
                                       self.logger.error)
        self.pub_image = make_publisher(node, Image, cfg.image_topic, SENSOR_DATA)
        self.pub_joints = make_publisher(node, JointState, cfg.joint_states_topic, RELIABLE_10)
        self.pub_block = make_publisher(node, PoseStamped, cfg.block_pose_topic, RELIABLE_10)
        self.pub_reward = make_publisher(node, Float64, cfg.reward_topic, RELIABLE_10)
        self.pub_result = make_publisher(node, String, cfg.episode_result_topic, LATCHED)
        self.pub_episode_start = make_publisher(node, String, cfg.episode_start_topic, LATCHED)
        self.pub_clock = (make_publisher(node, Clock, cfg.clock_topic, RELIABLE_10)
                          if cfg.mode == 'lockstep' else None)
        self.cartesian = PlanarCartesian.of_robot(cfg.robot, cfg.frame_id)
        self.pub_ee_pose = (make_publisher(node, PoseStamped, cfg.ee_pose_topic, RELIABLE_10)
                            if cfg.ee_pose_topic else None)
        self._last: tuple = ()

    def episode_started(self, episode: Episode) -> None:
        self.pub_episode_start.publish(String(data=json.dumps(dict(
            episode=episode.index, seed=episode.seed, start_ns=int(episode.start_ns)))))

    def observation(self, obs: Observation) -> None:
        cfg = self.cfg
        stamp = ns_to_time(obs.t_ns)
        joints = numpy_to_joint_state(obs.joint_pos, cfg.joint_names, velocity=obs.joint_vel,
                                      stamp=stamp)
        joints.header.frame_id = cfg.frame_id
        pose = planar_pose(obs.block_pose, cfg.frame_id, stamp)
        msgs: list = []
        if self.pub_clock is not None:
            msgs.append((self.pub_clock, Clock(clock=stamp)))
        if obs.image is not None:
            msgs.append((self.pub_image, numpy_to_image(
                np.ascontiguousarray(obs.image, dtype=np.uint8), 'rgb8', stamp=stamp,
                frame_id=cfg.frame_id)))
        self._last = (*msgs, (self.pub_joints, joints), (self.pub_block, pose))
        if self.pub_ee_pose is not None:
            self._last += ((self.pub_ee_pose, planar_pose(
                self.cartesian.pose(obs.joint_pos), cfg.frame_id, stamp)),)
        self.republish()

    def republish(self) -> None:
        for publisher, msg in self._last:
            publisher.publish(msg)

    def reward(self, t_ns: int, reward: float) -> None:
        self.pub_reward.publish(Float64(data=reward))

    def episode_ended(self, result: dict, frames: list[np.ndarray]) -> None:
        self.pub_result.publish(String(data=json.dumps(result)))
        if self.cfg.video_path and frames:  # labelled as dp-ros eval's in-process tiles
            self.videos.write(video_file_for(self.cfg.video_path, result['episode'],
                                             result['seed']), frames,
                              label=episode_label(None if 'initial_state' in result
                                                  else result['seed'], result['max_reward']))

    def log(self, level: str, message: str) -> None:
        # one call site per severity: rclpy refuses a call site that changes severity
        if level == 'warning':
            self.logger.warning(message)
        elif level == 'error':
            self.logger.error(message)
        else:
            self.logger.info(message)


class PushTSimNode(Node):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        warn_unmatched_blocks(self, sys.argv, NODE_NAME)  # before a config error hides it
        old_names = {name: self.declare_parameter(name, None, ParameterDescriptor(
            name=name, description=text, read_only=True, dynamic_typing=True)).value
            for name, text in DEPRECATED_PARAMETERS.items()}
        cfg = finish_config(declare_parameters(self, SimNodeConfig), old_names,
                            self.get_logger().warning)
        if cfg.mode == 'realtime' and self.get_parameter('use_sim_time').value:
            raise ValueError(REALTIME_ON_SIM_TIME)
        self.config = cfg
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._cond = threading.Condition()
        self._stop = False
        self.worker_error: BaseException | None = None
        self.out = RosOutput(self, cfg)
        self.stepper = EpisodeStepper(cfg, make_env(cfg), self.out)
        if cfg.mode == 'realtime':
            self.stepper.pace = self._pace
        make_subscription(self, JointTrajectory, cfg.trajectory_topic, self._on_trajectory,
                                 RELIABLE_10)
        if cfg.pose_target_topic:
            make_subscription(self, PoseStamped, cfg.pose_target_topic, self._on_pose_target,
                                     RELIABLE_10)
        self.create_service(Trigger, cfg.reset_service, self._on_reset)
        self._worker = threading.Thread(target=self._run, name='pusht_sim_worker', daemon=True)
        seeds = cfg.seeds or f'{cfg.seed_start}.. ({cfg.seed_count or "unlimited"})'
        self.get_logger().info(f'{cfg.mode} Push-T sim ({cfg.robot} robot, joints '
                               f'{cfg.joint_names}): seeds {seeds}, max_steps={cfg.max_steps}, '
                               f'auto_reset={cfg.auto_reset}')

    # --- run_node hooks ---------------------------------------------------------------------

    def start(self) -> None:
        # Ctrl-C / SIGTERM must stop the worker before the context goes: with rclpy's own
        # handlers a running episode published into a dead context (a traceback per stop)
        interrupt_without_rclpy_shutdown()
        self._worker.start()

    def shutdown(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        self.out.videos.join()

    def finished(self) -> bool:
        return not self._worker.is_alive()

    def exit_code(self) -> int:
        return 1 if self.worker_error is not None else 0

    # --- the worker -------------------------------------------------------------------------

    def _ros_now(self) -> int:
        return self.get_clock().now().nanoseconds

    def _run(self) -> None:
        try:
            if self.config.autostart:
                with self._cond:
                    self.stepper.start_episode(self._ros_now())
            if self.config.mode == 'lockstep':
                self._run_lockstep()
            else:
                self._run_realtime()
        except BaseException as exc:  # surface it: the process exits non-zero
            self.worker_error = exc
            self.get_logger().error(f'sim worker failed: {exc!r}\n{traceback.format_exc()}')

    def _wait_for_episode(self) -> bool:
        """(lock held) Until an episode runs: True, or False once the node stops."""
        while not self._stop:
            if self.stepper.running:
                return True
            self._cond.wait(timeout=0.5)
        return False

    def _run_lockstep(self) -> None:
        stepper = self.stepper
        while True:
            with self._cond:
                if not self._wait_for_episode():
                    return
                generation = stepper.generation
                timed_out = not self._wait_for_action(generation)
                if self._stop:
                    return
                if stepper.generation != generation:
                    continue  # reset while waiting: the new episode's step 0 comes next
                stepper.lockstep_step(timed_out)

    def _wait_for_action(self, generation: int) -> bool:
        """(lock held) Until the current step's action exists; False on timeout."""
        cfg, stepper = self.config, self.stepper
        wait = ActionWait(time.monotonic_ns(), cfg.action_wait_timeout_s,
                          cfg.obs_republish_period_s)
        while not stepper.action_ready():
            if self._stop or stepper.generation != generation:
                return True
            now = time.monotonic_ns()
            if wait.timed_out(now):
                return False
            if wait.republish_due(now):
                self.out.republish()
            self._cond.wait(timeout=wait.sleep_s(now))
        return True

    def _run_realtime(self) -> None:
        stepper = self.stepper
        tick = None
        while True:
            with self._cond:
                if not self._wait_for_episode():
                    return
                if tick is None or tick.generation != stepper.generation:
                    tick = stepper.next_tick  # an episode's step 0, decided at its start
                # the arm paces its substeps itself (_pace); the point steps once it is due
                while not stepper.arm and not self._stop and stepper.generation == tick.generation:
                    remaining = tick.due_ns - self._ros_now()
                    if remaining <= 0:
                        break
                    self._cond.wait(timeout=remaining / 1e9)
                if self._stop:
                    return
                if stepper.generation != tick.generation:
                    continue
                # the next tick comes back decided with the observation that starts it
                tick = stepper.realtime_step(tick, self._ros_now(), clock=self._ros_now)

    def _pace(self, t_ns: int) -> None:
        """(lock held) Until the ROS clock reaches t_ns, the lock released meanwhile (new
        trajectories are filed); at once when the node stops."""
        while not self._stop:
            remaining = t_ns - self._ros_now()
            if remaining <= 0:
                return
            self._cond.wait(timeout=remaining / 1e9)

    # --- callbacks (executor thread) --------------------------------------------------------

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        with self._cond:
            try:
                chunk = joint_trajectory_to_chunk(msg)
            except ValueError as exc:
                self.stepper.reject('dimension', str(exc))
                return
            if self.stepper.receive(chunk.joint_names, chunk.stamp_ns,
                                    chunk.times_from_start_ns, chunk.positions,
                                    self._ros_now()):
                self._cond.notify_all()

    def _on_pose_target(self, msg: PoseStamped) -> None:
        with self._cond:
            p = msg.pose.position
            if self.stepper.receive_pose(msg.header.frame_id, time_to_ns(msg.header.stamp),
                                         p.x, p.y, self._ros_now()):
                self._cond.notify_all()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        with self._cond:
            while self.stepper.stepping and not self._stop:  # a paced arm step: <= 0.1 s
                self._cond.wait(timeout=0.05)
            response.success, response.message = self.stepper.reset(self._ros_now())
            self._cond.notify_all()
        return response

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """The parameters settable at run time: initial_state (from the next episode) and
        max_steps (a replay sets each episode's length). Every value is checked before any
        is applied, so one refused value refuses the whole set (set_parameters_atomically)
        and changes nothing; an exception here would end the node. rclpy's use_sim_time is
        refused true in realtime, as at start (this callback runs before rclpy's own)."""
        if self.config.mode == 'realtime' and any(
                param.name == 'use_sim_time' and param.value is True for param in params):
            return SetParametersResult(successful=False, reason=REALTIME_ON_SIM_TIME)
        try:
            changes = {param.name: self._checked_value(param) for param in params
                       if param.name in RUNTIME_PARAMETERS}  # others: rclpy's (use_sim_time)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        with self._cond:
            if 'initial_state' in changes:
                self.stepper.initial_state = changes['initial_state']
            if 'max_steps' in changes:
                self.config = dataclasses.replace(self.config, max_steps=changes['max_steps'])
                self.stepper.config = self.config
        return SetParametersResult(successful=True)

    def _checked_value(self, param: Parameter) -> Any:
        """A run-time value as the node uses it; ValueError naming the fault. rclpy checks
        max_steps' range only for an integer: 0.5 would become 0, 'abc' raise in int()."""
        if param.name == 'initial_state':
            return parse_initial_state(param.value, self.config.table)
        return field_value(SimNodeConfig, param.name, param.value)


def main(argv: list[str] | None = None) -> int:
    return run_node(PushTSimNode, NODE_NAME, argv)


if __name__ == '__main__':
    sys.exit(main())
