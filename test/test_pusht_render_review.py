"""Review tests of sim_bridge/pusht_render.py (and the env's use of it): colours, the agent's
ring, the draw order, the contact segments of the last substep and the action marker."""
from __future__ import annotations

import numpy as np
import pytest

from sim_bridge import pusht_render as pr
from sim_bridge.pusht_env import PushTEnv
from sim_bridge.pusht_geometry import T_PARTS, pose_to_world

ROYAL_BLUE, ROYAL_BLUE_LIGHT = (65, 105, 225), (78, 126, 255)
SLATE_LIGHT, WHITE = (143, 163, 184), (255, 255, 255)
CONTACT = (231, 76, 60)  # pymunk's default collision_point_color, as in the paper's images


def _block(pose=(300.0, 300.0, 0.0)) -> list[np.ndarray]:
    return [pose_to_world(np.array(p), np.array(pose)) for p in T_PARTS]


def test_agent_is_a_light_disc_in_a_4px_royal_blue_ring():
    """The paper's debug-draw circle: radius 15 RoyalBlue, its inside (radius 11) 1.2x lighter."""
    img = pr.draw_scene((100.0, 100.0), _block(), [])
    for d in range(0, 11):
        assert tuple(img[100, 100 + d]) == ROYAL_BLUE_LIGHT, d
        assert tuple(img[100 + d, 100]) == ROYAL_BLUE_LIGHT, d
    for d in range(11, 15):
        assert tuple(img[100, 100 + d]) == ROYAL_BLUE, d
        assert tuple(img[100 + d, 100]) == ROYAL_BLUE, d
    assert tuple(img[100, 115]) == WHITE


def test_the_agent_is_drawn_over_the_block():
    """Chipmunk's draw order: goal, bar, stem, agent, walls; an agent on the T hides it."""
    img = pr.draw_scene((300.0, 315.0), _block(), [])
    assert tuple(img[315, 300]) == ROYAL_BLUE_LIGHT
    assert tuple(img[315, 313]) == ROYAL_BLUE
    assert tuple(img[315, 340]) == SLATE_LIGHT  # the bar's inside, beside the agent


def _contact_pixels(frame: np.ndarray) -> np.ndarray:
    """(y, x) of the pixels in pymunk's collision-point colour."""
    return np.argwhere((frame == np.array(CONTACT)).all(axis=-1))


def test_a_start_state_in_contact_shows_the_settling_substeps_contact():
    """Placing a state runs one substep (as the paper's reset did); its contact is drawn as the
    segment between the two contact points, each pushed 2 px out along the normal."""
    env = PushTEnv(render_obs=False, video_size=512)
    env.reset(options={'state': [256.0, 310.0, 256.0, 300.0, 0.0]})  # agent on the bar
    pixels = _contact_pixels(env.render())
    assert len(pixels) >= 15
    assert set(pixels[:, 1]) == {256}
    assert pixels[:, 0].min() == 302 and pixels[:, 0].max() == 323
    env.reset(options={'state': [100.0, 100.0, 256.0, 300.0, 0.0]})  # apart: none
    assert len(_contact_pixels(env.render())) == 0


def test_reset_reports_the_contacts_of_its_settling_substep():
    """n_contacts after a reset counts its settling substep's contacts, as the paper's reset
    (which zeroes the count before that substep) and its demonstrations' first frames do (22 of
    206 start in contact: test_sim_bridge_mutants.py); none where the start touches nothing."""
    env = PushTEnv(render_obs=False)
    _, info = env.reset(options={'state': [256.0, 310.0, 256.0, 300.0, 0.0]})
    assert info['n_contacts'] >= 1
    _, info = env.reset(options={'state': [100.0, 100.0, 256.0, 300.0, 0.0]})
    assert info['n_contacts'] == 0


@pytest.mark.parametrize('size, marker', [(96, 8), (288, 24)])
def test_the_action_marker_scales_with_the_frame(size, marker):
    """The paper's cross: int(8/96*size) wide, int(1/96*size) thick (at least 1), centred on
    the action scaled from 512 px to the frame."""
    img = np.full((size, size, 3), 255, dtype=np.uint8)
    pr.draw_action_marker(img, [256.0, 128.0])
    red = (img[..., 0] == 255) & (img[..., 1] == 0) & (img[..., 2] == 0)
    ys, xs = np.nonzero(red)
    cx, cy = size // 2, size // 4
    assert red[cy, cx]
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    thickness = max(1, size // 96)
    assert marker + 1 <= width <= marker + 2 * thickness and width == height
    assert xs.min() + xs.max() == 2 * cx and ys.min() + ys.max() == 2 * cy
    assert red.sum() >= thickness * (2 * width - thickness)  # both arms, full thickness


@pytest.fixture(scope='module')
def demos(pusht_zarr):
    import zarr
    from support import episode_bounds

    root = zarr.open(str(pusht_zarr), mode='r')
    starts, ends = episode_bounds(pusht_zarr)
    return root, starts, ends, np.asarray(root['data/state'][:], dtype=np.float64)


def test_rendered_states_match_the_dataset_images_closely(demos):
    """The render of 120 demo states (start, middle, end of episodes) agrees with the paper's
    images to 0.1 grey levels on average (0.07 now) and 0.3 in the worst frame, with fewer
    than 12 pixels per frame off by more than 32 levels on average (9.5 now): a missing agent
    or a block outline without the override's abs() quirk goes above (0.12-0.36, 15-34)."""
    root, starts, ends, state = demos
    picks = []
    for start, end in zip(starts, ends, strict=True):
        picks += [start, (start + end) // 2, end - 3]
    idx = np.unique(np.array(picks)[::max(1, len(picks) // 120)])[:120]
    images = root['data/img'].get_orthogonal_selection((idx,)).astype(int)
    env = PushTEnv()
    mae, far = [], []
    for k, i in enumerate(idx):
        env.set_state(state[i])
        diff = np.abs(env.render_observation_image().astype(int) - images[k])
        mae.append(diff.mean())
        far.append(int((diff.max(axis=-1) > 32).sum()))
    assert np.mean(mae) < 0.1 and max(mae) < 0.3, (np.mean(mae), max(mae))
    assert np.mean(far) < 12, np.mean(far)


def test_replayed_frames_with_contacts_match_the_dataset_images(demos):
    """Replaying demo episode 2's actions, the frames where the agent pushes the T (contacts
    drawn: those of the last physics substep only) agree with the paper's images."""
    root, starts, ends, state = demos
    action = np.asarray(root['data/action'][:], dtype=np.float64)
    n_contacts = np.asarray(root['data/n_contacts'][:, 0])
    start, end = int(starts[2]), int(ends[2])
    images = root['data/img'][start:end].astype(int)
    env = PushTEnv()
    env.reset(options={'state': state[start]})
    mae = []
    for i in range(start, end - 1):
        obs, *_ = env.step(action[i])
        in_step = np.abs(env.get_state()[:4] - state[i + 1, :4]).max() < 0.05
        if n_contacts[i + 1] > 0 and in_step:
            mae.append(np.abs(obs['image'].astype(int) - images[i + 1 - start]).mean())
    assert len(mae) >= 50
    assert np.mean(mae) < 0.15 and max(mae) < 0.3, (np.mean(mae), max(mae))
