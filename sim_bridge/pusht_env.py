"""The paper's Push-T as a gymnasium environment (pymunk 7 physics, pygame rendering).

Physics, start states, reward and images follow real-stanford/diffusion_policy's
pusht_env.py / pusht_image_env.py, quirks included (T inertia twice the bar's, centre of
gravity at the mean of the two part centroids, space damping 0, legacy reset order), so that
policies trained on the paper's demonstrations see the same world.
"""
from __future__ import annotations

import gc
from typing import Any

import gymnasium as gym
import numpy as np
import pymunk
from gymnasium import spaces

from dp_ros.held_signals import signals_held_back
from sim_bridge import pusht_render
from sim_bridge.callback_errors import callback_errors_raised
from sim_bridge.pusht_geometry import (
    GOAL_POSE,
    T_BAR_VERTICES,
    T_STEM_VERTICES,
    WALL_RADIUS,
    WALLS,
    WINDOW_SIZE,
    coverage,
    reward_from_coverage,
)

__all__ = ['GOAL_POSE', 'PushTEnv', 'coverage', 'legacy_start_state']

SIM_HZ = 100
CONTROL_HZ = 10
K_P, K_V = 100.0, 20.0


def legacy_start_state(seed: int) -> np.ndarray:
    """The paper's start state for a seed: [agent_x, agent_y, block_x, block_y, block_angle].

    Drawn from numpy's legacy RandomState exactly as the paper did, so seeds 100000..100049
    are the paper's test episodes.
    """
    rs = np.random.RandomState(seed=seed)
    return np.array([
        rs.randint(50, 450), rs.randint(50, 450),
        rs.randint(100, 400), rs.randint(100, 400),
        rs.randn() * 2 * np.pi - np.pi,
    ], dtype=np.float64)


def finite_action(action: Any, size: int, what: str) -> np.ndarray:
    """The action as a float64 vector of `size` finite values, else a ValueError naming `what`."""
    try:
        target = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        target = np.empty(0)
    if target.shape != (size,) or not np.all(np.isfinite(target)):
        raise ValueError(f'action must be {what}, got {action!r}')
    return target


def _as_state(state: Any) -> list[float]:
    try:
        arr = np.asarray(state, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.empty(0)
    if arr.shape != (5,) or not np.all(np.isfinite(arr)):
        raise ValueError(
            f'state must be 5 finite numbers [agent_x, agent_y, block_x, block_y, block_angle],'
            f' got {state!r}'
        )
    return arr.tolist()


# Scenes replaced by a reset or closed, freed together. A pymunk space lives in reference
# cycles (its collision handler, cffi handles), so the cycle collector frees it, at whatever
# allocation triggers a collection, through cffi callbacks that free chipmunk's objects: a
# Ctrl-C landing in one was printed and lost, and the half-freed space crashed a later
# collection (segmentation fault). Kept here they are no garbage; _free_dropped frees them
# in one collection with the stop signals held back. A full collection costs ~40 ms beside
# torch (more in a large process): once per FREE_EVERY scenes (a reset costs ~0.5 ms
# otherwise; once per reset made the test suite's sim tests half as slow again).
_DROPPED: list[_Scene] = []
FREE_EVERY = 64  # scenes dropped between two collections (at most; some kB each)


def _free_dropped() -> None:
    """Free the dropped scenes once FREE_EVERY wait."""
    if len(_DROPPED) >= FREE_EVERY:
        with signals_held_back():
            _DROPPED.clear()
            gc.collect()


class _Scene:
    """One pymunk space holding the walls, the kinematic agent and the T block."""

    def __init__(self) -> None:
        self.space = space = pymunk.Space()
        space.gravity = 0, 0
        space.damping = 0  # as the paper: bodies keep no velocity of their own between steps
        # Added in the paper's order: chipmunk's debug-draw order follows these shape ids.
        for a, b in WALLS:
            space.add(pymunk.Segment(space.static_body, a, b, WALL_RADIUS))
        self.agent = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        self.agent.position = (256, 400)
        space.add(self.agent, pymunk.Circle(self.agent, pusht_render.AGENT_RADIUS))

        mass = 1
        # The paper's quirk: both inertia terms come from the bar's vertices.
        inertia = 2 * pymunk.moment_for_poly(mass, vertices=T_BAR_VERTICES)
        self.block = pymunk.Body(mass, inertia)
        bar = pymunk.Poly(self.block, T_BAR_VERTICES)
        stem = pymunk.Poly(self.block, T_STEM_VERTICES)
        self.block.center_of_gravity = (bar.center_of_gravity + stem.center_of_gravity) / 2
        self.block.position = (256, 300)
        self.block.angle = 0
        space.add(self.block, bar, stem)
        self.block_parts = (bar, stem)

        self.n_contact_points = 0
        self.contacts: list[tuple[tuple[float, float], tuple[float, float]]] = []
        space.on_collision(0, 0, post_solve=self._on_post_solve)

    def _on_post_solve(self, arbiter: pymunk.Arbiter, space: pymunk.Space, data: Any) -> None:
        cps = arbiter.contact_point_set
        self.n_contact_points += len(cps.points)
        n = cps.normal
        for p in cps.points:
            a, b = p.point_a - n * 2.0, p.point_b + n * 2.0
            self.contacts.append(((a.x, a.y), (b.x, b.y)))

    def substep(self, dt: float) -> None:
        """One physics step (callers that step many hold callback_errors_raised around them:
        a Ctrl-C inside post_solve is then not lost)."""
        self.contacts = []  # the debug draw showed the arbiters of the last substep only
        self.space.step(dt)

    def world_parts(self) -> list[np.ndarray]:
        return [
            np.array([tuple(self.block.local_to_world(v)) for v in s.get_vertices()])
            for s in self.block_parts
        ]


def _goal_parts() -> list[np.ndarray]:
    """The goal T's vertices through a pymunk body, as the paper computed them for drawing."""
    body = pymunk.Body(1, pymunk.moment_for_box(1, (50, 100)))
    body.position = GOAL_POSE[:2].tolist()
    body.angle = GOAL_POSE[2]
    ref = pymunk.Body(1, 1)
    return [
        np.array([tuple(body.local_to_world(v)) for v in pymunk.Poly(ref, verts).get_vertices()])
        for verts in (T_BAR_VERTICES, T_STEM_VERTICES)
    ]


class PushTEnv(gym.Env):
    """Push the T onto the goal; the action is the agent's target position in pixels."""

    metadata = {'render_modes': ['rgb_array'], 'render_fps': CONTROL_HZ}
    reward_range = (0.0, 1.0)

    def __init__(
        self,
        render_size: int = 96,
        max_episode_steps: int | None = 300,
        render_obs: bool = True,
        video_size: int = 256,
    ) -> None:
        if render_size <= 0 or video_size <= 0:
            raise ValueError(f'render_size and video_size must be > 0, got {render_size}, '
                             f'{video_size}')
        if max_episode_steps is not None and max_episode_steps <= 0:
            raise ValueError(f'max_episode_steps must be > 0 or None, got {max_episode_steps}')
        self.render_size = render_size
        self.video_size = video_size
        self.max_episode_steps = max_episode_steps
        self.render_obs = render_obs
        self.render_mode = 'rgb_array'
        ws = WINDOW_SIZE
        obs_spaces: dict[str, spaces.Space] = {
            'agent_pos': spaces.Box(0, ws, shape=(2,), dtype=np.float32)}
        if render_obs:  # without it the observation has no image (cheap replay/eval)
            obs_spaces['image'] = spaces.Box(
                0, 255, shape=(render_size, render_size, 3), dtype=np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Box(0, ws, shape=(2,), dtype=np.float64)
        self._goal_parts = _goal_parts()
        self._surface: pusht_render.pygame.Surface | None = None
        self._live_scene: _Scene | None = _Scene()
        self._canvas: np.ndarray | None = None  # 512x512 frame of the current state, if drawn
        self.latest_action: np.ndarray | None = None
        self.elapsed_steps = 0

    # ------------------------------------------------------------------ state
    def _place(self, state: list[float], legacy: bool) -> None:
        """Fresh space, bodies placed, one substep to settle, as the paper's reset did."""
        self._replace_scene(_Scene())
        scene = self._scene
        scene.agent.position = state[:2]
        if legacy:
            # Position before angle: chipmunk rotates about the centre of gravity, so the
            # block origin ends up off the given position (the paper's test states).
            scene.block.position = state[2:4]
            scene.block.angle = state[4]
        else:
            scene.block.angle = state[4]
            scene.block.position = state[2:4]
        with callback_errors_raised():
            scene.substep(1.0 / SIM_HZ)
        self._canvas = None

    def set_state(self, state: Any) -> None:
        """Place agent and block so that get_state() equals state; velocities start at zero."""
        self._place(_as_state(state), legacy=False)

    def get_state(self) -> np.ndarray:
        """[agent_x, agent_y, block_x, block_y, block_angle mod 2pi] as the paper's obs."""
        a, b = self._scene.agent.position, self._scene.block.position
        return np.array([a.x, a.y, b.x, b.y, self._scene.block.angle % (2 * np.pi)])

    # ------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode: options={'state': [...]} places it exactly, else the seed's."""
        super().reset(seed=seed)
        options = options or {}
        self.latest_action = None
        self.elapsed_steps = 0
        if options.get('state') is not None:
            self.set_state(options['state'])
        else:
            if seed is None:
                seed = int(self.np_random.integers(0, 25536))
            self._place(legacy_start_state(seed).tolist(), legacy=True)
        # n_contacts counts the settling substep's contacts, as the paper's info after reset
        return self._observation(), self._info(coverage(self.block_pose))

    def step(
        self, action: Any
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        scene = self._scene
        scene.n_contact_points = 0
        if action is not None:
            target = finite_action(action, 2, '2 finite numbers (target x, y)')
            self.latest_action = target
            tx, ty = float(target[0]), float(target[1])
            dt = 1.0 / SIM_HZ
            agent = scene.agent
            with callback_errors_raised():  # a Ctrl-C inside post_solve is not lost
                for _ in range(SIM_HZ // CONTROL_HZ):
                    # PD control toward the target, same float64 operation order as the paper
                    px, py = agent.position
                    vx, vy = agent.velocity
                    ax = K_P * (tx - px) + K_V * (0.0 - vx)
                    ay = K_P * (ty - py) + K_V * (0.0 - vy)
                    agent.velocity = (vx + ax * dt, vy + ay * dt)
                    scene.substep(dt)
            self._canvas = None
        return self._end_step()

    def _end_step(self) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """A control step done: count it, score the block, and the gymnasium step result
        (truncated at max_episode_steps unless that step also succeeded)."""
        self.elapsed_steps += 1
        cov = coverage(self.block_pose)
        reward, terminated = reward_from_coverage(cov)
        truncated = (self.max_episode_steps is not None
                     and self.elapsed_steps >= self.max_episode_steps and not terminated)
        return self._observation(), reward, terminated, bool(truncated), self._info(cov)

    def render(self) -> np.ndarray:
        """A video_size RGB frame with the latest action drawn as a red cross (videos)."""
        img = pusht_render.resize(self._draw_canvas(), self.video_size)
        if self.latest_action is not None:
            pusht_render.draw_action_marker(img, self.latest_action)
        return img

    def render_observation_image(self) -> np.ndarray:
        """The (render_size, render_size, 3) uint8 observation image of the current state."""
        return pusht_render.resize(self._draw_canvas(), self.render_size)

    def close(self) -> None:
        """Drop the drawing surface and the physics (freed with the next FREE_EVERY dropped
        scenes; reset() makes a new space)."""
        self._surface = None
        self._replace_scene(None)

    @property
    def _scene(self) -> _Scene:
        """The physics of the episode; a clear error once the env is closed."""
        if self._live_scene is None:
            raise RuntimeError('this PushTEnv is closed: reset() it to use it again')
        return self._live_scene

    def _replace_scene(self, scene: _Scene | None) -> None:
        """Put `scene` in place; the one it replaces is freed with the others (_free_dropped)."""
        if self._live_scene is not None:
            _DROPPED.append(self._live_scene)
        self._live_scene = scene
        _free_dropped()

    # ------------------------------------------------------------- helpers
    @property
    def block_pose(self) -> np.ndarray:
        b = self._scene.block
        return np.array([b.position.x, b.position.y, b.angle])

    def _draw_canvas(self) -> np.ndarray:
        if self._canvas is None:
            if self._surface is None:
                self._surface = pusht_render.new_surface()
            scene = self._scene
            self._canvas = pusht_render.draw_scene(
                tuple(scene.agent.position), scene.world_parts(), self._goal_parts,
                scene.contacts, self._surface)
        return self._canvas

    def _observation(self) -> dict[str, np.ndarray]:
        pos = self._scene.agent.position
        obs = {'agent_pos': np.array([pos.x, pos.y], dtype=np.float32)}
        if self.render_obs:
            obs['image'] = self.render_observation_image()
        return obs

    def _info(self, cov: float) -> dict[str, Any]:
        scene = self._scene
        n_sub = SIM_HZ // CONTROL_HZ
        return {
            'pos_agent': np.array(tuple(scene.agent.position)),
            'vel_agent': np.array(tuple(scene.agent.velocity)),
            'block_pose': self.block_pose,
            'goal_pose': GOAL_POSE.copy(),
            'coverage': cov,
            'n_contacts': int(np.ceil(scene.n_contact_points / n_sub)),
        }
