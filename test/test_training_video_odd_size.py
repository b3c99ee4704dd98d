"""An mp4 of odd-sized frames goes to OpenCV's writer (H.264 needs even sizes) without an
attempt at H.264: the failed attempt's imageio writer printed 'Exception ignored in
PluginV3.__del__ ... Traceback' on stderr when it was collected, on a run that succeeded."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = '''
import sys
import numpy as np
from training.video import write_video
frame = np.zeros((97, 97, 3), np.uint8)
frame[:, :48] = (255, 0, 0)
frame[:, 48:] = (0, 0, 255)
write_video(sys.argv[1], [frame] * 10, fps=10)
'''


def test_odd_sized_mp4_is_written_without_a_traceback_on_stderr(tmp_path):
    """97x97 frames (`dp-ros inspect --video` of 97 px images, an odd sim video_size): the
    file is written, red left and blue right (RGB, not BGR), and stderr stays empty."""
    out = tmp_path / 'odd.mp4'
    result = subprocess.run([sys.executable, '-c', SCRIPT, str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format='rgb24').astype(int)
    assert frame[48, 10, 0] > 200 and frame[48, 10, 2] < 60
    assert frame[48, 90, 2] > 200 and frame[48, 90, 0] < 60
    assert 'Traceback' not in result.stderr, result.stderr
