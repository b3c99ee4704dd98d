"""Teleoperate the Push-T sim bridge with the mouse, as the paper's demonstrations were made.

    python -m sim_bridge.teleop [--namespace /pusht] [--node-name pusht_sim]
    python -m sim_bridge.record_demo -o demos/rosbag2_0   # in another terminal: record

A pygame window shows the camera; the mouse position (in the 512 x 512 workspace) is the
pusher's target, sent as a one-point JointTrajectory in answer to each camera frame received.
Its stamp follows the sim's mode (its `mode` parameter, asked once), by the rule of `dp-ros
replay`: in lockstep the frame's stamp, so the step waits for you and bag2zarr pairs each
command with its observation; in realtime 0 ("now"), as a teleoperator's stream is (a command
due at a frame's stamp arrives after that step has started and would be refused). A frame the
sim publishes again (a lockstep step still waiting: its command was lost) is answered again.
A left click starts pushing: from then on the mouse leads the pusher (no button held) until R
resets the episode (std_srvs/Trigger <namespace>/reset) and waits for the next click; Space
pauses and resumes the commands (lockstep waits, realtime holds the last target); Q, Esc or
closing the window quits. Needs a display: on a headless machine it exits with a message.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading

import numpy as np

from sim_bridge.sim_node_config import MODES, answer_stamp_ns

WINDOW = 512  # pixels: the workspace's own coordinates, as in the paper's teleop
JOINTS = ('agent_x', 'agent_y')


def has_display() -> bool:
    return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')
                or sys.platform in ('darwin', 'win32'))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m sim_bridge.teleop',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('--namespace', default='/pusht', help='the sim node namespace')
    parser.add_argument('--node-name', default='pusht_sim',
                        help="the sim node's name, whose mode parameter sets the commands' "
                             'stamps (default pusht_sim)')
    parser.add_argument('--fps', type=float, default=10.0,
                        help='window refresh and command rate (default 10, the control rate)')
    return parser


class TeleopNode:
    """Latest camera frame in, mouse targets out: one command per frame received."""

    def __init__(self, namespace: str, node_name: str = 'pusht_sim'):
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from trajectory_msgs.msg import JointTrajectory

        from dp_ros.ros.background_node import BackgroundNode

        self.ns = namespace.rstrip('/')
        self.node_path = f'{self.ns}/{node_name}'
        self.mode: str | None = None  # the sim's, asked at the first command
        self.ros = BackgroundNode('pusht_teleop', spin=False)
        self.node, self.context, self.executor = self.ros.node, self.ros.context, self.ros.executor
        self.lock = threading.Lock()
        self.frame: np.ndarray | None = None
        self.stamp_ns: int | None = None
        self.frames_received = 0
        self.frames_answered = 0
        self.node.create_subscription(Image, f'{self.ns}/image_raw', self._on_image,
                                      qos_profile_sensor_data)
        self.pub = self.node.create_publisher(
            JointTrajectory, f'{self.ns}/joint_trajectory',
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.ros.start()

    def _on_image(self, msg) -> None:
        from dp_ros.ros.conversions import image_to_rgb, time_to_ns

        with self.lock:
            self.frame = image_to_rgb(msg)
            self.stamp_ns = time_to_ns(msg.header.stamp)
            self.frames_received += 1

    def send(self, target: tuple[float, float]) -> None:
        """The target for the latest frame's step, once per frame received: a frame
        republished with the same stamp is answered again (its step is still waiting)."""
        from dp_ros.ros.conversions import chunk_to_joint_trajectory

        with self.lock:
            stamp, received = self.stamp_ns, self.frames_received
            if stamp is None or received == self.frames_answered:
                return
            self.frames_answered = received
        if self.mode is None:
            self.mode = self.sim_mode()
        self.pub.publish(chunk_to_joint_trajectory(np.array([target], dtype=np.float64),
                                                   JOINTS, 0.1,
                                                   answer_stamp_ns(self.mode, stamp)))

    def sim_mode(self, timeout: float = 10.0) -> str:
        """The sim node's mode parameter; RuntimeError naming the node if it has none, or
        does not answer."""
        from rcl_interfaces.srv import GetParameters

        from dp_ros.ros.background_node import QUERY_RESEND_S, NoReply

        service = f'{self.node_path}/get_parameters'
        try:
            reply = self.ros.call(GetParameters, service, GetParameters.Request(names=['mode']),
                                  timeout, resend_s=QUERY_RESEND_S)
        except NoReply as exc:  # found under that name: busy, or its process stopped
            raise RuntimeError(f'{exc}: {self.node_path} is there and did not answer (is its '
                               'process stopped or stuck?)') from None
        except TimeoutError as exc:
            raise RuntimeError(f'{exc}: is the sim node named otherwise? (--node-name)') from None
        mode = reply.values[0].string_value if len(reply.values) == 1 else ''
        if mode not in MODES:
            raise RuntimeError(f'{self.node_path} has no mode parameter {MODES}: is it a '
                               'pusht_sim node? (--node-name)')
        return mode

    def reset(self) -> None:
        from std_srvs.srv import Trigger

        client = self.node.create_client(Trigger, f'{self.ns}/reset')
        if client.wait_for_service(timeout_sec=2.0):
            client.call_async(Trigger.Request())
        else:
            print(f'teleop: no reset service on {self.ns}', file=sys.stderr)

    def close(self) -> None:
        self.ros.close()


def run_window(node: TeleopNode, fps: float) -> None:
    import pygame

    pygame.init()
    screen = pygame.display.set_mode((WINDOW, WINDOW))
    pygame.display.set_caption('dp_ros Push-T teleop: mouse = target, R reset, Q quit')
    clock = pygame.time.Clock()
    engaged = paused = False
    while True:
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                return
            if event.type == pygame.KEYDOWN:
                if event.key in (pygame.K_q, pygame.K_ESCAPE):
                    return
                if event.key == pygame.K_r:
                    engaged = False
                    node.reset()
                if event.key == pygame.K_SPACE:
                    paused = not paused
            if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
                engaged = True
        with node.lock:
            frame = None if node.frame is None else node.frame.copy()
        if frame is not None:
            surface = pygame.surfarray.make_surface(np.ascontiguousarray(frame.swapaxes(0, 1)))
            screen.blit(pygame.transform.scale(surface, (WINDOW, WINDOW)), (0, 0))
        else:
            screen.fill((40, 40, 40))
        mouse = pygame.mouse.get_pos()
        if engaged and not paused:
            node.send((float(mouse[0]), float(mouse[1])))
        pygame.draw.circle(screen, (255, 80, 80) if engaged else (120, 120, 120), mouse, 6, 2)
        pygame.display.flip()
        clock.tick(fps)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.fps < float('inf'):  # 0: pygame's clock without a limit, commands unpaced
        print(f'teleop: --fps must be a rate > 0, got {args.fps}', file=sys.stderr)
        return 2
    if not has_display():
        print('teleop: no display (DISPLAY/WAYLAND_DISPLAY unset): the teleop window needs one. '
              'Run it on a desktop, or make demonstration bags headless with `dp-ros replay` '
              '+ python -m sim_bridge.record_demo.', file=sys.stderr)
        return 2
    node = TeleopNode(args.namespace, args.node_name)
    try:
        run_window(node, args.fps)
    except RuntimeError as exc:
        print(f'teleop: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        node.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
