"""dp_ros.atomic_dir at its edges: the renameat2 swap itself, relative paths, chains of links,
a failed text write, a reader holding the old file, a target that is a file, and the checks
of a file a command writes at the end of its run."""
from __future__ import annotations

import os
import sys

import pytest
from test_atomic_dir import linked, make, names

from dp_ros import atomic_dir
from dp_ros.errors import UserError


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='renameat2 is Linux only')
def test_on_linux_two_directories_trade_places_in_one_call(tmp_path):
    """The swap readers rely on (never no target) is renameat2's exchange, not the fallback
    that moves the old directory aside first."""
    a, b = make(tmp_path / 'a', 'A'), make(tmp_path / 'b', 'B')
    assert atomic_dir._exchange(a, b) is True
    assert (a / 'f.txt').read_text() == 'B' and (b / 'f.txt').read_text() == 'A'


def test_relative_paths_are_swapped_relative_to_the_working_directory(tmp_path, monkeypatch):
    """renameat2 is given AT_FDCWD: relative paths name places under the current folder."""
    monkeypatch.chdir(tmp_path)
    make(tmp_path / 'target', 'old')
    atomic_dir.replace_dir(make(tmp_path / '.new', 'new'), 'target')
    assert (tmp_path / 'target' / 'f.txt').read_text() == 'new'
    assert names(tmp_path) == ['target']


def test_a_missing_new_directory_leaves_the_old_one_in_place(tmp_path):
    target = make(tmp_path / 'target', 'old')
    with pytest.raises(FileNotFoundError):
        atomic_dir.replace_dir(tmp_path / 'missing', target)
    assert (target / 'f.txt').read_text() == 'old' and names(tmp_path) == ['target']


def test_fsync_of_a_folder_that_cannot_be_opened_is_no_error(tmp_path):
    """Best effort: a file system that refuses the fsync must not fail a finished write."""
    atomic_dir.fsync_dir(tmp_path / 'absent')
    atomic_dir.fsync_dir(tmp_path)


def test_real_target_follows_a_chain_of_relative_links_to_the_end(tmp_path):
    """data/store -> ../mid/store -> ../big/store: the write lands on the last destination."""
    (tmp_path / 'big').mkdir()
    store = make(tmp_path / 'big' / 'store', 'x')
    linked(tmp_path / 'mid' / 'store', os.path.join('..', 'big', 'store'))
    link = linked(tmp_path / 'data' / 'store', os.path.join('..', 'mid', 'store'))
    assert atomic_dir.real_target(link) == store.resolve()


def test_a_target_that_is_a_file_is_replaced_without_leftovers(tmp_path):
    (tmp_path / 'target').write_text('an old file')
    atomic_dir.replace_dir(make(tmp_path / '.new', 'new'), tmp_path / 'target')
    assert (tmp_path / 'target' / 'f.txt').read_text() == 'new'
    assert names(tmp_path) == ['target']


# --- write_text ------------------------------------------------------------------------------

def test_a_reader_of_the_old_file_keeps_reading_it_whole(tmp_path):
    """The new text is swapped in as a new file: one who opened the old one reads all of it,
    not a truncated or mixed text."""
    path = atomic_dir.write_text(tmp_path / 'report.json', 'old text, long enough\n')
    with path.open() as reader:
        atomic_dir.write_text(path, 'new\n')
        assert reader.read() == 'old text, long enough\n'
    assert path.read_text() == 'new\n'


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path):
    (tmp_path / 'report.json').mkdir()  # a folder where the file should go
    with pytest.raises(IsADirectoryError):
        atomic_dir.write_text(tmp_path / 'report.json', 'text')
    assert names(tmp_path) == ['report.json'] and not any((tmp_path / 'report.json').iterdir())


# --- check_writable_file ---------------------------------------------------------------------

def test_a_file_in_folders_not_made_yet_is_accepted(tmp_path):
    atomic_dir.check_writable_file(tmp_path / 'a' / 'b' / 'report.json', '--output')
    assert names(tmp_path) == []  # only checked: nothing made


@pytest.mark.skipif(not os.path.isdir('/proc/1') or os.access('/proc/1', os.W_OK),
                    reason='needs Linux procfs, whose process folders nobody may write into')
def test_a_folder_not_even_root_may_write_into_is_refused():
    """The check runs as root too (CI, containers): procfs refuses new entries in
    /proc/1 to every user, root included, and os.access says so."""
    with pytest.raises(UserError, match='--output /proc/1/new/report.json: /proc/1 is not '
                                        'writable'):
        atomic_dir.check_writable_file('/proc/1/new/report.json', '--output')


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write into any folder')
def test_a_folder_without_write_permission_is_refused(tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o555)
    try:
        with pytest.raises(UserError, match='--output .*locked is not writable'):
            atomic_dir.check_writable_file(locked / 'new' / 'report.json', '--output')
    finally:
        locked.chmod(0o755)
