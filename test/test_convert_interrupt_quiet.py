"""Ctrl-C in `dp-ros convert` is its one line and nothing after it: a review saw asyncio's
'Task was destroyed but it is pending!' (a zarr read cut short, its I/O loop closed at exit)
and SVT-AV1's 'Svt[error]: deinit called without sending EOS!' (an encoder freed without its
end of stream) follow 'dp-ros convert: interrupted'."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support import checkout_env, default_sigint, nonempty_lines
from test_cli_sigterm_cleanup import _STOP_AT_NTH_CALL
from tiny_runs import write_small_store

from training.lerobot_format import encoder_available


def _stopped(pid: int) -> bool:
    return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] == 'T'


@pytest.mark.skipif(not encoder_available('libsvtav1'), reason='no SVT-AV1 encoder in PyAV')
def test_ctrl_c_while_a_video_encodes_is_one_line(tmp_path):
    """SIGINT while the encoder thread is inside an episode's frames (stopped there): the
    wait is abandoned, the encoder finishes, gets its end of stream and is closed quietly."""
    store = write_small_store(tmp_path / 'small.zarr')
    proc = subprocess.Popen(
        [sys.executable, '-c', _STOP_AT_NTH_CALL, 'training.lerobot_format:_Segment._encode',
         '2', 'dp_ros.cli', 'convert', str(store), str(tmp_path / 'le'), '--fps', '10',
         '--no-progress'], env=checkout_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not _stopped(proc.pid):
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, 'the second episode was never encoded'
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGCONT)
        rc = proc.wait(timeout=120)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert rc == 130, err
    assert nonempty_lines(err) == ['dp-ros convert: interrupted']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['small.zarr']


# a subcommand interrupted with an asyncio task still pending on a closed loop (as zarr's is
# at exit): asyncio logs 'Task was destroyed but it is pending!' when it is collected
PENDING_TASK = textwrap.dedent('''
    import asyncio, gc, sys, types
    from dp_ros import cli

    def main(argv):
        loop = asyncio.new_event_loop()
        async def never():
            await asyncio.sleep(100)
        task = loop.create_task(never())
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        del task
        raise KeyboardInterrupt

    sys.modules['pending_task_cmd'] = types.SimpleNamespace(main=main)
    cli.SUBCOMMANDS['convert'] = ('pending_task_cmd', '')
    code = cli.run_subcommand('convert', [])
    gc.collect()
    sys.exit(code)
''')


def test_asyncio_is_quiet_after_the_interrupt_line():
    proc = subprocess.run([sys.executable, '-c', PENDING_TASK], env=checkout_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert nonempty_lines(proc.stderr) == ['dp-ros convert: interrupted']
