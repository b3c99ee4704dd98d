"""A camera published at the control rate whose driver jitters its stamps by a few ms.

Pinned: with 'the newest at or before t' alone, a frame stamped 1 us after the time it is
meant for is missed and the one before (a period old) refused by the gap tolerance, so
bag2zarr kept ~40 % of such a bag and the node refused ~half its plans. bag2zarr's
reference_phase grid now sits after the reference's stamps (PHASE_QUANTILE), and both sides
take, where the sample at or before t is too old, one stamped within the jitter allowance
(a tenth of the period) after t: the same rule (dp_ros/runtime/alignment.py), never a sample
further in the future, and never a different pick where the old rule had a valid one.
"""
from __future__ import annotations

import numpy as np
from bag_support import CAMERA, JOINT_STATES, T0
from support import MS

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from dp_ros.runtime.alignment import (
    index_at_or_before,
    jitter_allowance_ns,
    sample_at_or_before,
)
from dp_ros.runtime.observation_history import ObservationHistory
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.resample import grid_start, make_grid, sample_indices

N = 100
JITTER_NS = 3 * MS
PERIOD = 100 * MS


def _camera_stamps(seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    return [T0 + i * PERIOD + int(rng.integers(-JITTER_NS, JITTER_NS)) for i in range(N)]


def _joint_stamps() -> list[int]:
    return [T0 - 20 * MS + k * 10 * MS for k in range(N * 10)]


def test_reference_phase_keeps_a_jittered_control_rate_camera_whole(tmp_path):
    """grid_start reference_phase on a 10 Hz camera jittered +-3 ms (default tolerance):
    one episode of (nearly) every step, not a dozen fragments."""
    with BagRecorder(tmp_path / 'bag') as rec:
        ts = rec.typestore
        for i, t in enumerate(_camera_stamps()):
            rec.write(CAMERA, 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
        for k, t in enumerate(_joint_stamps()):
            rec.write(JOINT_STATES, 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], [k], t))
    config = {'control_period_s': 0.1, 'image_dtype': 'uint8', 'grid_start': 'reference_phase',
              'keys': {'img': {'image': CAMERA},
                       'state': {'joint_state': JOINT_STATES, 'joints': ['j1']}}}
    summary = bag2zarr.convert([tmp_path / 'bag'], config_from_dict(config),
                               tmp_path / 'out.zarr', progress=False)
    report = summary.bags[0]
    assert len(report.episode_lengths) == 1, (report.episode_lengths, len(report.gaps))
    assert sum(report.episode_lengths) >= N - 2


def test_node_history_assembles_a_jittered_control_rate_camera():
    """The node's history, with the half-period gap tolerance bag2zarr records by default,
    assembles an observation at (nearly) every moment from such a camera (as without jitter)."""
    events = sorted([(t + 5 * MS, 'img', t) for t in _camera_stamps()]
                    + [(t + MS, 'state', t) for t in _joint_stamps()])
    history = ObservationHistory(['img', 'state'], 2, PERIOD, 500 * MS,
                                 gap_ns={'img': 50 * MS, 'state': 50 * MS})
    kinds: dict[str, int] = {}
    i = 0
    for now in range(T0 + 300 * MS, T0 + N * PERIOD, 5 * MS):
        while i < len(events) and events[i][0] <= now:
            history.add(events[i][1], events[i][2], 0)
            i += 1
        result = history.assemble(now)
        kind = 'ok' if result else result.kind
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds.get('gap', 0) <= 0.05 * sum(kinds.values()), kinds


def test_a_late_sample_stands_in_only_for_a_gap_and_only_within_the_allowance():
    """The allowance turns a gap into the next sample when it is stamped at most late_ns
    after the time; a valid at-or-before pick is never changed; lists (the node's ring
    buffer) and arrays (bag2zarr) give the same."""
    stamps = [0, 100 * MS + 4 * MS, 200 * MS + 30 * MS, 300 * MS]
    times = [100 * MS, 200 * MS, 300 * MS, 10 * MS]
    late = jitter_allowance_ns(PERIOD)
    assert late == 10 * MS
    for given in (stamps, np.asarray(stamps, dtype=np.int64)):
        index, valid = sample_at_or_before(given, times, 50 * MS, late)
        # 100 ms: 0 is too old, 104 ms is 4 ms late: taken; 200 ms: 230 ms is 30 ms late:
        # a gap; 300 ms: on time; 10 ms: the sample at 0 is valid, never the later one
        assert valid.tolist() == [True, False, True, True]
        assert index.tolist() == [1, 0, 3, 0]
        strict, strict_valid = sample_at_or_before(given, times, 50 * MS)
        assert strict_valid.tolist() == [False, False, True, True]
        assert (index[strict_valid] == strict[strict_valid]).all()
    # nothing at or before the time: the first sample stands in if it is within the allowance
    index, valid = sample_at_or_before([5 * MS, 20 * MS], [0, -10 * MS], 50 * MS, late)
    assert valid.tolist() == [True, False] and index.tolist() == [0, 0]
    assert index_at_or_before([5 * MS], [0]).tolist() == [-1]  # the strict rule is unchanged


def test_the_reference_phase_grid_sits_after_the_reference_stamps_for_at_or_before():
    """after_stamps (bag2zarr's at_or_before): the grid is moved from the stamps' mean phase
    up to PHASE_QUANTILE of them, so (nearly) every frame is at or before its grid time; exact
    stamps keep their first stamp, and the offline 'nearest' keeps the mean phase."""
    exact = T0 + np.arange(N, dtype=np.int64) * PERIOD
    assert grid_start(exact, PERIOD, 'reference_phase', after_stamps=True) == int(exact[0])
    for seed in range(4):
        camera = np.asarray(_camera_stamps(seed), dtype=np.int64)
        mean = grid_start(camera, PERIOD, 'reference_phase')
        start = grid_start(camera, PERIOD, 'reference_phase', after_stamps=True)
        assert mean < start <= mean + JITTER_NS
        grid = make_grid(start, int(camera[-1]) + PERIOD // 2, PERIOD)
        on_time = index_at_or_before(camera, grid) == np.arange(len(grid))
        assert on_time.mean() >= 0.94, on_time.mean()
        index, valid = sample_indices(camera, grid, PERIOD // 2, late_ns=jitter_allowance_ns(
            PERIOD))
        assert valid.all() and index.tolist() == list(range(len(grid)))
