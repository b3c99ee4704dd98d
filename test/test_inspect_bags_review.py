"""`dp-ros inspect BAGS` on recordings a review made like real arms': two 10 Hz cameras out of
phase (the draft's tolerance left every step a gap: no episode converted), one camera
recorded raw and through its compressed transport (two image keys of one camera), a sim
slower than real time (the drivers' rates on the receive clock), warnings under --strict
(exit 0 all the same), a sim clock's stamp offset printed in ms (-1699999996999.0 ms)."""
from __future__ import annotations

import numpy as np
from bag_support import MS, NS, T0

from dp_ros.bags.recorder import (
    BagRecorder,
    compressed_image_message,
    image_message,
    joint_state_message,
)
from training import bag2zarr
from training.bag2zarr_config import load_config
from training.inspect_dataset import main as inspect


def _frame(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 255, (8, 8, 3)).astype(np.uint8)


def _write(path, wrist_phase_ms: int = 0, compressed_twin: bool = False, sim0: int | None = None,
           rtf: float = 1.0, torso: bool = False, zero_stamps: bool = False) -> None:
    """5 s: a 10 Hz scene camera, a 10 Hz wrist camera wrist_phase_ms after it, 100 Hz joint
    states; sim0: stamps on a sim clock from there, received at wall time / rtf."""
    events = []

    def stamp(t: int) -> int:
        return 0 if zero_stamps else t if sim0 is None else sim0 + t - T0

    def received(t: int, latency: int) -> int:
        return T0 + int((t - T0) / rtf) + latency

    with BagRecorder(path) as rec:
        ts = rec.typestore
        for i in range(50):
            t = T0 + i * 100 * MS
            events.append((received(t, 5 * MS), '/scene/image_raw', 'sensor_msgs/msg/Image',
                           image_message(ts, _frame(i), stamp(t))))
            if compressed_twin:
                events.append((received(t, 6 * MS), '/scene/image_raw/compressed',
                               'sensor_msgs/msg/CompressedImage',
                               compressed_image_message(ts, _frame(i), stamp(t), fmt='jpeg')))
            tw = t + wrist_phase_ms * MS
            events.append((received(tw, 5 * MS), '/wrist/image_raw', 'sensor_msgs/msg/Image',
                           image_message(ts, _frame(100 + i), stamp(tw))))
        for k in range(500):
            t = T0 + k * 10 * MS
            events.append((received(t, MS), '/joint_states', 'sensor_msgs/msg/JointState',
                           joint_state_message(ts, ['j1', 'j2'], [k / 500, 0.5], stamp(t))))
            if torso and k % 4 == 0:
                events.append((received(t, MS) + 1, '/joint_states', 'sensor_msgs/msg/JointState',
                               joint_state_message(ts, ['torso'], [0.2], stamp(t))))
        for recv, topic, msgtype, msg in sorted(events, key=lambda e: e[0]):
            rec.write(topic, msgtype, recv, msg)


def _draft(tmp_path, capsys, **bag) -> str:
    _write(tmp_path / 'bags' / 'demo', **bag)
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(tmp_path / 'bags'), '--draft-config', str(draft), '--no-progress']) == 0
    capsys.readouterr()
    return draft.read_text()


def test_two_cameras_at_the_control_rate_out_of_phase_convert_as_drafted(tmp_path, capsys):
    draft = _draft(tmp_path, capsys, wrist_phase_ms=40)
    assert ("    tolerance: 0.12   # s: a 10.0 Hz stream's newest message is up to a period old, "
            "more with jitter (the config's 0.05 s would leave steps gaps)") in draft
    summary = bag2zarr.convert([tmp_path / 'bags'], load_config(tmp_path / 'draft.yaml'),
                               tmp_path / 'out.zarr', progress=False)
    assert summary.total_steps >= 45


def test_a_camera_recorded_raw_and_compressed_is_one_image_key(tmp_path, capsys):
    draft = _draft(tmp_path, capsys, compressed_twin=True)
    assert draft.count('    image: ') == 2  # scene (raw) and wrist
    assert ('  # "/scene/image_raw/compressed" left out: the compressed transport of '
            '"/scene/image_raw", the same camera (read raw: no JPEG loss)') in draft
    assert 'damaged_frames' not in draft  # no JPEG camera is read


def test_drivers_rates_under_a_slow_sim_are_on_its_clock(tmp_path, capsys):
    """A sim at half real time: the topic and each driver at their sim-clock rates (100 and
    25 Hz), as bag2zarr reads them, not the receive clock's halves."""
    _write(tmp_path / 'bag', sim0=5 * NS, rtf=0.5, torso=True)
    assert inspect([str(tmp_path / 'bag'), '--no-progress']) == 0
    out = capsys.readouterr().out
    assert "joints ['j1', 'j2'] (100.0 Hz); joints ['torso'] (25.0 Hz)" in out, out
    assert 'stamp - receive -1.7e+09 s' in out, out  # another clock's offset, in seconds


def test_strict_exits_1_on_a_bags_warnings(tmp_path, capsys):
    _write(tmp_path / 'bag', zero_stamps=True)
    assert inspect([str(tmp_path / 'bag'), '--no-progress']) == 0
    assert 'warning: ' in capsys.readouterr().out
    assert inspect([str(tmp_path / 'bag'), '--no-progress', '--strict']) == 1
    capsys.readouterr()
    _write(tmp_path / 'clean')
    assert inspect([str(tmp_path / 'clean'), '--no-progress', '--strict']) == 0
    assert 'warning: ' not in capsys.readouterr().out
