"""Directories are replaced whole: the target holds the old or the new content, never none."""
from __future__ import annotations

import pytest

from dp_ros import atomic_dir


def make(path, text):
    path.mkdir()
    (path / 'f.txt').write_text(text)
    return path


@pytest.mark.parametrize('exchange', [True, False], ids=['renameat2', 'move-aside'])
def test_replace_existing_directory(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(atomic_dir, '_exchange', lambda a, b: False)
    target = make(tmp_path / 'target', 'old')
    atomic_dir.replace_dir(make(tmp_path / '.new', 'new'), target)
    assert (target / 'f.txt').read_text() == 'new'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['target']  # nothing left over


def test_new_target(tmp_path):
    atomic_dir.replace_dir(make(tmp_path / '.new', 'new'), tmp_path / 'target')
    assert (tmp_path / 'target' / 'f.txt').read_text() == 'new'


def test_failed_second_rename_restores_the_old_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic_dir, '_exchange', lambda a, b: False)
    target = make(tmp_path / 'target', 'old')
    with pytest.raises(OSError):
        atomic_dir.replace_dir(tmp_path / 'missing', target)
    assert (target / 'f.txt').read_text() == 'old'


def test_write_text_makes_folders_and_leaves_no_temporary(tmp_path):
    from dp_ros.atomic_dir import write_text

    path = write_text(tmp_path / 'a' / 'b' / 'report.json', '{}\n')
    assert path.read_text() == '{}\n' and sorted(p.name for p in path.parent.iterdir()) == [
        'report.json']
    write_text(path, 'new\n')
    assert path.read_text() == 'new\n' and len(list(path.parent.iterdir())) == 1
