"""The sim node's `video_path` on a full disk (simulated with RLIMIT_FSIZE: a write past it
fails with EFBIG as a full disk's with ENOSPC; first seen on a real nearly-full tmpfs, where
the node also said 'wrote 21 frames to vid_1.mp4' for files never created).

A video is a by-product: the node keeps stepping (BackgroundVideos reports a failure through
on_error, never raises), but it must say the video could not be written, not 'wrote N
frames to PATH' beside a cut-off file that does not play.
"""
from __future__ import annotations

import os
import resource
import selectors
import subprocess
import time

import pytest
from support import checkout_env, sim_node_cmd

pytestmark = pytest.mark.ros


def test_a_video_that_does_not_fit_is_reported_as_not_written(tmp_path):
    """Realtime 5-step episodes, videos capped at 3000 bytes: the node's line about episode 0's
    video is a failure naming it, and no cut-off video is left at the path it names."""
    limit = 3000

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    video = tmp_path / 'vid_{episode}.mp4'
    proc = subprocess.Popen(
        sim_node_cmd('mode:=realtime', 'max_steps:=5', f'video_path:={video}',
                     namespace='/video_full_disk'),
        env=checkout_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=cap, start_new_session=True)
    said = None
    output = b''
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        while said is None and time.monotonic() < deadline and proc.poll() is None:
            if not sel.select(timeout=1):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            output += chunk
            for line in output.decode(errors='replace').splitlines():
                if 'vid_0.mp4' in line and ('wrote' in line or 'could not' in line):
                    said = line
                    break
    finally:
        os.killpg(proc.pid, 2)
        proc.wait(15)
    assert said is not None, output.decode(errors='replace')[-2000:]
    assert proc.returncode in (0, -2, 130), output.decode(errors='replace')[-2000:]
    assert 'could not write video' in said, said
    assert not (tmp_path / 'vid_0.mp4').exists()
