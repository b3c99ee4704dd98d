"""Behaviour of the staged-output helpers and the node's observation history that their own tests
left unpinned (a mutation review of dp_ros/atomic_dir.py and
dp_ros/runtime/observation_history.py).

atomic_dir: renameat2's errors (EINVAL: unsupported, so the fallback; any other: raised, naming
both paths); which names are a killed write's leftovers (whole names only, the target taken
literally, `convert-` copies of older versions, a pid too large for kill(2), another user's live
process); the bytes remove_all counts (files only; a link's destination not followed);
plain_file_mode; naming's rules for which OSError gets the output's name; write_text leaving a
user's file of a similar name alone; free_disk of a folder not made yet; the writable checks'
messages and that a folder itself, not its parent, must be writable; check_output_apart through
symlinks on either side; output_lock's lock file (hidden, beside the link's destination, only
our text in it, fd closed), its folder made, a file in the way named, a refused second writer
leaving the first one's lock, and a lock file swapped under a new writer (a third writer's) that
counts as held.

observation_history: an empty stream list refused; the sample cap's exact count; the covered
reference time forgotten when a sample exactly at the gap limit is dropped, and on clear(); the
newest reference stamp exactly at another stream's reach; t_last the newest covered stamp, not
the newest searched; the 'gap' refusal naming the stream really at fault at the newest stamp.

Defects it found, mended and pinned: hidden names beside a long but legal output name
(write_text's temporary file, the lock, staging copies) were too long for the file system
(ENAMETOOLONG at the end of a run): they shorten the name with a digest (atomic_dir.beside);
a path under a link to nothing (a disk not mounted) passed the writable checks (a
FileExistsError traceback at the end); ObservationHistory took gap_ns for no stream or below 0.
"""
from __future__ import annotations

import errno
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from dp_ros import atomic_dir
from dp_ros.atomic_dir import (
    check_output_apart,
    check_writable_dir,
    check_writable_file,
    free_disk,
    naming,
    output_lock,
    plain_file_mode,
    remove_all,
    remove_killed_staging,
    staging_leftovers,
    write_text,
)
from dp_ros.errors import UserError
from dp_ros.runtime.observation_history import ObservationHistory

MS = 1_000_000
DT = 100 * MS
PROCFS_READ_ONLY = pytest.mark.skipif(
    not os.path.isdir('/proc/1') or os.access('/proc/1', os.W_OK) or not os.access('/proc',
                                                                                  os.W_OK),
    reason='needs procfs: /proc/1 writable by nobody, /proc writable')


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def lock_files(folder: Path) -> list[str]:
    return [n for n in names(folder) if n.endswith('.lock')]


def open_fds() -> int:
    return len(os.listdir('/proc/self/fd'))


# ------------------------------------------------------------------ the renameat2 swap
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='renameat2 is Linux only')
def test_a_swap_renameat2_refuses_with_einval_falls_back(tmp_path):
    """EINVAL is one of the errors meaning 'no exchange here' (a file system without it; here
    a folder and its own subfolder): the caller moves the old one aside instead."""
    (tmp_path / 'a' / 'b').mkdir(parents=True)
    assert atomic_dir._exchange(tmp_path / 'a', tmp_path / 'a' / 'b') is False


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='renameat2 is Linux only')
def test_a_swap_with_a_missing_directory_is_an_error_naming_both(tmp_path):
    """Any other errno is a real failure, raised as its OSError subclass naming both paths,
    not 'unsupported' (which would move the live target aside first)."""
    (tmp_path / 'a').mkdir()
    with pytest.raises(FileNotFoundError, match=f'cannot swap {tmp_path / "a"} and '
                                                f'{tmp_path / "missing"}'):
        atomic_dir._exchange(tmp_path / 'a', tmp_path / 'missing')


def test_the_fallback_swap_leaves_a_users_dot_old_folder_alone(tmp_path, monkeypatch):
    """The put-aside copy has a random suffix (what _LEFTOVER finds after a kill); a fixed
    `.target.old` would collide with a file of that name."""
    monkeypatch.setattr(atomic_dir, '_exchange', lambda a, b: False)
    (tmp_path / 'target').mkdir()
    (tmp_path / '.target.old').mkdir()
    (tmp_path / '.target.old' / 'mine').write_text('keep')
    (tmp_path / 'new').mkdir()
    (tmp_path / 'new' / 'f').write_text('new')
    atomic_dir.replace_dir(tmp_path / 'new', tmp_path / 'target')
    assert (tmp_path / 'target' / 'f').read_text() == 'new'
    assert (tmp_path / '.target.old' / 'mine').read_text() == 'keep'
    assert names(tmp_path) == ['.target.old', 'target']


# ------------------------------------------------------------------ a killed write's leftovers
def test_leftovers_are_whole_names_only(tmp_path):
    """A name that only begins like a leftover (a suffix after the 8 characters, 9 of them)
    is someone's file, and another output whose name begins with the target's is not ours."""
    for name in ['.latest.old-0123abcd5', '.latest.tmp-abcdefgh.keep', '.latest.tmp-abcdefghi',
                 '.latest2.tmp-abcdefgh', '.latest.tmp-abcdefgh']:
        (tmp_path / name).mkdir()
    assert staging_leftovers(tmp_path, 'latest') == [tmp_path / '.latest.tmp-abcdefgh']


def test_older_versions_convert_and_bag2zarr_copies_are_leftovers(tmp_path):
    for name in ['.le.convert-abcdefgh', '.store.zarr.bag2zarr-abcdefgh']:
        (tmp_path / name).mkdir()
    assert staging_leftovers(tmp_path, 'le') == [tmp_path / '.le.convert-abcdefgh']
    assert staging_leftovers(tmp_path, r'store\.zarr') == [
        tmp_path / '.store.zarr.bag2zarr-abcdefgh']


def test_a_pid_too_large_for_kill_is_no_running_process(tmp_path):
    """os.kill raises OverflowError for it: no such process, a leftover (not a traceback)."""
    (tmp_path / '.latest.tmp-99999999999999999999-abcdefgh').mkdir()
    assert staging_leftovers(tmp_path, 'latest') == [
        tmp_path / '.latest.tmp-99999999999999999999-abcdefgh']


@pytest.mark.skipif(os.geteuid() != 0 or not hasattr(os, 'fork'),
                    reason='needs root to run a check as another user')
def test_another_users_live_process_counts_as_running():
    """kill(pid, 0) on another user's process is EPERM: it runs, its copy is not ours."""
    pid = os.fork()
    if pid == 0:  # the child: as nobody, ask about this (root's) test process
        try:
            try:
                os.setuid(65534)
            except OSError:
                os._exit(5)
            os._exit(0 if atomic_dir._running(os.getppid()) else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 5:
        pytest.skip('setuid is not allowed here')
    assert code == 0


def test_remove_killed_staging_takes_the_target_name_literally_and_says_so(tmp_path, capsys):
    """`a.zarr` is no regex: `.abzarr`'s copy belongs to another output. The count is returned
    and printed (one copy: 'copy')."""
    for name in ['.a.zarr.tmp-abcdefgh', '.abzarr.tmp-abcdefgh']:
        (tmp_path / name).mkdir()
    (tmp_path / '.a.zarr.tmp-abcdefgh' / 'x').write_bytes(b'x' * 7)
    assert remove_killed_staging(tmp_path / 'a.zarr') == 1
    assert names(tmp_path) == ['.abzarr.tmp-abcdefgh']
    assert capsys.readouterr().err == (f'removed 1 staging copy of a killed run beside '
                                       f'{tmp_path / "a.zarr"} (7 bytes)\n')
    for name in ['.b.tmp-abcdefgh', '.b.old-0123abcd']:
        (tmp_path / name).mkdir()
    assert remove_killed_staging(tmp_path / 'b') == 2
    assert 'removed 2 staging copies' in capsys.readouterr().err


def test_remove_all_counts_files_only(tmp_path):
    """A folder's own size (a subfolder's 4 KiB) is no freed bytes."""
    folder = tmp_path / 'copy'
    (folder / 'sub').mkdir(parents=True)
    (folder / 'sub' / 'f').write_bytes(b'x' * 10)
    assert remove_all([folder]) == 10 and names(tmp_path) == []


def test_remove_all_of_a_link_frees_the_links_own_size(tmp_path):
    """A link is removed as a link: its destination's files neither counted nor touched."""
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (elsewhere / 'big').write_bytes(b'y' * 5000)
    link = tmp_path / 'link'
    link.symlink_to(elsewhere)
    size = link.lstat().st_size
    assert size < 5000 and remove_all([link]) == size
    assert not link.is_symlink() and (elsewhere / 'big').stat().st_size == 5000


def test_plain_file_mode_copies_the_mode_of_the_plain_file(tmp_path):
    like, weights = tmp_path / 'meta.json', tmp_path / 'model.safetensors'
    like.write_text('{}')
    weights.write_bytes(b'')
    like.chmod(0o640)
    weights.chmod(0o600)
    plain_file_mode([weights], like=like)
    assert weights.stat().st_mode & 0o777 == 0o640


# ------------------------------------------------------------------ naming and write_text
def test_naming_names_the_output_for_a_stand_in_and_fills_a_missing_strerror(tmp_path):
    """An error naming the temporary file swapped in as the output names the output; one
    without text gets the errno's."""
    out, tmp = tmp_path / 'report.json', tmp_path / '.report.json.tmp'
    with pytest.raises(OSError) as caught, naming(out, tmp):
        raise OSError(errno.ENOSPC, 'No space left on device', str(tmp))
    assert caught.value.filename == str(out) and caught.value.errno == errno.ENOSPC
    with pytest.raises(OSError) as caught, naming(out):
        raise OSError(errno.ENOSPC, None)
    assert caught.value.filename == str(out)
    assert caught.value.strerror == os.strerror(errno.ENOSPC)


def test_naming_leaves_an_error_of_another_errno_as_it_is(tmp_path):
    """Not a refused write (EINVAL): a bug, kept as raised, naming nothing."""
    with pytest.raises(OSError) as caught, naming(tmp_path / 'out'):
        raise OSError(errno.EINVAL, 'Invalid argument')
    assert caught.value.filename is None and caught.value.errno == errno.EINVAL


def test_write_text_names_its_path_when_its_temporary_file_is_refused(tmp_path, monkeypatch):
    """open() of the temporary file names it: the error must name the report instead."""
    real = Path.write_text

    def refused(self, *args, **kwargs):
        if self.name.endswith('.tmp'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, 'write_text', refused)
    with pytest.raises(OSError) as caught:
        write_text(tmp_path / 'report.json', '{}')
    assert caught.value.filename == str(tmp_path / 'report.json')


def test_write_text_leaves_a_users_file_of_a_similar_name_alone(tmp_path):
    """The temporary name is hidden and random: `report.json.tmp` beside it is the user's."""
    (tmp_path / 'report.json.tmp').write_text('mine')
    write_text(tmp_path / 'report.json', 'new')
    assert (tmp_path / 'report.json.tmp').read_text() == 'mine'
    assert names(tmp_path) == ['report.json', 'report.json.tmp']


def test_write_text_writes_a_long_but_legal_file_name(tmp_path):
    """The temporary name `.{name}.XXXXXXXX.tmp` was 14 bytes longer than a legal name of
    242..255 bytes: ENAMETOOLONG naming the temporary file, at the end of a run."""
    path = tmp_path / ('r' * 245 + '.json')
    write_text(path, 'x')
    assert path.read_text() == 'x' and names(tmp_path) == [path.name]


def test_output_lock_on_a_long_but_legal_output_name(tmp_path):
    """`.{name}.lock` of a 252-byte name: an ENAMETOOLONG traceback, not a lock; the lock
    of one long name is still one lock (a second writer refused)."""
    with output_lock(tmp_path / ('s' * 252), 'dp-ros convert'):
        with pytest.raises(UserError, match='is being written by another dp-ros command'):
            with output_lock(tmp_path / ('s' * 252), 'dp-ros convert'):
                pass
        with output_lock(tmp_path / ('s' * 251 + 't'), 'dp-ros convert'):  # another output
            pass
    assert names(tmp_path) == []


def test_staging_dir_for_a_long_but_legal_output_name(tmp_path):
    """`.{name}.tmp-PID-XXXXXXXX` of a 240-byte name: ENAMETOOLONG from mkdtemp. The
    shortened copy is still found as a killed write's leftover of that output (and of no
    other)."""
    target = tmp_path / ('s' * 240)
    copy = atomic_dir.staging_dir(target)
    assert copy.is_dir() and len(copy.name.encode()) <= 255
    assert atomic_dir.staging_path(target).name.startswith(copy.name[:-8])
    assert atomic_dir.staging_leftovers(tmp_path, re.escape(atomic_dir.beside(target.name))) \
        == [copy]
    assert atomic_dir.staging_leftovers(tmp_path, re.escape(atomic_dir.beside('s' * 239))) == []


def test_free_disk_of_a_folder_not_made_yet_is_its_nearest_existing_folders(tmp_path):
    free = free_disk(tmp_path / 'a' / 'b' / 'store.zarr')
    assert isinstance(free, int) and free > 0


def test_free_disk_under_a_name_longer_than_allowed_is_its_folders(tmp_path):
    """A name longer than the file system allows (ENAMETOOLONG, not ENOENT) does not exist:
    the free disk is its nearest existing folder's, not a traceback (the write itself is
    refused by the checks that name the flag)."""
    assert isinstance(free_disk(tmp_path / ('x' * 300) / 'store.zarr'), int)


def test_write_text_writes_utf8_whatever_the_locale(tmp_path):
    path = write_text(str(tmp_path / 'report.txt'), 'Δt ✓\n')
    assert isinstance(path, Path) and path.read_bytes() == 'Δt ✓\n'.encode()


def test_real_target_of_a_plain_path_string_is_a_path():
    assert atomic_dir.real_target('no/such/store.zarr') == Path('no/such/store.zarr')
    assert isinstance(atomic_dir.real_target('no/such/store.zarr'), Path)


# ------------------------------------------------------------------ the writable checks
def test_a_directory_given_as_a_file_is_refused_with_a_file_name_in_it(tmp_path):
    with pytest.raises(UserError, match=re.escape(
            f'--output {tmp_path} is a directory; give a file path, e.g. '
            f'{tmp_path / "eval.json"}')):
        check_writable_file(tmp_path, '--output', example='eval.json')


def test_check_writable_dir_names_a_file_in_the_way(tmp_path):
    (tmp_path / 'logs').write_text('')
    with pytest.raises(UserError, match=r'--log-dir .*logs is a file, not a folder'):
        check_writable_dir(tmp_path / 'logs', '--log-dir')


def test_a_file_where_a_folder_of_the_path_must_be_is_named_as_no_directory(tmp_path):
    (tmp_path / 'notes').write_text('')
    with pytest.raises(UserError, match=r'--output .*report.json: .*notes is not a directory, '
                                        'so the file cannot be written there'):
        check_writable_file(tmp_path / 'notes' / 'report.json', '--output')


@PROCFS_READ_ONLY
def test_an_existing_folder_must_itself_be_writable_not_its_parent():
    """/proc/1 exists and nobody may add to it; /proc, its parent, root may."""
    with pytest.raises(UserError, match='--log-dir /proc/1: /proc/1 is not writable'):
        check_writable_dir('/proc/1', '--log-dir')


def test_a_dangling_symlink_on_the_way_is_refused_by_the_checks(tmp_path):
    """Path.exists follows the link: the checks passed and the write at the end was a
    FileExistsError traceback from mkdir."""
    (tmp_path / 'out').symlink_to(tmp_path / 'unmounted' / 'disk')
    said = 'is a link to .*unmounted/disk, which does not exist \\(a disk not mounted\\?\\)'
    with pytest.raises(UserError, match='--output .*' + said):
        check_writable_file(tmp_path / 'out' / 'report.json', '--output')
    with pytest.raises(UserError, match='--log-dir .*' + said):
        check_writable_dir(tmp_path / 'out' / 'logs', '--log-dir')


# ------------------------------------------------------------------ check_output_apart
def test_an_output_that_is_the_source_is_refused(tmp_path):
    (tmp_path / 'src').mkdir()
    with pytest.raises(ValueError, match='is the source'):
        check_output_apart(tmp_path / 'src', tmp_path / 'src', ValueError)


def test_an_output_linked_to_the_source_is_the_source(tmp_path):
    """The write lands on the link's destination (real_target): the source itself."""
    (tmp_path / 'src').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'src')
    with pytest.raises(ValueError, match='is the source'):
        check_output_apart(tmp_path / 'src', tmp_path / 'link', ValueError)


def test_a_source_through_a_link_is_compared_where_it_lies(tmp_path):
    """A linked source is its destination (the output there is the source) and the link too
    (the folder holding the link is replaced with it)."""
    (tmp_path / 'real').mkdir()
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'src').symlink_to(tmp_path / 'real')
    with pytest.raises(ValueError, match='is the source'):
        check_output_apart(tmp_path / 'a' / 'src', tmp_path / 'real', ValueError)
    with pytest.raises(ValueError, match='holds the source'):
        check_output_apart(tmp_path / 'a' / 'src', tmp_path / 'a', ValueError)


def test_a_dangling_link_output_is_the_link_where_its_folder_lies(tmp_path):
    """A link into a folder that does not exist is replaced itself (real_target): it is inside
    the source where the link is, also when its folder is reached through a linked folder."""
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'out').symlink_to(tmp_path / 'unmounted' / 'x')
    with pytest.raises(ValueError, match='is inside the source'):
        check_output_apart(src, src / 'out', ValueError)
    (tmp_path / 'via').symlink_to(src)
    with pytest.raises(ValueError, match='is inside the source'):
        check_output_apart(src, tmp_path / 'via' / 'out', ValueError)


# ------------------------------------------------------------------ output_lock
def test_the_lock_is_a_hidden_file_beside_the_links_destination(tmp_path):
    """Writers naming the link and the destination are one writer's output: the second is
    refused. The lock file is `.NAME.lock` beside the destination, with only this writer's
    text in it (a killed writer's longer text gone)."""
    (tmp_path / 'big').mkdir()
    (tmp_path / 'big' / '.store.lock').write_text('dp-ros bag2zarr, process 123456789 (old)')
    (tmp_path / 'store').symlink_to(tmp_path / 'big' / 'store')
    with output_lock(tmp_path / 'store', 'dp-ros x'):
        lock = tmp_path / 'big' / '.store.lock'
        assert lock.read_text() == f'dp-ros x, process {os.getpid()}'
        assert lock_files(tmp_path) == []
        with pytest.raises(UserError, match=re.escape(f'(dp-ros x, process {os.getpid()})')):
            with output_lock(tmp_path / 'big' / 'store', 'dp-ros y'):
                pass
    assert names(tmp_path / 'big') == []


def test_a_refused_writer_leaves_the_holders_lock_and_closes_its_files(tmp_path):
    """The refused second writer must not remove the first one's lock file (a third would
    then take a fresh file and write alongside the first); no descriptor is left open. A new
    lock file is 0644 under umask 022: who holds it is readable by another user."""
    out = tmp_path / 'store'
    before = open_fds()
    mask = os.umask(0o022)
    try:
        with output_lock(out, 'dp-ros a'):
            assert (tmp_path / '.store.lock').stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(mask)
    with output_lock(out, 'dp-ros a'):
        with pytest.raises(UserError, match='being written by another dp-ros command'):
            with output_lock(out, 'dp-ros b'):
                pass
        assert lock_files(tmp_path) == ['.store.lock']
        with pytest.raises(UserError, match=r'\(dp-ros a, process'):
            with output_lock(out, 'dp-ros c'):
                pass
    assert open_fds() == before and lock_files(tmp_path) == []


def test_the_outputs_folder_is_made_and_a_file_in_its_way_named(tmp_path):
    with output_lock(tmp_path / 'new' / 'deeper' / 'store', 'dp-ros x'):
        assert (tmp_path / 'new' / 'deeper').is_dir()
    (tmp_path / 'file').write_text('')
    with pytest.raises(UserError, match=re.escape(f'{tmp_path / "file"} is not a directory, '
                                                  'so nothing can be written there')):
        with output_lock(tmp_path / 'file' / 'sub' / 'store', 'dp-ros x'):
            pass


@pytest.mark.skipif(atomic_dir.fcntl is None, reason='flock is POSIX')
def test_a_lock_file_replaced_under_a_new_writer_counts_as_held(tmp_path, monkeypatch):
    """The interleaving of three writers, made with real files: the new writer opened the lock
    file; the holder removed it on its way out and a third writer made a new one before the
    new writer's flock. The new writer then holds a lock on a file no longer there and must
    count the output as being written (naming the lock), not write alongside the third."""
    lock = tmp_path / '.store.lock'
    real = atomic_dir.fcntl

    class Interleaved:
        LOCK_EX, LOCK_NB = real.LOCK_EX, real.LOCK_NB

        @staticmethod
        def flock(fd, op):
            lock.unlink()
            lock.write_text('dp-ros third, process 1')
            return real.flock(fd, op)

    monkeypatch.setattr(atomic_dir, 'fcntl', Interleaved)
    with pytest.raises(UserError, match=re.escape(f'(lock {lock})')):
        with output_lock(tmp_path / 'store', 'dp-ros new'):
            pass
    assert lock.read_text() == 'dp-ros third, process 1'  # the third writer's, left alone


# ------------------------------------------------------------------ observation history
def test_no_streams_at_all_are_refused():
    with pytest.raises(ValueError, match='streams must be distinct names, got \\[\\]'):
        ObservationHistory([], 2, DT, DT)


def test_the_cap_keeps_exactly_max_samples_when_the_needed_span_is_shorter():
    """Needed span 400 ms (5 samples at 10 Hz): the cap of 8 keeps 8, not 7."""
    h = ObservationHistory(['s'], 2, DT, 300 * MS, keep_ns=10_000 * MS, max_samples=8)
    sizes = []
    for t in range(12):
        h.add('s', t * DT, t)
        sizes.append(h.size('s'))
    assert sizes == [1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8] and h.oldest_stamp('s') == 4 * DT


def test_stamps_and_times_are_held_as_python_ints():
    """numpy or float inputs (a message's fields, a config's 4e8) are kept as int: the stamps
    of an observation go into JSON logs, which refuse numpy's int64."""
    h = ObservationHistory(['s'], 1, DT, 300 * MS, keep_ns=4e8)
    h.start_episode(np.float64(0.0))
    h.add('s', np.int64(5 * MS), 'v')
    obs = h.assemble(now_ns=np.int64(5 * MS))
    held = [h.keep_ns, h.episode_start_ns, h.newest_stamp('s'), obs.t_ns, *obs.stamps_ns['s']]
    assert [type(v) for v in held] == [int] * 5
    assert h.ages_ns(7 * MS) == {'s': 2 * MS}


def reference_history(**kw) -> ObservationHistory:
    return ObservationHistory(['img', 'state'], 1, DT, 300 * MS, reference='img',
                              gap_ns={'state': 50 * MS}, **kw)


def test_dropping_a_sample_exactly_the_gap_old_forgets_the_covered_time():
    """state at 50 ms covers img's 100 ms exactly at its 50 ms tolerance. A state at 351 ms
    prunes 0 only: 50 ms is the newest before the 51 ms edge, the one at or before it, so
    100 ms (251 ms old) still assembles. Once 50 ms is pruned too (a state at 700 ms: 351
    is the one before the edge now), 100 ms is covered no more: no t_last, a 'gap' (not
    an observation missing its sample)."""
    h = reference_history(keep_ns=300 * MS)
    h.add('img', 100 * MS, 'frame')
    h.add('state', 0, 'older')
    h.add('state', 50 * MS, 'old')
    assert h.t_last() == 100 * MS
    h.add('state', 351 * MS, 'new')
    assert h.oldest_stamp('state') == 50 * MS and h.t_last() == 100 * MS
    assert h.assemble(now_ns=351 * MS).values['state'] == ['old']
    h.add('state', 700 * MS, 'newer')  # prunes 50 ms: the newer one pruned decides
    assert h.oldest_stamp('state') == 351 * MS
    assert h.t_last() is None
    assert h.assemble(now_ns=700 * MS).kind == 'gap'


def test_clear_forgets_the_covered_time_and_the_episode_start():
    """After clear() (a restarted clock) older stamps are a new history's, not refused nor
    hidden behind the old t_last."""
    h = reference_history()
    h.start_episode(900 * MS)
    h.add('img', 1000 * MS, 'a')
    h.add('state', 1000 * MS, 'a')
    assert h.t_last() == 1000 * MS
    h.clear()
    assert h.add('img', 500 * MS, 'b') and h.add('state', 500 * MS, 'b')
    assert h.t_last() == 500 * MS
    assert h.assemble(now_ns=500 * MS).values == {'img': ['b'], 'state': ['b']}


def test_a_reference_stamp_exactly_the_tolerance_after_the_newest_state_is_covered():
    h = reference_history()
    h.add('state', 100 * MS, 's')
    h.add('img', 150 * MS, 'i')
    assert h.t_last() == 150 * MS


def test_t_last_is_the_newest_covered_stamp_not_the_newest_searched():
    """img 200 ms: state's sample before it is 100 ms old (tolerance 50), the next 100 ms
    after: not covered, though within state's reach; img 100 ms is."""
    h = reference_history()
    h.add('img', 100 * MS, 'i100')
    h.add('img', 200 * MS, 'i200')
    h.add('state', 100 * MS, 's100')
    h.add('state', 300 * MS, 's300')
    assert h.t_last() == 100 * MS
    obs = h.assemble(now_ns=300 * MS)
    assert obs.values == {'img': ['i100'], 'state': ['s100']}


def test_a_gap_refusal_names_the_stream_at_fault_at_the_newest_reference_stamp():
    """At img's newest, 1000 ms, `a` stands in by the jitter allowance (5 ms late, 10 ms
    allowed); `b` is the one without a sample, and 1000 ms (not 900) is the time named."""
    h = ObservationHistory(['img', 'a', 'b'], 1, DT, 300 * MS, reference='img',
                           gap_ns={'a': 10 * MS, 'b': 10 * MS})
    h.add('img', 900 * MS, 'i')
    h.add('img', 1000 * MS, 'i')
    h.add('a', 1005 * MS, 'a')
    h.add('b', 500 * MS, 'b')
    refusal = h.assemble(now_ns=1005 * MS)
    assert refusal.kind == 'gap'
    assert f'at the newest, b: newest sample at or before {1000 * MS} ns' in refusal.message
    assert 'a:' not in refusal.message


def test_a_gap_tolerance_for_no_stream_or_below_zero_is_refused():
    """A key naming no stream (a typo) was ignored, the stream then taking max_age_ns, a
    looser tolerance than its training data had; a negative one made every observation a
    gap."""
    with pytest.raises(ValueError, match=r"gap_ns names no stream: \['imgae'\] \(the streams: "
                                         r"\['image', 'state'\]\)"):
        ObservationHistory(['image', 'state'], 2, DT, 300 * MS, gap_ns={'imgae': 10 * MS})
    with pytest.raises(ValueError, match=r"gap_ns must be >= 0 for every stream, got "
                                         r"\{'image': -1\}"):
        ObservationHistory(['image', 'state'], 2, DT, 300 * MS, gap_ns={'image': -1})
