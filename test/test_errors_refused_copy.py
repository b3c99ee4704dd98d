"""Refused writes that name their file: shutil.copytree's error and write()/flush() errors.

shutil.copytree reports a full disk as one shutil.Error (an OSError without errno) listing
(source, destination, reason text) for every file: errors.output_error_line must still
make it one line naming a destination (not a traceback listing each chunk). A write() or
flush() error names no file: atomic_dir.naming and RunLog add the path, and carry_best (a
run continued in another folder) says what to do and leaves no staging copy.
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from dp_ros.atomic_dir import naming, write_text
from dp_ros.errors import output_error_line, refused_copy
from training.errors import RunWriteError
from training.run_dir import carry_best
from training.run_log import LOG_FILE, RunLog
from training.train_state_file import STATE_DIR


def _copytree_error(dst: str, code: int = errno.ENOSPC) -> shutil.Error:
    """What shutil.copytree raises when a file's copy fails (its entry's reason text)."""
    why = OSError(code, os.strerror(code), dst)
    return shutil.Error([('/src/.zattrs', '/dst/.zattrs', 'a copystat note'),
                         ('/src/data/0.0', dst, str(why))])


def test_a_copytree_full_disk_error_is_one_line_naming_a_destination():
    line = output_error_line(_copytree_error('/dst/data/0.0'))
    assert line == 'cannot write: /dst/data/0.0: No space left on device'


def test_a_copytree_error_of_another_kind_stays_a_bug():
    assert refused_copy(_copytree_error('/dst/x', errno.EIO)) is None
    assert output_error_line(shutil.Error('src and dst are the same file')) is None


def test_write_text_names_its_path_when_the_write_fails(tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, 'write_text', full)
    with pytest.raises(OSError) as caught:
        write_text(tmp_path / 'report.json', '{}')
    assert caught.value.filename == str(tmp_path / 'report.json')
    assert output_error_line(caught.value) == (
        f'cannot write: {tmp_path / "report.json"}: No space left on device')
    assert list(tmp_path.iterdir()) == []


def test_naming_keeps_an_error_that_names_its_own_file(tmp_path):
    with pytest.raises(OSError) as caught, naming(tmp_path / 'out'):
        raise OSError(errno.EACCES, 'Permission denied', '/elsewhere')
    assert caught.value.filename == '/elsewhere'


class _FullFile:
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self) -> None:
        pass


def test_a_refused_log_write_names_log_jsonl_and_the_resume_point(tmp_path):
    (tmp_path / STATE_DIR).mkdir()
    # no TensorBoard writer made: each one made in this process shifts the event file names
    # of later tests' writers (a process-wide counter in the name)
    run_log = RunLog(tmp_path, enabled=False)
    run_log.enabled, run_log._file = True, _FullFile()
    with pytest.raises(RunWriteError) as caught:
        run_log.emit('train', 3, 0, 1.0, {'loss': 0.5})
    message = str(caught.value)
    assert message.startswith(f'cannot write {tmp_path / LOG_FILE}: No space left on device')
    assert f'{tmp_path / STATE_DIR} keeps the last save' in message
    assert '--resume auto' in message


def test_carry_best_onto_a_full_disk_is_one_line_and_leaves_no_copy(tmp_path, monkeypatch):
    best = tmp_path / 'old' / 'checkpoints' / 'best'
    best.mkdir(parents=True)
    (best / 'model.safetensors').write_bytes(b'x' * 10)
    run_dir = tmp_path / 'new'
    run_dir.mkdir()

    def full_copy(src, dst, *args, **kwargs):
        Path(dst).mkdir()
        raise _copytree_error(str(Path(dst) / 'model.safetensors'))

    monkeypatch.setattr(shutil, 'copytree', full_copy)
    with pytest.raises(RunWriteError) as caught:
        carry_best(tmp_path / 'old' / STATE_DIR, run_dir)
    assert str(caught.value).startswith(
        f'cannot copy {best} to {run_dir / "checkpoints" / "best"}: No space left on device')
    assert 'run the same command again' in str(caught.value)
    assert list((run_dir / 'checkpoints').iterdir()) == []
