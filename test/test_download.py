"""download-pusht against local archives: success, checksum, corrupt and wrong archives."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support import REPO_ROOT

from dp_ros.cli import run_subcommand
from training.replay_buffer import ReplayBuffer

STORE = 'pusht/pusht_cchi_v7_replay.zarr'


def small_buffer() -> ReplayBuffer:
    rng = np.random.default_rng(0)
    return ReplayBuffer.from_arrays({
        'img': rng.integers(0, 256, size=(9, 8, 8, 3)).astype(np.float32),
        'state': rng.normal(size=(9, 5)).astype(np.float32),
        'action': rng.normal(size=(9, 2)).astype(np.float32),
    }, [4, 9])


def zip_tree(root: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, 'w', zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob('*')):
            zf.write(path, path.relative_to(root).as_posix())
    return archive


@pytest.fixture
def good_zip(tmp_path) -> Path:
    small_buffer().save_to(tmp_path / 'src' / STORE)
    return zip_tree(tmp_path / 'src', tmp_path / 'pusht.zip')


def main(argv: list[str]) -> int:
    """`dp-ros download-pusht ARGV` in this process: an expected error is exit 2, one line."""
    return run_subcommand('download-pusht', argv)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_download_file_url_unpacks_and_verifies(tmp_path, good_zip, capsys):
    dest = tmp_path / 'data'
    sha = hashlib.sha256(good_zip.read_bytes()).hexdigest()
    rc = main(['--url', good_zip.as_uri(), '--dest', str(dest), '--sha256', sha, '--no-progress'])
    assert rc == 0
    assert leftovers(dest) == ['pusht']  # no temp dir or zip left beside it
    buffer = ReplayBuffer.open(dest / STORE)
    expected = small_buffer()
    assert buffer.n_episodes == 2 and buffer.n_steps == 9
    for key in expected.keys():
        np.testing.assert_array_equal(buffer.data[key][:], expected.data[key])
    assert '2 episodes, 9 steps' in capsys.readouterr().out

    # a second run refuses to clobber, --force replaces
    assert main(['--url', str(good_zip), '--dest', str(dest), '--no-progress']) == 2
    assert 'already exists' in capsys.readouterr().err
    assert main(['--url', str(good_zip), '--dest', str(dest), '--force', '--no-progress']) == 0
    assert leftovers(dest) == ['pusht'] and ReplayBuffer.open(dest / STORE).n_steps == 9


def test_wrong_checksum_leaves_nothing(tmp_path, good_zip, capsys):
    dest = tmp_path / 'data'
    rc = main(['--url', good_zip.as_uri(), '--dest', str(dest), '--sha256', '0' * 64,
               '--no-progress'])
    assert rc == 2
    assert 'sha256' in capsys.readouterr().err
    assert not dest.exists()


def test_corrupt_zip_leaves_nothing(tmp_path, good_zip, capsys):
    dest = tmp_path / 'data'
    dest.mkdir()  # an existing destination keeps existing, and stays empty
    data = bytearray(good_zip.read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = b'\0' * 64  # damage a member's bytes
    broken = tmp_path / 'broken.zip'
    broken.write_bytes(bytes(data))
    assert main(['--url', broken.as_uri(), '--dest', str(dest), '--no-progress']) == 2
    assert 'corrupt zip' in capsys.readouterr().err
    assert leftovers(dest) == []

    truncated = tmp_path / 'truncated.zip'
    truncated.write_bytes(good_zip.read_bytes()[:-200])  # central directory cut off
    assert main(['--url', str(truncated), '--dest', str(dest), '--no-progress']) == 2
    assert 'not a zip' in capsys.readouterr().err
    assert leftovers(dest) == []


def test_zip_without_the_store_leaves_nothing(tmp_path, capsys):
    small_buffer().save_to(tmp_path / 'src' / 'pusht' / 'other.zarr')
    archive = zip_tree(tmp_path / 'src', tmp_path / 'other.zip')
    dest = tmp_path / 'data'
    assert main(['--url', archive.as_uri(), '--dest', str(dest), '--no-progress']) == 2
    assert f'lacks {STORE}' in capsys.readouterr().err
    assert not dest.exists()


def test_store_that_is_not_a_replay_buffer_leaves_nothing(tmp_path, capsys):
    store = tmp_path / 'src' / STORE
    (store / 'data').mkdir(parents=True)
    (store / '.zgroup').write_text('{"zarr_format": 2}')
    (store / 'data' / '.zgroup').write_text('{"zarr_format": 2}')
    archive = zip_tree(tmp_path / 'src', tmp_path / 'empty.zip')
    dest = tmp_path / 'data'
    assert main(['--url', archive.as_uri(), '--dest', str(dest), '--no-progress']) == 2
    assert 'meta/episode_ends' in capsys.readouterr().err
    assert not dest.exists()


def test_unsafe_member_paths_are_refused(tmp_path, capsys):
    archive = tmp_path / 'evil.zip'
    with zipfile.ZipFile(archive, 'w') as zf:
        zf.writestr(f'{STORE}/.zgroup', '{"zarr_format": 2}')
        zf.writestr('pusht/../../escaped.txt', 'x')
    dest = tmp_path / 'data'
    assert main(['--url', str(archive), '--dest', str(dest), '--no-progress']) == 2
    assert 'unsafe path' in capsys.readouterr().err
    assert not (tmp_path / 'escaped.txt').exists() and not dest.exists()


def test_missing_source_is_an_error(tmp_path, capsys):
    assert main(['--url', (tmp_path / 'nope.zip').as_uri(), '--dest', str(tmp_path / 'd'),
                 '--no-progress']) == 2
    assert 'no such file' in capsys.readouterr().err


def test_a_dest_that_is_a_file_is_one_line(tmp_path, good_zip, capsys):
    """--dest names a file (or a folder under one): one line, exit 2 (a FileExistsError
    traceback before); the file is left as it was."""
    (tmp_path / 'notes.txt').write_text('x')
    for dest, words in ((tmp_path / 'notes.txt', 'is a file'),
                        (tmp_path / 'notes.txt' / 'data', 'cannot create --dest')):
        assert main(['--url', good_zip.as_uri(), '--dest', str(dest), '--no-progress']) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and words in err, err
        assert err.startswith('dp-ros download-pusht: ')
    assert (tmp_path / 'notes.txt').read_text() == 'x'


def test_dp_ros_cli_subcommand(tmp_path, good_zip):
    dest = tmp_path / 'data'
    proc = subprocess.run(
        [sys.executable, '-m', 'dp_ros.cli', 'download-pusht', '--url', good_zip.as_uri(),
         '--dest', str(dest)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ReplayBuffer.open(dest / STORE).n_episodes == 2
