"""The ROS-free sim's stepping, arm twin and episode videos (sim_bridge/episode_stepper.py,
arm_env.py, video.py): behaviour a mutation review found no ROS-free test of. Each test names
what it guards; a change that breaks it was left passing by the rest of the suite (the point
observation's joint velocity or block pose taken from the wrong place, the camera image not
of the configured image_size (final_coverage as the episode's best instead of its last: in
test_episode_stepper_edges.py), an episode reset before its first step reporting coverage 0,
a realtime pose target stamped 0 made due far in the future, a refused lockstep pose
target stamped 0 holding what is due at the node's clock instead of the step's time, the
arm's set_state keeping the previous joint target, the arm's info reporting no joint
velocity, a 50 fps GIF decimated, an mp4 written at another frame rate than asked, the sim's
video writer dropping the episode label, a label sized by the frame's width). Real objects,
checked against an independent plain-env run or the files read back.
"""
from __future__ import annotations

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image
from test_episode_stepper import make, send

from sim_bridge.arm_env import ArmPushTEnv
from sim_bridge.arm_kinematics import DEFAULT_ARM
from sim_bridge.pusht_env import GOAL_POSE, PushTEnv
from sim_bridge.video import BackgroundVideos, label_episode, label_patch, write_video

ACTIONS = np.array([[200.0 + 25 * k, 300.0 - 20 * k] for k in range(6)])


# --- the point robot's observations -------------------------------------------------------------

def test_a_point_observation_is_the_agents_velocity_and_the_block_pose_of_its_step():
    """JointState velocity is the agent's velocity (info vel_agent) and block_pose the block's
    x, y, angle, at every step: as a plain env loop with the same seed and actions reports
    them (the agent moves and the block is not at the origin, so swaps show)."""
    stepper, rec = make(seeds=[7], max_steps=len(ACTIONS), auto_reset=False)
    stepper.start_episode()
    assert send(stepper, ACTIONS, stamp_ns=0)
    for _ in ACTIONS:
        stepper.lockstep_step()
    env = PushTEnv(render_obs=False, max_episode_steps=None)
    _, info = env.reset(seed=7)
    velocities, poses = [info['vel_agent']], [env.get_state()[2:5]]
    for action in ACTIONS:
        _, _, _, _, info = env.step(action)
        velocities.append(info['vel_agent'])
        poses.append(env.get_state()[2:5])
    np.testing.assert_array_equal([o.joint_vel for o in rec.observations], velocities)
    np.testing.assert_array_equal([o.block_pose for o in rec.observations], poses)
    assert np.abs(np.asarray(velocities[1:])).max() > 1.0  # the agent moved


def test_the_point_camera_image_has_the_configured_image_size():
    """image_size (the published square camera image) reaches the env make_env builds."""
    stepper, rec = make(render=True, seeds=[3], image_size=64, max_steps=1, auto_reset=False)
    stepper.start_episode()
    stepper.lockstep_step(timed_out=True)
    assert [o.image.shape for o in rec.observations] == [(64, 64, 3)] * 2


def test_an_episode_reset_before_its_first_step_reports_its_start_coverage():
    """final_coverage of an episode that ran no step (reset at once) is where the block
    stood at its start, not 0.0 (Episode.coverage was set by steps only)."""
    gx, gy, angle = GOAL_POSE
    state = [gx - 40, gy, gx + 20, gy, angle]  # the block just beside the goal
    stepper, rec = make(seeds=[1, 2], initial_state=state, max_steps=5, auto_reset=False)
    stepper.start_episode()
    assert stepper.reset()[0]
    env = PushTEnv(render_obs=False)
    start = float(env.reset(options={'state': np.array(state)})[1]['coverage'])
    assert start > 0.1  # the scene this test needs
    assert rec.results[0]['steps'] == 0
    assert rec.results[0]['final_coverage'] == round(start, 6)


def test_a_realtime_pose_target_stamped_zero_is_due_on_arrival():
    """A Cartesian target stamped 0 ("now") in realtime is due when it arrives and held, as
    one stamped at its sending time is (its delay is 0, not now - 0)."""
    stepper, _ = make(mode='realtime', seeds=[5], auto_reset=False, max_steps=5)
    t0 = 10**12
    stepper.start_episode(now_ns=t0)
    arrival = t0 + 30 * 1_000_000
    assert stepper.receive_pose('pusht_workspace', 0, 200.0, 250.0, arrival)
    joints = stepper.cartesian.joints('pusht_workspace', 200.0, 250.0)
    assert stepper.follower.peek(arrival).tolist() == joints.tolist()
    assert stepper.follower.peek(arrival + 3 * 100_000_000).tolist() == joints.tolist()
    assert stepper.rejections.as_dict() == {}


def test_a_refused_lockstep_pose_target_stamped_zero_holds_the_point_due_at_the_step():
    """Lockstep, a target in another frame stamped 0 ("now"): now is the waiting step's time,
    not the node's clock (a wall-clock time here), so the robot holds what the active
    trajectory has due at that step, not its last point."""
    stepper, _ = make(seeds=[1], auto_reset=False)
    stepper.start_episode()
    assert send(stepper, [[100, 100], [120, 120], [140, 140]], stamp_ns=0)
    stepper.lockstep_step()
    assert not stepper.receive_pose('base_link', 0, 300.0, 300.0, 1_700_000_000 * 10**9)
    assert stepper.rejections.as_dict() == {'frame_id': 1}
    stepper.lockstep_step()
    assert stepper.env.latest_action.tolist() == [120, 120]


# --- the arm twin ------------------------------------------------------------------------------

def test_the_arms_set_state_forgets_the_last_joint_target():
    """set_state places a new state at rest: a following step(None) holds the placed joints,
    not the target of the steps before it."""
    env = ArmPushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(options={'state': [30.0, 480.0, 256.0, 150.0, 0.0]})
    env.step(DEFAULT_ARM.inverse(np.array([480.0, 480.0])))
    env.set_state([100.0, 400.0, 300.0, 200.0, 0.5])
    assert env.latest_joint_target is None
    placed = env.q.copy()
    env.step(None)
    np.testing.assert_array_equal(env.q, placed)
    np.testing.assert_array_equal(env.qd, np.zeros(3))


def test_an_arm_steps_info_reports_the_joint_velocity_it_ended_with():
    """info['joint_vel'] after a step is the last substep's velocity (env.qd), not zeros."""
    env = ArmPushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(options={'state': [30.0, 480.0, 256.0, 150.0, 0.0]})
    _, _, _, _, info = env.step(DEFAULT_ARM.inverse(np.array([480.0, 480.0])))
    np.testing.assert_array_equal(info['joint_vel'], env.substep_states[-1][2])
    np.testing.assert_array_equal(info['joint_pos'], env.q)
    assert np.abs(info['joint_vel']).max() > 0.1


# --- episode videos ----------------------------------------------------------------------------

def _distinct_frames(h: int, w: int, n: int) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        f = np.full((h, w, 3), 200, np.uint8)
        f[h // 2:, :, 1] = 20 * i  # each frame different (a GIF writer merges equal ones)
        frames.append(f)
    return frames


def test_a_50_fps_gif_keeps_every_frame_at_20_ms(tmp_path):
    """GIF_MAX_FPS is the fastest kept as it is: at 50 fps no frame is dropped."""
    path = tmp_path / 'fast.gif'
    write_video(path, _distinct_frames(8, 8, 6), 50.0)
    with Image.open(path) as im:
        delays = []
        for i in range(im.n_frames):
            im.seek(i)
            delays.append(im.info['duration'])
    assert delays == [20] * 6


@pytest.mark.parametrize('size', [(32, 48), (31, 47)])  # H.264; odd: OpenCV's mp4v writer
def test_an_mp4_plays_at_the_fps_it_was_written_with(tmp_path, size):
    """The sim's mp4 videos run at the control rate they are given (here 5 fps: 6 frames
    last 1.2 s), with either encoder."""
    path = tmp_path / 'ep.mp4'
    write_video(path, _distinct_frames(*size, 6), 5.0)
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    finally:
        cap.release()


def test_the_sims_video_writer_puts_the_episode_label_on_every_frame(tmp_path):
    """BackgroundVideos.write(label=...): each frame of the file carries the label's patch in
    its top-left corner (the sim's episode videos name their seed and score)."""
    done, errors = [], []
    videos = BackgroundVideos(10.0, done.append, errors.append)
    frames = _distinct_frames(64, 96, 3)
    text = 'seed 7: score 0.5000'
    videos.write(tmp_path / 'ep.gif', frames, label=text)
    videos.join(timeout=60)
    assert errors == [] and len(done) == 1
    patch = label_patch(text, 64, 96).astype(int)
    ph, pw = patch.shape[:2]
    written = iio.imread(tmp_path / 'ep.gif', index=None)[..., :3].astype(int)
    assert written.shape[0] == 3
    gaps = np.abs(written[:, :ph, :pw] - patch).mean(axis=(1, 2, 3))
    assert gaps.max() < 8, gaps  # the GIF palette rounds a little
    assert np.abs(written[:, ph:, pw:] - 200).mean() < 60  # the rest is the frame


def test_a_label_is_sized_by_the_frames_height_and_cut_to_its_width():
    """On a short wide frame the label's font follows the height (about 1/20 of it, at least
    8 px) and the text may run along the width: the patch is label_patch(text, h, w)."""
    text = 'seed 100000: score 0.1234'
    frame = np.full((40, 400, 3), 255, np.uint8)
    (labelled,) = label_episode([frame], text)
    patch = label_patch(text, 40, 400)
    ph, pw = patch.shape[:2]
    assert pw > 40  # the text runs past a width as large as the height
    np.testing.assert_array_equal(labelled[:ph, :pw], patch)
    assert (labelled[:, pw:] == 255).all() and (labelled[ph:] == 255).all()
