"""SIGTERM (docker stop, systemd, a batch scheduler, `timeout`) in the middle of a command
that stages its output beside the target: like Ctrl-C, it must leave nothing behind.

bag2zarr's docstring: "A corrupt bag, a missing topic or Ctrl-C leave the output as it
was"; download-pusht's: "an interrupted or failed run leaves nothing behind". A staging
copy left by a stop is never removed by the next run and can be as large as the dataset.
dp_ros/cli.py turns SIGTERM into the interrupt for every subcommand and exits 143 (128 + 15).
The empty `.<name>.lock` file of output_lock may stay: it holds no data.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import BAG2ZARR_PUSHT_CONFIG, checkout_env, module_cmd, shortest_episodes
from tiny_runs import write_small_store

from dp_ros.bags.recorder import write_pusht_bag


def _terminate_while_staging(cmd: list[str], folder: Path, prefix: str) -> int:
    """Run cmd; once a staging entry `prefix*` appears in folder, stop it, send SIGTERM and
    let it go on (a handler then runs; the default action kills it). Its exit code."""
    proc = subprocess.Popen(cmd, env=checkout_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (folder.is_dir() and any(p.name.startswith(prefix)
                                           for p in folder.iterdir())):
            if proc.poll() is not None:
                pytest.fail(f'{cmd[3]} ended (rc {proc.returncode}) before it staged')
            assert time.monotonic() < deadline, 'no staging entry within 60 s'
            time.sleep(0.005)
        proc.send_signal(signal.SIGSTOP)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _left(folder: Path, prefix: str) -> list[str]:
    """What a run left beside its output under `prefix`, but for output_lock's lock file."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith(prefix) and not p.name.endswith('.lock'))


def test_bag2zarr_stopped_by_sigterm_leaves_no_staging_store(tmp_path, pusht_zarr):
    """bag2zarr stopped by SIGTERM removes its staging store beside the output."""
    _, episodes = shortest_episodes(pusht_zarr, 3)
    write_pusht_bag(tmp_path / 'bag', episodes)
    out = tmp_path / 'out'
    rc = _terminate_while_staging(
        module_cmd('dp_ros.cli', 'bag2zarr', str(tmp_path / 'bag'), '-c',
                   str(BAG2ZARR_PUSHT_CONFIG), '-o', str(out / 's.zarr'), '--no-progress'),
        out, '.s.zarr.bag2zarr-')
    assert rc == 128 + signal.SIGTERM
    assert _left(out, '.s.zarr.') == []


def test_convert_stopped_by_sigterm_leaves_no_staging_dataset(tmp_path):
    """convert stopped by SIGTERM removes its staging dataset beside the output."""
    store = write_small_store(tmp_path / 'small.zarr')
    rc = _terminate_while_staging(
        module_cmd('dp_ros.cli', 'convert', str(store), str(tmp_path / 'le'), '--fps', '10',
                   '--no-progress'), tmp_path, '.le.convert-')
    assert rc == 128 + signal.SIGTERM
    assert _left(tmp_path, '.le.') == []


def test_download_pusht_stopped_by_sigterm_leaves_nothing(tmp_path):
    """download-pusht stopped by SIGTERM leaves no partial archive in --dest."""
    source = tmp_path / 'src' / 'pusht'
    write_small_store(source / 'pusht_cchi_v7_replay.zarr')
    archive = shutil.make_archive(str(tmp_path / 'pusht'), 'zip', tmp_path / 'src', 'pusht')
    dest = tmp_path / 'dest'
    dest.mkdir()
    rc = _terminate_while_staging(
        module_cmd('dp_ros.cli', 'download-pusht', '--url', f'file://{archive}', '--dest',
                   str(dest), '--no-progress'), dest, '.pusht-download-')
    assert rc == 128 + signal.SIGTERM
    assert list(dest.iterdir()) == []
