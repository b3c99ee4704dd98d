"""bag2zarr on one long session bag whose demonstrations are bounded by episode markers.

A lab records a whole session into one bag; converting it must hold about one episode's
frames at a time, not every decoded frame of the bag (an hour of two cameras is ~10 GB).
The bag is read twice (training/bag_episodes.py _Frames): these tests pin the memory bound
and that the second reading changes nothing a single one did: frames received after the
next episode's still land in their step, and frames no grid step samples are still checked
(a frame that cannot be converted refused, every frame size recorded)."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import zarr
from bag_support import NS, T0
from support import MS

from dp_ros.bags.reader import BagError, open_bag
from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training.bag2zarr import convert
from training.bag2zarr_config import config_from_dict
from training.bag_episodes import BagReport, iter_bag_episodes

CAMERA = '/cam/image_raw'
MARKER = '/teleop/recording'
CONFIG = {'control_period_s': 0.1, 'tolerance': 0.04, 'image_dtype': 'uint8',
          'reference_topic': CAMERA,
          'episodes': {'marker': MARKER, 'on_gap': 'drop', 'min_steps': 5},
          'keys': {'img': {'image': CAMERA},
                   'state': {'joint_state': '/joint_states', 'joints': ['j1', 'j2'],
                             'tolerance': 0.02},
                   'action': {'future_of': 'state', 'offset': 0.1}}}
SECONDS = 3  # per demonstration
FRAME = (48, 64)  # a small camera, kept at its size (no shape): 9 kB a frame at 30 Hz


def _marker(rec: BagRecorder, t: int, on: bool) -> None:
    rec.write(MARKER, 'std_msgs/msg/Bool', t, rec.typestore.types['std_msgs/msg/Bool'](data=on))


def write_session(path: Path, n_episodes: int) -> None:
    """One bag: n_episodes demonstrations between Bool markers, a 30 Hz camera and 100 Hz
    joint states, 1 s apart."""
    frame = np.random.default_rng(0).integers(0, 256, (*FRAME, 3), dtype=np.uint8)
    t = T0
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for _ in range(n_episodes):
            _marker(rec, t, True)
            t += 10 * MS
            for k in range(SECONDS * 300):  # 300 ticks a second: joints every 3rd, camera 10th
                tk = t + k * NS // 300
                if k % 3 == 0:
                    rec.write('/joint_states', 'sensor_msgs/msg/JointState', tk + MS,
                              joint_state_message(ts, ['j1', 'j2'], [k / 300, -k / 300], tk))
                if k % 10 == 0:
                    rec.write(CAMERA, 'sensor_msgs/msg/Image', tk + 5 * MS,
                              image_message(ts, np.roll(frame, k, axis=1), tk))
            t += SECONDS * NS
            _marker(rec, t, False)
            t += NS


def reading_peak(tmp_path: Path, n_episodes: int) -> int:
    """tracemalloc peak (bytes) of reading a session bag of n_episodes into its episodes, as
    convert does (raw frames), each episode dropped once given: what the writer holds and
    its zarr writes' own transient buffers (test_zarr_writer*) are not what is measured."""
    bag = tmp_path / f'session_{n_episodes}'
    write_session(bag, n_episodes)
    report = BagReport(str(bag))
    tracemalloc.start()
    try:
        with open_bag(bag) as opened:
            for _ in iter_bag_episodes(opened, config_from_dict(CONFIG), report,
                                       progress=False, raw_images=True):
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(report.episode_lengths) == n_episodes
    return peak


def test_a_session_bag_is_converted_in_memory_bounded_by_an_episode(tmp_path):
    """Reading one bag of 16 marked demonstrations needs about the memory of one bag of 4:
    the 12 more demonstrations' decoded frames (10 MB at 30 Hz) are not all held at once
    (before: every frame of the bag was decoded and kept until its last episode; now what
    grows is the other streams' values, ~0.2 MB a demonstration here)."""
    four = reading_peak(tmp_path, 4)
    sixteen = reading_peak(tmp_path, 16)
    extra_frames = 12 * SECONDS * 30 * FRAME[0] * FRAME[1] * 3
    assert sixteen - four < 0.4 * extra_frames, (four, sixteen, extra_frames)


# a 10 Hz camera of 4x4 frames, every value the frame's number, for the episode tests
SMALL = {**CONFIG, 'episodes': {'marker': MARKER, 'on_gap': 'drop', 'min_steps': 3},
         'keys': {'img': {'image': CAMERA},
                  'state': {'joint_state': '/joint_states', 'joints': ['j1', 'j2']}}}


def _small_session(path: Path, late: frozenset[int] = frozenset(),
                   odd: dict[int, np.ndarray] | None = None, short: int | None = None) -> None:
    """Two marked episodes of frames 0..9 and 20..29 (frame i stamped T0 + 100 ms * i),
    frames 10..19 between them (outside both); the frames in `late` received 1.5 s after
    their stamp (after the next episode's first frames); `odd`: frame i -> its pixels;
    `short`: a frame whose buffer is 3 bytes short of its size."""
    odd = odd or {}
    with BagRecorder(path) as rec:
        ts = rec.typestore
        _marker(rec, T0 - 50 * MS, True)
        _marker(rec, T0 + 950 * MS, False)
        _marker(rec, T0 + 1950 * MS, True)
        _marker(rec, T0 + 2950 * MS, False)
        for i in range(30):
            t = T0 + i * 100 * MS
            msg = image_message(ts, odd.get(i, np.full((4, 4, 3), i, np.uint8)), t)
            if i == short:
                msg.data = msg.data[:-3]
            rec.write(CAMERA, 'sensor_msgs/msg/Image', t + (1500 if i in late else 5) * MS, msg)
            for k in range(10):
                tj = t + k * 10 * MS
                rec.write('/joint_states', 'sensor_msgs/msg/JointState', tj + MS,
                          joint_state_message(ts, ['j1', 'j2'], [i + k / 10, 0.0], tj))


def test_frames_received_after_the_next_episodes_land_in_their_own_step(tmp_path):
    """Frames 7..9 of the first episode arrive after the second episode's first frames: the
    second reading keeps those it passes for a later episode, and each step still gets the
    frame stamped at it."""
    _small_session(tmp_path / 'bag', late=frozenset({7, 8, 9}))
    summary = convert([tmp_path / 'bag'], config_from_dict(SMALL), tmp_path / 'o.zarr',
                      progress=False, memory_limit_mb=0)
    assert summary.episodes_added == 2
    store = zarr.open_group(str(tmp_path / 'o.zarr'), mode='r')
    img = store['data/img'][:]
    state = store['data/state'][:, 0]
    np.testing.assert_array_equal(img[:, 0, 0, 0], np.round(state).astype(np.uint8))
    assert set(img[:, 0, 0, 0].tolist()) == set(range(10)) | set(range(20, 30))


def test_a_frame_no_step_samples_is_still_checked(tmp_path):
    """A frame between the episodes, which no grid step samples, that cannot be converted
    (an odd buffer) still fails the bag, naming it, as when every frame was kept."""
    _small_session(tmp_path / 'bag', short=15)
    with pytest.raises(BagError, match=r'message 15 of /cam/image_raw cannot be converted'):
        convert([tmp_path / 'bag'], config_from_dict(SMALL), tmp_path / 'o.zarr',
                progress=False)
    assert not (tmp_path / 'o.zarr').exists()


def test_the_size_of_a_frame_no_step_samples_is_still_recorded(tmp_path):
    """Frames between the episodes of another size (a camera restarted at another
    resolution) are seen: the bag's report lists both sizes and the store records none."""
    _small_session(tmp_path / 'bag', odd={15: np.zeros((6, 8, 3), np.uint8)})
    summary = convert([tmp_path / 'bag'], config_from_dict(SMALL), tmp_path / 'o.zarr',
                      progress=False)
    assert summary.bags[0].frame_sizes == {CAMERA: [[4, 4], [6, 8]]}
    attrs = zarr.open_group(str(tmp_path / 'o.zarr'), mode='r')['data/img'].attrs.asdict()
    assert 'frame_size' not in attrs['sources'][0], attrs


def test_an_episode_window_without_a_frame_is_said_and_the_others_convert(tmp_path):
    """A marked window in which the camera sent nothing (the reference being the joint
    states) has no frame to name: no step of it is valid, said in a note, and the other
    episode converts (frames' message indices are taken only where a window has frames)."""
    with BagRecorder(tmp_path / 'bag') as rec:
        ts = rec.typestore
        for e, frames in enumerate((range(10), ())):
            start = T0 + e * 2 * NS
            _marker(rec, start - 50 * MS, True)
            for i in range(10):
                t = start + i * 100 * MS
                if i in frames:
                    rec.write(CAMERA, 'sensor_msgs/msg/Image', t + 5 * MS,
                              image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
                for k in range(10):
                    tj = t + k * 10 * MS
                    rec.write('/joint_states', 'sensor_msgs/msg/JointState', tj + MS,
                              joint_state_message(ts, ['j1', 'j2'], [i + k / 10, 0.0], tj))
            _marker(rec, start + 950 * MS, False)
    config = {**SMALL, 'reference_topic': '/joint_states'}
    summary = convert([tmp_path / 'bag'], config_from_dict(config), tmp_path / 'o.zarr',
                      progress=False)
    assert summary.episodes_added == 1
    assert any('no grid time has every stream' in n for n in summary.bags[0].notes)
