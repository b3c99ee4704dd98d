"""`dp-ros convert` arguments the encoder cannot take are one line naming the argument, not
a PyAV traceback: --crf outside the codec's range (checked before converting), a --vcodec
this PyAV has but cannot open for the frames (mjpeg), a camera too small for the codec (2x2
under libsvtav1); --fps 0 or negative is named as such, not as 'records no frame rate'.
Nothing is left behind.
"""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros import cli
from training.lerobot_format import encoder_available
from training.replay_buffer import ReplayBuffer


def store_with(tmp_path, size: int = 16):
    store = tmp_path / 's.zarr'
    n = 6
    ReplayBuffer.from_arrays({'img': np.full((n, size, size, 3), 100, np.uint8),
                              'action': np.zeros((n, 2), np.float32)},
                             np.array([n])).save_to(store, progress=False)
    return store


def convert(capsys, *args: object) -> tuple[int, str]:
    code = cli.main(['convert', *map(str, args), '--no-progress'])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(('vcodec', 'crf'), [('libsvtav1', '99'), ('libsvtav1', '-1'),
                                             ('h264', '52')])
def test_a_crf_out_of_the_codecs_range_is_refused(tmp_path, capsys, vcodec, crf):
    if not encoder_available(vcodec):
        pytest.skip(f'no {vcodec}')
    code, err = convert(capsys, store_with(tmp_path), tmp_path / 'le', '--fps', '10',
                        '--vcodec', vcodec, '--crf', crf)
    assert code == 2, err
    assert f'--crf {crf} is outside' in err and vcodec in err
    assert not (tmp_path / 'le').exists()


def test_a_vcodec_the_encoder_cannot_open_is_named(tmp_path, capsys):
    code, err = convert(capsys, store_with(tmp_path), tmp_path / 'le', '--fps', '10',
                        '--vcodec', 'mjpeg')
    assert code == 2, err
    assert 'the mjpeg encoder cannot open' in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['s.zarr']


def test_a_camera_too_small_for_the_codec_is_named(tmp_path, capsys):
    if not encoder_available('libsvtav1'):
        pytest.skip('no libsvtav1')
    code, err = convert(capsys, store_with(tmp_path, size=2), tmp_path / 'le', '--fps', '10')
    assert code == 2, err
    assert 'libsvtav1 encoder cannot open a 2x2' in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['s.zarr']


@pytest.mark.parametrize('fps', ['0', '-5'])
def test_a_non_positive_fps_is_named_as_such(tmp_path, capsys, fps):
    code, err = convert(capsys, store_with(tmp_path), tmp_path / 'le', '--fps', fps)
    assert code == 2
    assert f'--fps must be > 0, got {fps}' in err
