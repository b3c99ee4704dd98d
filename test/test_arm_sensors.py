"""The arm sim's sensor timing: 100 Hz joint states, a 30 Hz camera on the 10 ms substeps."""
from __future__ import annotations

import numpy as np
import pytest

from sim_bridge.arm_env import ArmPushTEnv
from sim_bridge.arm_sensors import SUBSTEP_NS, CameraSchedule, substep_stamps

MS = 1_000_000


def test_camera_takes_30_frames_a_second_on_substeps_never_early():
    cam = CameraSchedule(30.0)
    cam.reset(0)
    frames = [t for t in range(0, 10 * 1_000_000_000 + 1, SUBSTEP_NS) if cam.due(t)]
    assert len(frames) == 301  # t = 0 .. 10 s inclusive
    gaps = np.diff(frames)
    assert set(gaps.tolist()) <= {30 * MS, 40 * MS}
    due = np.round(np.arange(len(frames)) * 1e9 / 30).astype(np.int64)
    lateness = np.array(frames) - due
    assert lateness.min() >= 0 and lateness.max() < SUBSTEP_NS


def test_camera_skips_frames_missed_entirely_and_restarts_per_episode():
    cam = CameraSchedule(30.0, start_ns=0)
    assert cam.due(0)
    assert cam.due(200 * MS)  # frames due at 33..200 ms: one frame, the rest skipped
    assert not cam.due(210 * MS)
    cam.reset(5_000 * MS)
    assert not cam.due(4_990 * MS) and cam.due(5_000 * MS)
    with pytest.raises(ValueError, match='> 0 Hz'):
        CameraSchedule(0.0)


def test_one_control_step_gives_ten_joint_states_and_three_or_four_frames():
    env = ArmPushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(seed=100000)
    cam = CameraSchedule(30.0)
    cam.reset(0)
    assert cam.due(0)
    frames, states = [], []
    for k in range(3):
        stamps = substep_stamps(k * 100 * MS)

        def on_substep(i, stamps=stamps):
            states.append(int(stamps[i - 1]))
            if cam.due(int(stamps[i - 1])):
                frames.append((int(stamps[i - 1]), env.render_camera()))

        env.step(env.q + 0.01, on_substep=on_substep)
    assert np.array_equal(np.diff(states), np.full(29, SUBSTEP_NS))
    assert [t for t, _ in frames] == [40 * MS, 70 * MS, 100 * MS, 140 * MS, 170 * MS,
                                      200 * MS, 240 * MS, 270 * MS, 300 * MS]
    assert all(img.shape == (480, 640, 3) for _, img in frames)
