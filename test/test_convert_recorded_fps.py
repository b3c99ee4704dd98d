"""`dp-ros convert STORE DST --fps N` on a store that records its rate (bag2zarr's
control_period_s): the README says training takes the recorded period as the policy's, so a
--fps that contradicts it (10 Hz data written as 7 fps, a 1/7 s policy) is refused in one line
with nothing written; the store's own rate given as --fps converts."""
from __future__ import annotations

import subprocess
from pathlib import Path

from support import checkout_env, module_cmd, nonempty_lines, write_random_walk_store

from training.replay_buffer import ReplayBuffer


def convert_ten_hz_store(tmp_path, fps: str) -> tuple[subprocess.CompletedProcess, Path]:
    """`dp-ros convert` of a 10 Hz store (control_period_s 0.1) with --fps `fps`."""
    store = tmp_path / 'ten_hz.zarr'
    write_random_walk_store(store, [12, 14])
    ReplayBuffer.open(store, mode='r+').set_root_attrs(control_period_s=0.1)
    output = tmp_path / 'lerobot'
    result = subprocess.run(
        module_cmd('dp_ros.cli', 'convert', str(store), str(output), '--fps', fps,
                   '--no-progress'),
        env=checkout_env(), capture_output=True, text=True, timeout=120)
    return result, output


def test_convert_refuses_an_fps_other_than_the_stores_recorded_rate(tmp_path):
    """A 10 Hz store converted with --fps 7: refused, no output."""
    result, output = convert_ten_hz_store(tmp_path, '7')
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = nonempty_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith('dp-ros convert: --fps 7: '), result.stderr
    assert 'recorded at 10 Hz' in lines[0]
    assert not output.exists()


def test_convert_with_the_recorded_fps_still_works(tmp_path):
    """The same store with --fps 10 (its own rate) converts (the check is not a blanket ban)."""
    result, output = convert_ten_hz_store(tmp_path, '10')
    assert result.returncode == 0, result.stderr
    assert (output / 'meta' / 'info.json').is_file()
