"""Draws a Push-T scene pixel for pixel as the paper's pygame debug draw did.

The paper drew with pymunk's space.debug_draw through its own DrawOptions overrides
(pymunk_override.py). pymunk 7 changed debug drawing internals, so the same primitives are
issued here directly, in the order chipmunk's debug draw visited them for the paper's space:
goal, T bar, T stem, agent, walls, then the contact points of the last physics substep.
Everything is drawn on an off-screen 512x512 pygame Surface (no window).
"""
from __future__ import annotations

import os
from collections.abc import Sequence

os.environ.setdefault('SDL_VIDEODRIVER', 'dummy')
os.environ.setdefault('SDL_AUDIODRIVER', 'dummy')
os.environ.setdefault('PYGAME_HIDE_SUPPORT_PROMPT', '1')

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pygame  # noqa: E402

from sim_bridge.pusht_geometry import WALL_RADIUS, WALLS, WINDOW_SIZE  # noqa: E402

Color = tuple[int, int, int, int]
Point = tuple[float, float]

AGENT_RADIUS = 15


def _named(name: str) -> Color:
    c = pygame.Color(name)
    return (c.r, c.g, c.b, c.a)


def _lighten(color: Color) -> Color:
    """The override's light_color: 1.2x in float32, capped at 255, then SpaceDebugColor.as_int,
    which rounds (LightSlateGray -> (143, 163, 184), the block's inside in the paper's images;
    truncated it was (142, 163, 183))."""
    c = np.minimum(1.2 * np.float32(color), np.float32([255]))
    return tuple(round(float(v)) for v in c)  # type: ignore[return-value]


GOAL_COLOR = _named('LightGreen')
BLOCK_COLOR = _named('LightSlateGray')
AGENT_COLOR = _named('RoyalBlue')
WALL_COLOR = _named('LightGray')
CONTACT_COLOR: Color = (231, 76, 60, 255)  # pymunk's default collision_point_color
BACKGROUND = (255, 255, 255)


def _px(p: Point) -> tuple[int, int]:
    """pymunk.pygame_util.to_pygame with positive_y_is_up False: Python (banker's) rounding."""
    return round(p[0]), round(p[1])


def _fat_segment(surface: pygame.Surface, a: Point, b: Point, radius: float, color: Color) -> None:
    p1, p2 = _px(a), _px(b)
    r = round(max(1, radius * 2))
    pygame.draw.lines(surface, color, False, [p1, p2], r)
    if r <= 2:
        return
    # The override's quirk kept on purpose: abs() on both components.
    orthog = [abs(p2[1] - p1[1]), abs(p2[0] - p1[0])]
    if orthog[0] == 0 and orthog[1] == 0:
        return
    scale = radius / (orthog[0] * orthog[0] + orthog[1] * orthog[1]) ** 0.5
    orthog[0] = round(orthog[0] * scale)
    orthog[1] = round(orthog[1] * scale)
    points = [
        (p1[0] - orthog[0], p1[1] - orthog[1]),
        (p1[0] + orthog[0], p1[1] + orthog[1]),
        (p2[0] + orthog[0], p2[1] + orthog[1]),
        (p2[0] - orthog[0], p2[1] - orthog[1]),
    ]
    pygame.draw.polygon(surface, color, points)
    pygame.draw.circle(surface, color, (round(p1[0]), round(p1[1])), round(radius))
    pygame.draw.circle(surface, color, (round(p2[0]), round(p2[1])), round(radius))


def _polygon(surface: pygame.Surface, verts: np.ndarray, color: Color) -> None:
    pts = [_px(v) for v in verts]
    pygame.draw.polygon(surface, _lighten(color), pts + [pts[0]])
    n = len(verts)
    for i in range(n):
        _fat_segment(surface, verts[i], verts[(i + 1) % n], 2, color)


def _circle(surface: pygame.Surface, center: Point, radius: float, color: Color) -> None:
    p = _px(center)
    pygame.draw.circle(surface, color, p, round(radius), 0)
    pygame.draw.circle(surface, _lighten(color), p, round(radius - 4), 0)


def new_surface() -> pygame.Surface:
    """An off-screen canvas of the workspace size; reuse it across frames."""
    return pygame.Surface((WINDOW_SIZE, WINDOW_SIZE))


def draw_scene(
    agent_pos: Point,
    block_parts: Sequence[np.ndarray],
    goal_parts: Sequence[np.ndarray],
    contacts: Sequence[tuple[Point, Point]] = (),
    surface: pygame.Surface | None = None,
) -> np.ndarray:
    """The 512x512x3 uint8 RGB canvas of one scene.

    block_parts/goal_parts: world vertices (N, 2) of the bar and the stem, in pymunk's
    (convex hull) vertex order. contacts: (a, b) segments already offset along the normal.
    """
    if surface is None:
        surface = new_surface()
    surface.fill(BACKGROUND)
    for verts in goal_parts:
        pts = [_px(v) for v in verts]
        pygame.draw.polygon(surface, GOAL_COLOR, pts + [pts[0]])
    for verts in block_parts:
        _polygon(surface, verts, BLOCK_COLOR)
    _circle(surface, agent_pos, AGENT_RADIUS, AGENT_COLOR)
    for a, b in WALLS:
        _fat_segment(surface, a, b, WALL_RADIUS, WALL_COLOR)
    for a, b in contacts:
        pygame.draw.aalines(surface, CONTACT_COLOR, False, [_px(a), _px(b)])
    # pixels3d is indexed (x, y); the image is (row=y, col=x).
    return np.ascontiguousarray(pygame.surfarray.pixels3d(surface).transpose(1, 0, 2))


def resize(canvas: np.ndarray, size: int) -> np.ndarray:
    """The paper's cv2.resize with its default (bilinear) interpolation."""
    if size == canvas.shape[0]:
        return canvas.copy()
    return cv2.resize(canvas, (size, size))


def draw_action_marker(img: np.ndarray, action: Sequence[float]) -> np.ndarray:
    """The paper's red cross at the latest action target, scaled to the frame size."""
    size = img.shape[0]
    coord = (np.asarray(action, dtype=np.float64) / WINDOW_SIZE * size).astype(np.int32)
    cv2.drawMarker(
        img,
        (int(coord[0]), int(coord[1])),
        color=(255, 0, 0),
        markerType=cv2.MARKER_CROSS,
        markerSize=int(8 / 96 * size),
        thickness=max(1, int(1 / 96 * size)),
    )
    return img
