"""A command killed outright (SIGKILL, the OOM killer) midway leaves its hidden staging copy
beside its output: bag2zarr's and convert's up to a whole copy of the store, download-pusht's
the archive and its unpacked tree. A review found them all still there after a successful
rerun. Each command now stages through dp_ros.atomic_dir (`.<output>.tmp-<pid>-XXXXXXXX`) and
removes, under its output lock, the copies whose process is gone; a copy named with the pid
of a running process stays."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import BAG2ZARR_PUSHT_CONFIG, checkout_env, module_cmd, shortest_episodes
from test_cli_sigterm_cleanup import _STOP_AT_NTH_CALL
from tiny_runs import write_small_store

from dp_ros.atomic_dir import staging_leftovers
from dp_ros.bags.recorder import write_pusht_bag


@pytest.fixture
def pids():
    """(a pid no process has any more, the pid of a running process)."""
    gone = subprocess.Popen([sys.executable, '-c', 'pass'])
    gone.wait()
    live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])
    yield gone.pid, live.pid
    live.kill()
    live.wait()


def _kill_in_stage(module: str, args: list[str], stop_at: str, nth: int, folder: Path,
                   prefix: str) -> list[str]:
    """Run `module args` until it stops itself at the nth call of stop_at, then SIGKILL it:
    the staging entries `prefix*` it leaves in folder."""
    proc = subprocess.Popen([sys.executable, '-c', _STOP_AT_NTH_CALL, stop_at, str(nth),
                             module, *args], env=checkout_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (_stopped(proc.pid) and _hidden(folder, prefix)):
            assert proc.poll() is None, f'{args[0]} ended before the call {nth} of {stop_at}'
            assert time.monotonic() < deadline, f'no call {nth} of {stop_at} within 120 s'
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    return _hidden(folder, prefix)


def _stopped(pid: int) -> bool:
    stat = Path(f'/proc/{pid}/stat').read_text()
    return stat.rsplit(')', 1)[1].split()[0] == 'T'


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(module_cmd('dp_ros.cli', *args), env=checkout_env(), text=True,
                          capture_output=True, timeout=300)


def _hidden(folder: Path, prefix: str) -> list[str]:
    """The entries `prefix*` in folder (none where it is not made yet), lock files aside."""
    return sorted(p.name for p in (folder.iterdir() if folder.is_dir() else ())
                  if p.name.startswith(prefix) and not p.name.endswith('.lock'))


def test_staging_leftovers_keeps_a_running_process_copy(tmp_path, pids):
    gone, live = pids
    for name in (f'.s.zarr.tmp-{gone}-abcdefgh', f'.s.zarr.tmp-{live}-abcdefgh',
                 f'.s.zarr.bag2zarr-{gone}-0123abcd', '.s.zarr.tmp-0123abcd', '.t.tmp-0123abcd'):
        (tmp_path / name).mkdir()
    assert [p.name for p in staging_leftovers(tmp_path, r's\.zarr')] == sorted([
        f'.s.zarr.bag2zarr-{gone}-0123abcd', '.s.zarr.tmp-0123abcd',
        f'.s.zarr.tmp-{gone}-abcdefgh'])


def test_bag2zarr_removes_the_copy_a_killed_run_left(tmp_path, pusht_zarr, pids):
    """bag2zarr SIGKILLed with its staging store full: the rerun (an append) removes it, and
    leaves the copy of a running process."""
    gone, live = pids
    _, episodes = shortest_episodes(pusht_zarr, 3)
    write_pusht_bag(tmp_path / 'bag', episodes[:2])
    write_pusht_bag(tmp_path / 'bag2', episodes[2:], start_ns=500 * 10**9)
    out = tmp_path / 'out'
    args = ['-c', str(BAG2ZARR_PUSHT_CONFIG), '-o', str(out / 's.zarr'), '--no-progress']
    left = _kill_in_stage('dp_ros.cli', ['bag2zarr', str(tmp_path / 'bag'), *args],
                          'training.zarr_writer:replace_dir', 1, out, '.s.zarr.tmp-')
    assert len(left) == 1 and list((out / left[0]).rglob('*'))  # the killed run's store
    theirs = out / f'.s.zarr.tmp-{live}-abcdefgh'
    theirs.mkdir()
    first = _run('bag2zarr', str(tmp_path / 'bag'), *args)
    assert first.returncode == 0, first.stderr
    assert f'removed 1 staging copy of a killed run beside {out / "s.zarr"}' in first.stderr
    (out / f'.s.zarr.bag2zarr-{gone}-0123abcd').mkdir()  # an older dp-ros's name
    second = _run('bag2zarr', str(tmp_path / 'bag2'), *args)
    assert second.returncode == 0, second.stderr
    assert _hidden(out, '.s.zarr.') == [theirs.name]


def test_convert_removes_the_copy_a_killed_run_left(tmp_path, pids):
    gone, live = pids
    store = write_small_store(tmp_path / 'small.zarr')
    args = ['convert', str(store), str(tmp_path / 'le'), '--fps', '10', '--no-progress']
    left = _kill_in_stage('dp_ros.cli', args, 'training.lerobot_format:LeRobotWriter.add_episode',
                          2, tmp_path, '.le.tmp-')
    assert len(left) == 1
    (tmp_path / f'.le.convert-{gone}-0123abcd').mkdir()  # an older dp-ros's name
    theirs = tmp_path / f'.le.tmp-{live}-abcdefgh'
    theirs.mkdir()
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    assert 'removed 2 staging copies of a killed run' in done.stderr
    assert _hidden(tmp_path, '.le.') == [theirs.name]


def test_download_pusht_removes_the_folder_a_killed_run_left(tmp_path, pids):
    gone, live = pids
    source = tmp_path / 'src' / 'pusht'
    write_small_store(source / 'pusht_cchi_v7_replay.zarr')
    archive = shutil.make_archive(str(tmp_path / 'pusht'), 'zip', tmp_path / 'src', 'pusht')
    dest = tmp_path / 'dest'
    dest.mkdir()
    args = ['download-pusht', '--url', f'file://{archive}', '--dest', str(dest), '--no-progress']
    left = _kill_in_stage('dp_ros.cli', args, 'training.download:unpack', 1, dest, '.pusht.tmp-')
    assert len(left) == 1 and (dest / left[0] / 'pusht.zip').exists()
    (dest / '.pusht-download-abcdefgh').mkdir()  # an older dp-ros's name
    theirs = dest / f'.pusht.tmp-{live}-abcdefgh'
    theirs.mkdir()
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in dest.iterdir()) == sorted([theirs.name, 'pusht'])


def test_a_zarr_write_still_running_at_the_interrupt_is_waited_for(tmp_path):
    """Ctrl-C stops the main thread's wait for a chunk write, not the write on zarr's I/O
    loop: one landing after the staging folder's removal gave up (20 tries over a second)
    left a folder behind. remove_tree waits for zarr's pending writes first."""
    import asyncio

    import zarr  # noqa: F401  (zarr's loop is made by its first write)
    from zarr.core.sync import _get_loop

    from training.zarr_writer import remove_tree

    staged = tmp_path / '.s.zarr.tmp-1-abcdefgh'
    (staged / 'data').mkdir(parents=True)

    async def late_chunk_write() -> None:
        await asyncio.sleep(2.0)
        (staged / 'data').mkdir(parents=True, exist_ok=True)
        (staged / 'data' / '0.0').write_bytes(b'chunk')

    pending = asyncio.run_coroutine_threadsafe(late_chunk_write(), _get_loop())
    remove_tree(staged)
    pending.result(timeout=10)
    assert not staged.exists()
