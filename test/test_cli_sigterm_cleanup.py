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
import sys
from pathlib import Path

from support import (
    BAG2ZARR_PUSHT_CONFIG,
    checkout_env,
    shortest_episodes,
    wait_until_stopped,
)
from tiny_runs import write_small_store

from dp_ros.bags.recorder import write_pusht_bag

# Runs `python -m <module> <args>` after wrapping <module:attr> (a function, or a method
# as Class.name) so that the process stops itself (SIGSTOP) at the start of its nth call: a
# point inside the stage under test, whatever the machine's load (the stage of a small
# conversion lasts some 70 ms: a poll for the staging entry from outside missed it on a busy
# machine, and the command ended before the SIGTERM, or was signalled after its swap).
_STOP_AT_NTH_CALL = """
import functools, importlib, os, runpy, signal, sys
where, nth, module = sys.argv[1], int(sys.argv[2]), sys.argv[3]
owner_name, _, path = where.partition(':')
owner = importlib.import_module(owner_name)
*parents, name = path.split('.')
for parent in parents:
    owner = getattr(owner, parent)
original, calls = getattr(owner, name), []
@functools.wraps(original)
def stopping(*args, **kwargs):
    calls.append(None)
    if len(calls) == nth:
        os.kill(os.getpid(), signal.SIGSTOP)
    return original(*args, **kwargs)
setattr(owner, name, stopping)
sys.argv = [module, *sys.argv[4:]]
runpy.run_module(module, run_name='__main__', alter_sys=True)
"""


def _terminate_in_stage(module: str, args: list[str], stop_at: str, nth: int, folder: Path,
                        prefix: str, said: list[str] | None = None) -> int:
    """Run `module args` until it stops itself at the nth call of stop_at (module:attr),
    check that its staging entry `prefix*` is in folder then, and send SIGTERM before letting
    it go on (a handler then runs; the default action kills it). Its exit code; what it
    printed on stderr is appended to `said`."""
    proc = subprocess.Popen([sys.executable, '-c', _STOP_AT_NTH_CALL, stop_at, str(nth),
                             module, *args], env=checkout_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until_stopped(proc, 120, lambda rc: (
            f'{module} {args[0]} ended (rc {rc}) before the call {nth} of {stop_at}: '
            f'{proc.stderr.read()[-2000:]}'), f'no call {nth} of {stop_at} within 120 s')
        staged = [p for p in folder.iterdir() if p.name.startswith(prefix)]
        assert staged, f'{module} {args[0]} had no staging entry {prefix}* when it stopped'
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        rc = proc.wait(timeout=120)
        err = proc.stderr.read()
        assert 'interrupted' in err, f'{module} {args[0]}: no interrupt'
        if said is not None:
            said.append(err)
        return rc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _left(folder: Path, prefix: str) -> list[str]:
    """What a run left beside its output under `prefix`, but for output_lock's lock file."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith(prefix) and not p.name.endswith('.lock'))


def test_bag2zarr_stopped_by_sigterm_leaves_no_staging_store(tmp_path, pusht_zarr):
    """bag2zarr stopped by SIGTERM removes its staging store beside the output."""
    _, episodes = shortest_episodes(pusht_zarr, 3)
    write_pusht_bag(tmp_path / 'bag', episodes)
    out = tmp_path / 'out'
    rc = _terminate_in_stage(  # the store is staged in full; stopped before its swap
        'dp_ros.cli', ['bag2zarr', str(tmp_path / 'bag'), '-c', str(BAG2ZARR_PUSHT_CONFIG),
                       '-o', str(out / 's.zarr'), '--no-progress'],
        'training.zarr_writer:replace_dir', 1, out, '.s.zarr.tmp-')
    assert rc == 128 + signal.SIGTERM
    assert _left(out, '.s.zarr.') == []


def test_bag2zarr_stopped_after_its_swap_says_the_store_was_written(tmp_path, pusht_zarr):
    """An append stopped while the old copy of the store was being removed (after the swap:
    seconds for a large store) said '... was not changed' of a store that held the appended
    episodes (a fault review); it says the store holds this conversion, and it does."""
    _, episodes = shortest_episodes(pusht_zarr, 4)
    write_pusht_bag(tmp_path / 'bag0', episodes[:2])
    write_pusht_bag(tmp_path / 'bag1', episodes[2:])
    out = tmp_path / 'out'
    base = ['bag2zarr', '-c', str(BAG2ZARR_PUSHT_CONFIG), '-o', str(out / 's.zarr'),
            '--no-progress']
    first = subprocess.run([sys.executable, '-m', 'dp_ros.cli', base[0], str(tmp_path / 'bag0'),
                            *base[1:]], env=checkout_env(), capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    said: list[str] = []
    rc = _terminate_in_stage(  # swapped in; its old copy (at the staging name) still there
        'dp_ros.cli', [base[0], str(tmp_path / 'bag1'), *base[1:]],
        'dp_ros.atomic_dir:_remove_old', 1, out, '.s.zarr.tmp-', said)
    assert rc == 128 + signal.SIGTERM
    assert 'was written before the interrupt: it holds this conversion' in said[0], said
    assert 'not changed' not in said[0]
    import zarr

    assert zarr.open(str(out / 's.zarr'), mode='r')['meta/episode_ends'].shape[0] == 4
    assert _left(out, '.s.zarr.') == []


def test_convert_stopped_by_sigterm_leaves_no_staging_dataset(tmp_path):
    """convert stopped by SIGTERM removes its staging dataset beside the output."""
    store = write_small_store(tmp_path / 'small.zarr')
    rc = _terminate_in_stage(  # one episode written, its video still open
        'dp_ros.cli', ['convert', str(store), str(tmp_path / 'le'), '--fps', '10',
                       '--no-progress'],
        'training.lerobot_format:LeRobotWriter.add_episode', 2, tmp_path, '.le.tmp-')
    assert rc == 128 + signal.SIGTERM
    assert _left(tmp_path, '.le.') == []


def test_download_pusht_stopped_by_sigterm_leaves_nothing(tmp_path):
    """download-pusht stopped by SIGTERM leaves no partial archive in --dest."""
    source = tmp_path / 'src' / 'pusht'
    write_small_store(source / 'pusht_cchi_v7_replay.zarr')
    archive = shutil.make_archive(str(tmp_path / 'pusht'), 'zip', tmp_path / 'src', 'pusht')
    dest = tmp_path / 'dest'
    dest.mkdir()
    rc = _terminate_in_stage(  # the archive fetched, before it is unpacked
        'dp_ros.cli', ['download-pusht', '--url', f'file://{archive}', '--dest', str(dest),
                       '--no-progress'], 'training.download:unpack', 1, dest,
        '.pusht.tmp-')
    assert rc == 128 + signal.SIGTERM
    assert list(dest.iterdir()) == []
