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
import resource
import subprocess

from support import SHIPPED_CHECKPOINT, checkout_env, module_cmd
from tiny_runs import write_small_store


def _run(limit_bytes: int, *args: str) -> subprocess.CompletedProcess:
    """`python -m dp_ros.cli ARGS` of this checkout, files capped at limit_bytes."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.run(module_cmd('dp_ros.cli', *args), env=checkout_env(), text=True,
                          capture_output=True, timeout=180, preexec_fn=cap)


def _one_line_error(proc: subprocess.CompletedProcess, command: str) -> str:
    """The error line of a command that failed as the rule says (exit 2, no traceback)."""
    assert 'Traceback' not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-600:])
    last = [line for line in proc.stderr.splitlines()
            if line.strip() and not line.startswith('Svt[')][-1]
    assert last.startswith(f'dp-ros {command}: '), last
    return last


def test_inspect_mp4_video_that_does_not_fit_is_an_error(tmp_path):
    """inspect --video x.mp4 whose video does not fit: exit 2 naming it and no x.mp4 left."""
    store = write_small_store(tmp_path / 'small.zarr')
    video = tmp_path / 'v.mp4'
    proc = _run(3000, 'inspect', str(store), '--video', str(video))
    last = _one_line_error(proc, 'inspect')
    assert 'v.mp4' in last and 'video:' not in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ['small.zarr']  # no temporary left


def test_inspect_gif_video_that_does_not_fit_prints_no_traceback(tmp_path):
    """inspect --video x.gif whose video does not fit: one line naming it, no x.gif left,
    and no 'Exception ignored ... Traceback' from imageio's writer collected at exit."""
    store = write_small_store(tmp_path / 'small.zarr')
    video = tmp_path / 'v.gif'
    proc = _run(3000, 'inspect', str(store), '--video', str(video))
    last = _one_line_error(proc, 'inspect')
    assert 'v.gif' in last
    assert sorted(p.name for p in tmp_path.iterdir()) == ['small.zarr']


def test_eval_video_that_does_not_fit_is_not_reported_as_written(tmp_path):
    """eval whose video does not fit (its report does): the episodes have run, so the report
    is kept (exit 0, dp_ros/app/evaluate.py's design) and says why there is no video, naming
    report.mp4; not 'video -> report.mp4' and a report naming a cut-off, unplayable file."""
    output = tmp_path / 'e' / 'report.json'
    proc = _run(5000, 'eval', '--checkpoint', str(SHIPPED_CHECKPOINT), '--via', 'inprocess',
                '--seeds', '100000', '--max-steps', '12', '--num-inference-steps', '2',
                '--sampler', 'ddim', '--threads', '1', '--no-progress',
                '--output', str(output))
    assert 'Traceback' not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode == 0, proc.stderr[-600:]
    assert 'video ->' not in proc.stdout, proc.stdout
    assert 'video not written: ' in proc.stdout and 'report.mp4' in proc.stdout, proc.stdout
    report = json.loads(output.read_text())
    assert 'video' not in report and 'report.mp4' in report['video_error'], report
    assert sorted(p.name for p in output.parent.iterdir()) == ['report.json']
