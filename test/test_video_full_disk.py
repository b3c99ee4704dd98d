"""Videos that do not fit on the disk: `dp-ros inspect --video` and `dp-ros eval` (in-process).

A full disk is simulated with RLIMIT_FSIZE (a write past the limit fails with EFBIG, as one
onto a full disk fails with ENOSPC; both are errors.OUTPUT_ERRNOS); first seen on a real
nearly-full tmpfs. OpenCV's mp4 writer drops its write errors, so a cut-off, unplayable file
used to be reported as written (inspect: exit 0, 'video: v.mp4'; eval: 'video -> report.mp4').
inspect follows dp_ros/cli.py's rule: one line naming the video, exit 2, no traceback
(imageio's writer collected at exit printed one); eval keeps its report and says why there is
no video; neither leaves a cut-off file.
"""
from __future__ import annotations

import json

from support import SHIPPED_CHECKPOINT
from test_cli_output_errors import one_line_error, run_with_file_limit
from tiny_runs import write_small_store


def test_inspect_mp4_video_that_does_not_fit_is_an_error(tmp_path):
    """inspect --video x.mp4 whose video does not fit: exit 2 naming it and no x.mp4 left."""
    store = write_small_store(tmp_path / 'small.zarr')
    video = tmp_path / 'v.mp4'
    proc = run_with_file_limit(3000, 'inspect', str(store), '--video', str(video))
    last = one_line_error(proc, 'inspect')
    assert 'v.mp4' in last and 'video:' not in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ['small.zarr']  # no temporary left


def test_inspect_gif_video_that_does_not_fit_prints_no_traceback(tmp_path):
    """inspect --video x.gif whose video does not fit: one line naming it, no x.gif left,
    and no 'Exception ignored ... Traceback' from imageio's writer collected at exit."""
    store = write_small_store(tmp_path / 'small.zarr')
    video = tmp_path / 'v.gif'
    proc = run_with_file_limit(3000, 'inspect', str(store), '--video', str(video))
    last = one_line_error(proc, 'inspect')
    assert 'v.gif' in last
    assert sorted(p.name for p in tmp_path.iterdir()) == ['small.zarr']


def test_eval_video_that_does_not_fit_is_not_reported_as_written(tmp_path):
    """eval whose video does not fit (its report does): the episodes have run, so the report
    is kept (exit 0, dp_ros/app/evaluate.py's design) and says why there is no video, naming
    report.mp4; not 'video -> report.mp4' and a report naming a cut-off, unplayable file."""
    output = tmp_path / 'e' / 'report.json'
    proc = run_with_file_limit(5000, 'eval', '--checkpoint', str(SHIPPED_CHECKPOINT),
                               '--via', 'inprocess', '--seeds', '100000', '--max-steps', '12',
                               '--num-inference-steps', '2', '--sampler', 'ddim',
                               '--threads', '1', '--no-progress', '--output', str(output))
    assert 'Traceback' not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode == 0, proc.stderr[-600:]
    assert 'video ->' not in proc.stdout, proc.stdout
    assert 'video not written: ' in proc.stdout and 'report.mp4' in proc.stdout, proc.stdout
    report = json.loads(output.read_text())
    assert 'video' not in report and 'report.mp4' in report['video_error'], report
    assert sorted(p.name for p in output.parent.iterdir()) == ['report.json']
