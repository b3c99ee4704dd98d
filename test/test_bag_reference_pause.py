"""Two demonstrations in one bag, the recording paused between them: the second is sampled as
a bag of its own would be.

Pinned: the grid sat on the first reference stamp of the whole bag and went on through the
pause on that phase, so after a pause of 3.047 s a 15 Hz reference camera's frames sat 47-53
ms before every other step of the 10 Hz grid, past the 50 ms tolerance: 19 one-step gaps, and
the second demonstration (4 s, no frame missed) dropped as pieces shorter than min_steps,
the report blaming the camera. The grid now starts anew at the reference's first message
after a silence longer than its tolerance and three periods, by the same rule.
"""
from __future__ import annotations

import numpy as np
import pytest
from bag_support import CAMERA, JOINT_STATES, T0
from support import MS

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.replay_buffer import ReplayBuffer

CONFIG = {'control_period_s': 0.1, 'image_dtype': 'uint8',
          'episodes': {'min_steps': 10},
          'keys': {'img': {'image': CAMERA},
                   'state': {'joint_state': JOINT_STATES, 'joints': ['j1'],
                             'tolerance': 0.05}}}
PAUSE_AT = 4 * 1000 * MS  # the first demonstration's 4 s, then the pause
SECOND = PAUSE_AT + 3047 * MS  # where the second demonstration starts


def _frames(start: int, stop: int) -> list[int]:
    """A 15 Hz camera's stamps (ns after T0) in [start, stop)."""
    return [start + round(i * 1e9 / 15) for i in range(round((stop - start) * 15 / 1e9))]


def _write(path, pieces: list[tuple[int, int]]) -> None:
    """The camera (frame value = its number over the whole recording, mod 250) and 100 Hz
    joint states (value = stamp in s) over each [start, stop) piece."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        messages = []
        for start, stop in pieces:
            for t in _frames(start, stop):
                messages.append((t, CAMERA, 'sensor_msgs/msg/Image', t))
            for t in range(start, stop, 10 * MS):
                messages.append((t + 3 * MS, JOINT_STATES, 'sensor_msgs/msg/JointState', t))
        for recv, topic, msgtype, t in sorted(messages):
            msg = (image_message(ts, np.full((4, 4, 3), round(t * 15 / 1e9) % 250, np.uint8),
                                 T0 + t) if topic == CAMERA
                   else joint_state_message(ts, ['j1'], [t / 1e9], T0 + t))
            rec.write(topic, msgtype, T0 + recv + MS, msg)


def _convert(tmp_path, name: str, pieces: list[tuple[int, int]]):
    _write(tmp_path / name, pieces)
    summary = bag2zarr.convert([tmp_path / name], config_from_dict(CONFIG),
                               tmp_path / f'{name}.zarr', progress=False)
    store = ReplayBuffer.open(tmp_path / f'{name}.zarr')
    return summary.bags[0], [store.get_episode(i) for i in range(store.n_episodes)]


@pytest.mark.parametrize('pause_ms', [3047, 3050, 3000])
def test_the_demonstration_after_a_pause_is_sampled_as_a_bag_of_its_own(tmp_path, pause_ms):
    second = PAUSE_AT + pause_ms * MS
    report, episodes = _convert(tmp_path, 'both', [(0, PAUSE_AT), (second, second + 4000 * MS)])
    _, alone = _convert(tmp_path, 'alone', [(second, second + 4000 * MS)])
    assert len(episodes) == 2 and len(alone) == 1, report
    assert report.dropped_steps == 0 and report.episode_lengths[1] == len(alone[0]['img'])
    for key in ('img', 'state'):
        np.testing.assert_array_equal(episodes[1][key], alone[0][key])
    # the second starts at its first frame: the state 0 s old, as in the first
    assert episodes[1]['state'][0, 0] == pytest.approx(second / 1e9)
    assert episodes[0]['state'][0, 0] == pytest.approx(0.0)
    # the pause is said, naming the reference camera
    assert [g['streams'] for g in report.gaps] == [[CAMERA, JOINT_STATES]]
    assert PAUSE_AT - 100 * MS <= report.gaps[0]['t_s'] * 1e9 - T0 < second


def test_a_short_silence_of_the_reference_keeps_the_phase(tmp_path):
    """A camera silent for 337 ms (< 50 ms tolerance + 3 periods) is no pause: one phase, the
    steps without a frame a gap as before (the joints paused too)."""
    report, episodes = _convert(tmp_path, 'drop', [(0, 2000 * MS), (2270 * MS, 4000 * MS)])
    assert len(episodes) == 2, report
    # each first step's state (joints every 10 ms, stamped on the grid's phase): the grid
    # time in ms, on the first demonstration's phase
    assert [round(float(e['state'][0, 0]) * 1000) % 100 for e in episodes] == [0, 0]
    assert [(g['steps'], g['streams']) for g in report.gaps] == [(3, [CAMERA, JOINT_STATES])]


def test_under_nearest_a_silence_that_made_no_gap_keeps_one_episode(tmp_path):
    """align: nearest takes a message from either side of a step: a 0.9 s silence of the
    camera under a 0.5 s tolerance left no step without one, so it was one episode and must
    stay one (a review: the restart rule made it two, or none under on_gap: drop)."""
    _write(tmp_path / 'bag', [(0, 2000 * MS), (2900 * MS, 6000 * MS)])
    config = {**CONFIG, 'align': 'nearest', 'tolerance': 0.5,
              'episodes': {'min_steps': 10, 'on_gap': 'drop'},
              'keys': {'img': {'image': CAMERA},
                       'state': {'joint_state': JOINT_STATES, 'joints': ['j1']}}}
    summary = bag2zarr.convert([tmp_path / 'bag'], config_from_dict(config),
                               tmp_path / 'out.zarr', progress=False)
    assert summary.bags[0].episode_lengths == [60] and summary.bags[0].gaps == []
