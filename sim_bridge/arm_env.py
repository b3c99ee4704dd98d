"""Push-T pushed by a planar 3-joint arm: the paper's table, block, goal, reward and seeds.

The arm (sim_bridge/arm_kinematics.py) replaces the point pusher's x/y "joints". Everything
else is PushTEnv's (this class derives from it): the pymunk space, the kinematic pusher disc,
the T block, reset(seed) (the seed's start state; the end effector starts on the seed's agent
position, joints from the IK, at rest), coverage, reward and termination.

Control (joint_trajectory_controller semantics, 10 Hz): an action is three joint position
targets (rad) for the next 0.1 s; over its ten 100 Hz substeps each joint moves on the
straight line from where it is to the target, arriving at the step's end, as the controller
interpolates from the current state to a point due 0.1 s later, but never faster than its
velocity limit nor changing speed faster than its acceleration limit (a target it cannot
reach in time is reached later: tracking error, as on a real arm). Targets are clamped to the
joint position limits.

Contact physics stay the paper's: each substep the pusher disc, pymunk's kinematic body of the
point env, is given the velocity that brings it onto the end effector's new position (the
point env sets that same body's velocity from its PD law), then the space steps once. The
links are above the table: they are drawn, they do not collide.

Sensors: joint positions and velocities every substep (`substep_states`, for a 100 Hz
JointState); a 640 x 480 rgb8 camera that sees the table and the arm from above (`render_camera`,
any substep through `on_substep`, so a 30 Hz camera samples the substep nearest its time);
`policy_view` turns it into the policy's 96 x 96 as the policy node fits an image (the
checkpoint's camera crop if any, centre crop to square, resize). TABLE_CROP is the box of the
table in the camera image: the arm recipe cuts it, so the policy's pixels are spent on the
workspace (5.3 table px per policy px, as the point pusher's view, instead of 7).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from dp_ros.image_fit import fit_image
from sim_bridge import pusht_render
from sim_bridge.arm_kinematics import DEFAULT_ARM, ArmGeometry
from sim_bridge.callback_errors import callback_errors_raised
from sim_bridge.pusht_env import CONTROL_HZ, SIM_HZ, PushTEnv, finite_action
from sim_bridge.pusht_geometry import WINDOW_SIZE

__all__ = ['ArmPushTEnv', 'CAMERA_SIZE', 'TABLE_CROP', 'camera_pixel', 'policy_view']

CAMERA_SIZE = (640, 480)  # width, height
# The camera sees world x in [-192, 704), y in [-16, 656) (896 x 672 px of the table frame,
# 4:3) at 5/7 camera px per table px: the table, its surroundings and the shoulder (y = 628).
# Its centre 480 x 480 square (what a square policy view keeps) is world [-80, 592) x [-16, 656).
_VIEW_ORIGIN = (-192.0, -16.0)
_VIEW_WORLD = (896, 672)
_SCALE = CAMERA_SIZE[0] / _VIEW_WORLD[0]
FLOOR_COLOR = (205, 205, 200)
LINK_COLOR = (70, 70, 80)
JOINT_COLOR = (40, 40, 45)
LINK_WIDTH = 16  # table px
SUBSTEPS = SIM_HZ // CONTROL_HZ


def braking_speed(distance: np.ndarray, max_acceleration: np.ndarray, dt: float) -> np.ndarray:
    """The largest speed toward a position limit `distance` away from which a joint that
    moves v * dt a substep and slows by at most max_acceleration * dt a substep still stops
    at it. In units of a * dt (speed) and a * dt^2 (distance), braking from u moves u, u - 1,
    ... down to its remainder: S(u) = (n + 1) u - n (n + 1) / 2 with n = floor(u), so the
    speed is S's inverse at the distance D: n the largest with n (n + 1) / 2 <= D, then
    u = D / (n + 1) + n / 2. Kept every substep, it is reachable from the last within the
    acceleration limit (S(u) <= D gives S(u - 1) <= D - u)."""
    step = max_acceleration * dt
    room = np.maximum(distance, 0.0) / (step * dt)
    n = np.floor((np.sqrt(1.0 + 8.0 * room) - 1.0) / 2.0)
    return step * (room / (n + 1.0) + n / 2.0)


def camera_pixel(xy: Any) -> np.ndarray:
    """Table-frame positions (..., 2) -> pixel coordinates (..., 2) of the 640 x 480 camera."""
    return (np.asarray(xy, dtype=np.float64) - np.asarray(_VIEW_ORIGIN)) * _SCALE


def _table_crop() -> tuple[int, int, int, int]:
    (x0, y0), (x1, y1) = np.rint(camera_pixel([[0, 0], [WINDOW_SIZE, WINDOW_SIZE]])).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


# The table [0, 512)^2 in camera pixels, [x0, y0, width, height] = [137, 11, 366, 366]
# (config/bag2zarr_pusht_arm.yaml's crop).
TABLE_CROP = _table_crop()


def policy_view(image: np.ndarray, size: int = 96,
                crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The camera image as the policy sees it: the policy node's fit (the camera crop, centre
    square crop, cv2 resize), dp_ros/image_fit.py."""
    return np.array(fit_image(image, size, size, crop))


class ArmPushTEnv(PushTEnv):
    """Push the T with the arm's end effector; the action is 3 joint position targets (rad)."""

    def __init__(self, arm: ArmGeometry = DEFAULT_ARM, max_episode_steps: int | None = 300,
                 render_obs: bool = True, policy_image_size: int | None = None,
                 policy_crop: tuple[int, int, int, int] | None = None,
                 video_size: int = 256) -> None:
        super().__init__(render_size=96, max_episode_steps=max_episode_steps,
                         render_obs=False, video_size=video_size)
        self.arm = arm
        self.render_obs = render_obs
        self.policy_image_size = policy_image_size
        self.policy_crop = policy_crop
        from gymnasium import spaces

        lo = np.asarray(arm.lower, dtype=np.float64)
        hi = np.asarray(arm.upper, dtype=np.float64)
        obs_spaces: dict[str, spaces.Space] = {
            'joint_pos': spaces.Box(lo.astype(np.float32), hi.astype(np.float32),
                                    dtype=np.float32),
            # the end effector can leave the table (joint targets off it are in action_space):
            # the disc the stretched arm sweeps around the shoulder
            'agent_pos': spaces.Box(np.subtract(arm.shoulder, sum(arm.links)).astype(np.float32),
                                    np.add(arm.shoulder, sum(arm.links)).astype(np.float32),
                                    dtype=np.float32)}
        if render_obs:
            w, h = CAMERA_SIZE
            obs_spaces['image'] = spaces.Box(0, 255, shape=(h, w, 3), dtype=np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Box(lo, hi, dtype=np.float64)
        self._lo, self._hi = lo, hi
        self._vmax = np.asarray(arm.max_velocity, dtype=np.float64)
        self._amax = np.asarray(arm.max_acceleration, dtype=np.float64)
        self.q = np.zeros(3)
        self.qd = np.zeros(3)
        # (substep index 1..10, q, qd) of the last step: the 100 Hz joint states
        self.substep_states: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.latest_joint_target: np.ndarray | None = None
        self._camera: np.ndarray | None = None

    # ------------------------------------------------------------------ state
    def _place(self, state: list[float], legacy: bool) -> None:
        """PushTEnv's placement; the joints from the IK of the agent position, at rest."""
        self.q = self.arm.inverse(np.asarray(state[:2], dtype=np.float64))
        self.qd = np.zeros(3)
        self.substep_states = []
        self.latest_joint_target = None
        super()._place(state, legacy)
        self._camera = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed, options=options)
        self.latest_joint_target = None
        return obs, info

    # ------------------------------------------------------------- gym API
    def step(self, action: Any, on_substep: Callable[[int], None] | None = None):
        """One 0.1 s control step toward joint targets `action`; None holds the joints.

        on_substep(i) runs after substep i (1..10), e.g. to render a camera frame then.
        """
        scene = self._scene
        scene.n_contact_points = 0
        if action is None:
            target = self.latest_joint_target if self.latest_joint_target is not None \
                else self.q.copy()
        else:
            target = finite_action(action, 3, '3 finite joint targets (rad)')
            target = np.clip(target, self._lo, self._hi)
        self.latest_joint_target = target.copy()
        self.latest_action = self.arm.forward(target)  # the red cross of the videos
        dt = 1.0 / SIM_HZ
        agent = scene.agent
        self.substep_states = []
        for i in range(SUBSTEPS):
            self._joint_substep(target, SUBSTEPS - i, dt)
            ex, ey = self.arm.forward(self.q)
            px, py = agent.position
            agent.velocity = ((ex - px) / dt, (ey - py) / dt)
            with callback_errors_raised():  # a Ctrl-C inside post_solve is not lost
                scene.substep(dt)
            self.substep_states.append((i + 1, self.q.copy(), self.qd.copy()))
            self._canvas = None
            self._camera = None
            if on_substep is not None:
                on_substep(i + 1)
        return self._end_step()

    def _joint_substep(self, target: np.ndarray, remaining: int, dt: float) -> None:
        """Move toward target, arriving after `remaining` substeps, within the limits; never
        faster than can still stop at a position limit (hit at speed, a joint stopped dead
        within a substep: up to 315 rad/s^2 against 40)."""
        wanted = (target - self.q) / (remaining * dt)
        v = np.clip(wanted, self.qd - self._amax * dt, self.qd + self._amax * dt)
        v = np.clip(v, -self._vmax, self._vmax)
        v = np.clip(v, -braking_speed(self.q - self._lo, self._amax, dt),
                    braking_speed(self._hi - self.q, self._amax, dt))
        q = self.q + v * dt
        stopped = (q < self._lo) | (q > self._hi)
        self.q = np.clip(q, self._lo, self._hi)
        self.qd = np.where(stopped, 0.0, v)

    # ------------------------------------------------------------- sensors
    @property
    def end_effector(self) -> np.ndarray:
        return self.arm.forward(self.q)

    def render_camera(self) -> np.ndarray:
        """The (480, 640, 3) uint8 camera image of the current state: table, block, arm."""
        if self._camera is None:
            canvas = self._draw_canvas()
            vw, vh = _VIEW_WORLD
            world = np.empty((vh, vw, 3), dtype=np.uint8)
            world[:] = FLOOR_COLOR
            ox, oy = int(-_VIEW_ORIGIN[0]), int(-_VIEW_ORIGIN[1])
            world[oy:oy + WINDOW_SIZE, ox:ox + WINDOW_SIZE] = canvas
            self._draw_arm(world, ox, oy)
            self._camera = cv2.resize(world, CAMERA_SIZE, interpolation=cv2.INTER_AREA)
        return self._camera.copy()

    def _draw_arm(self, world: np.ndarray, ox: int, oy: int) -> None:
        pts = self.arm.joint_points(self.q) + np.array([ox, oy])
        ipts = [tuple(int(round(v)) for v in p) for p in pts]
        for a, b in zip(ipts[:-1], ipts[1:], strict=True):
            cv2.line(world, a, b, LINK_COLOR, LINK_WIDTH, cv2.LINE_AA)
        cv2.circle(world, ipts[0], 22, JOINT_COLOR, -1, cv2.LINE_AA)
        for p in ipts[1:3]:
            cv2.circle(world, p, 12, JOINT_COLOR, -1, cv2.LINE_AA)
        # the pusher disc on top of the end link, in the point env's colours
        ee = ipts[3]
        cv2.circle(world, ee, pusht_render.AGENT_RADIUS, pusht_render.AGENT_COLOR[:3], -1,
                   cv2.LINE_AA)
        cv2.circle(world, ee, pusht_render.AGENT_RADIUS - 4,
                   tuple(int(c) for c in pusht_render._lighten(pusht_render.AGENT_COLOR)[:3]),
                   -1, cv2.LINE_AA)

    def render(self) -> np.ndarray:
        """A video frame: the camera image (its own 640 x 480 size)."""
        return self.render_camera()

    def render_observation_image(self) -> np.ndarray:
        img = self.render_camera()
        return img if self.policy_image_size is None else policy_view(
            img, self.policy_image_size, self.policy_crop)

    # ------------------------------------------------------------- helpers
    def _observation(self) -> dict[str, np.ndarray]:
        pos = self._scene.agent.position
        obs = {'joint_pos': self.q.astype(np.float32),
               'agent_pos': np.array([pos.x, pos.y], dtype=np.float32)}
        if self.render_obs:
            obs['image'] = self.render_observation_image()
        return obs

    def _info(self, cov: float) -> dict[str, Any]:
        info = super()._info(cov)
        info['joint_pos'] = self.q.copy()
        info['joint_vel'] = self.qd.copy()
        return info
