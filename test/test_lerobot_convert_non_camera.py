"""`dp-ros convert` zarr -> LeRobot (training/lerobot_convert.py) writes (N, H, W, 3) arrays as
camera videos: uint8 pixels, or whole values 0..255 of another dtype (the paper's float32
Push-T img), which the report and the printed summary name as cast. An array of that shape
holding values no pixel has (a point map in metres) is refused naming it, its dtype and range
and the way out (--keys), leaving nothing; left out, the rest converts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from training.lerobot_convert import ConvertError, main
from training.replay_buffer import ReplayBuffer

LENGTHS = (3, 4)
N = sum(LENGTHS)


def make_store(path, **arrays: np.ndarray):
    rng = np.random.default_rng(0)
    data = {'state': rng.normal(0, 1, (N, 2)).astype(np.float32),
            'action': rng.normal(0, 1, (N, 2)).astype(np.float32), **arrays}
    ReplayBuffer.from_arrays(data, np.cumsum(LENGTHS)).save_to(path, progress=False)
    return path


def run(*args: str) -> int:
    return main([*map(str, args), '--fps', '10', '--vcodec', 'h264', '--no-progress'])


def test_a_point_map_is_refused_naming_it_and_the_way_out(tmp_path):
    points = np.random.default_rng(1).uniform(-0.5, 1.5, (N, 16, 16, 3)).astype(np.float32)
    src = make_store(tmp_path / 'src.zarr', points=points)
    with pytest.raises(ConvertError, match=r"zarr image 'points' .*float32, -0\.\d+\.\.1\.\d+"
                                           r".*no camera.*--keys") as info:
        run(src, tmp_path / 'lr')
    assert '\n' not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['src.zarr']
    assert run(src, tmp_path / 'lr', '--keys', 'state', 'action') == 0


def test_float_pixels_are_named_as_cast_to_a_camera_video(tmp_path, capsys):
    pixels = np.full((N, 16, 16, 3), 100.0, dtype=np.float32)
    camera = np.full((N, 16, 16, 3), 100, dtype=np.uint8)
    src = make_store(tmp_path / 'src.zarr', img=pixels, cam=camera)
    assert run(src, tmp_path / 'lr', '--report', tmp_path / 'r.json') == 0
    report = json.loads((tmp_path / 'r.json').read_text())
    assert report['pixels_cast'] == {'img': 'float32'}  # the uint8 camera is no cast
    out = capsys.readouterr().out
    assert "note: zarr 'img' (float32, whole values 0..255) is written as a camera video" in out
    assert "'cam'" not in out
    features = json.loads((tmp_path / 'lr/meta/info.json').read_text())['features']
    assert features['observation.image']['dtype'] == features['cam']['dtype'] == 'video'


def test_a_store_without_a_camera_reports_no_codec_and_notes_the_unused_options(tmp_path,
                                                                               capsys):
    """The command builds an encoding from --vcodec/--crf (or the defaults) before it knows the
    store's keys: a store of numbers only writes no video, so its report names no codec (it
    named libsvtav1), and the options given are noted as unused, not silently dropped."""
    src = make_store(tmp_path / 'src.zarr')
    assert main([str(src), str(tmp_path / 'a'), '--fps', '10', '--no-progress',
                 '--report', str(tmp_path / 'a.json')]) == 0
    report = json.loads((tmp_path / 'a.json').read_text())
    assert (report['vcodec'], report['crf']) == (None, None)
    assert 'unused' not in capsys.readouterr().out
    assert run(src, tmp_path / 'b', '--crf', '30') == 0
    assert 'note: --vcodec/--crf unused: the store has no camera' in capsys.readouterr().out
    assert not list((tmp_path / 'b').rglob('*.mp4'))
