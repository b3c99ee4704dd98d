"""sim_bridge/video.py write_video onto a full disk (RLIMIT_FSIZE in a child process: a write
past it fails with EFBIG as one onto a full disk with ENOSPC), for each encoder: the file
appears whole or not at all, and one that does not fit is an OSError naming the target with
its errno. OpenCV's mp4 writer (odd frame sizes) drops its write errors, so its file is read
back; the GIF and H.264 ones are encoded in memory, then written."""
from __future__ import annotations

import resource
import subprocess
import sys

import pytest
from support import checkout_env

SCRIPT = '''
import errno, sys
from pathlib import Path
import numpy as np
from sim_bridge.video import write_video
path = Path(sys.argv[1])
h, w = int(sys.argv[2]), int(sys.argv[3])
frames = [np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8)
          for i in range(20)]
try:
    write_video(path, frames, 10.0)
except OSError as exc:
    print(exc.errno == errno.EFBIG, exc.filename == str(path), exc.strerror)
'''


@pytest.mark.parametrize('name, height, width', [
    ('v.mp4', 63, 85),  # odd: OpenCV's mp4v writer
    ('v.mp4', 64, 86),  # even: H.264 through PyAV when it is there, else OpenCV
    ('v.gif', 64, 86),
])
def test_a_video_that_does_not_fit_is_an_oserror_naming_it(tmp_path, name, height, width):
    """20 noise frames capped at 3000 bytes: OSError(EFBIG) naming the target, no traceback
    (imageio's writer collected at exit printed one), nothing left in the folder."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    path = tmp_path / 'out' / name
    proc = subprocess.run([sys.executable, '-c', SCRIPT, str(path), str(height), str(width)],
                          env=checkout_env(), capture_output=True, text=True, timeout=60,
                          preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert proc.stdout.split() == ['True', 'True', 'File', 'too', 'large'], proc.stdout
    assert 'Traceback' not in proc.stderr, proc.stderr[-1500:]
    assert list(path.parent.iterdir()) == []  # neither the file nor its temporary
