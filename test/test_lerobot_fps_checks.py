"""A LeRobot info.json fps is what training takes the control period from (and what convert
copies into the zarr store): one that is no positive integer (0, "10", -10), or one its
timestamps disagree with (fps 20 on frames 0.1 s apart), is refused naming info.json, rather
than silently treated as unrecorded or taken as a 0.05 s period.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from dp_ros import cli
from training.lerobot_convert import zarr_to_lerobot
from training.replay_buffer import ReplayBuffer


def lerobot_with_fps(tmp_path, fps):
    """Two episodes written at 10 fps (timestamps 0.1 s apart), info.json's fps then set."""
    store = tmp_path / 's.zarr'
    ReplayBuffer.from_arrays({'action': np.zeros((9, 2), np.float32)},
                             np.array([4, 9])).save_to(store, progress=False)
    root = tmp_path / 'le'
    zarr_to_lerobot(store, root, fps=10, progress=False)
    info_path = root / 'meta/info.json'
    info = json.loads(info_path.read_text())
    info['fps'] = fps
    info_path.write_text(json.dumps(info))
    return root


def convert_back(tmp_path, root, capsys) -> tuple[int, str]:
    code = cli.main(['convert', str(root), str(tmp_path / 'back.zarr'), '--no-progress'])
    return code, capsys.readouterr().err


@pytest.mark.parametrize('fps', [0, '10', -10])
def test_an_fps_that_is_no_rate_is_refused(tmp_path, capsys, fps):
    code, err = convert_back(tmp_path, lerobot_with_fps(tmp_path, fps), capsys)
    assert code == 2, f'an fps of {fps!r} was copied into the zarr store'
    assert "info.json's fps is" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'back.zarr').exists()


def test_an_fps_the_timestamps_disagree_with_is_refused_naming_both(tmp_path, capsys):
    """fps 20 on frames 0.1 s apart is refused by convert and inspect; fps 10 reads."""
    root = lerobot_with_fps(tmp_path, 20)
    code, err = convert_back(tmp_path, root, capsys)
    assert code == 2, err
    assert 'fps 20' in err and '0.1 s apart' in err
    code = cli.main(['inspect', str(root), '--no-progress'])
    assert code == 2 and 'fps 20' in capsys.readouterr().err
    code, err = convert_back(tmp_path / 'ok', lerobot_with_fps(tmp_path / 'ok', 10), capsys)
    assert code == 0, err
