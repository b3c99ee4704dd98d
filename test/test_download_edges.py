"""download-pusht at its edges: archives that are unsafe, corrupt in other ways or lack the
store by a near name, sources named oddly (a folder, ~, a file URL with a space), checksums
in capitals, downloads cut off (a one-shot HTTP server on 127.0.0.1, nothing beyond this
machine), and what a failed run must leave alone (a --dest that was there, an old copy)."""
from __future__ import annotations

import hashlib
import socket
import struct
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import test_download
from test_download import STORE, leftovers, main, small_buffer, zip_tree

from training.download import DownloadError, download_pusht, fetch
from training.replay_buffer import ReplayBuffer

good_zip = test_download.good_zip  # the fixture: the small store, zipped


def one_member_zip(path: Path, method: int = zipfile.ZIP_STORED, text: str = '{}') -> Path:
    """A zip holding only STORE/.zgroup."""
    with zipfile.ZipFile(path, 'w', method) as zf:
        zf.writestr(f'{STORE}/.zgroup', text)
    return path


def patch_local_header(archive: Path, edit) -> Path:
    """Rewrite the first member's bytes: edit(data, local header offset) changes them."""
    data = bytearray(archive.read_bytes())
    edit(data, data.find(b'PK\x03\x04'))
    archive.write_bytes(bytes(data))
    return archive


@pytest.fixture
def serve_once() -> Iterator:
    """serve(payload, reset, meanwhile) -> URL: 127.0.0.1 answers one request with `payload`
    and closes (reset: with a TCP reset, as a dropped connection does); meanwhile() runs
    before the answer (what another command does while the download runs)."""
    threads = []

    def serve(payload: bytes, reset: bool = False,
              meanwhile: Callable[[], object] | None = None) -> str:
        server = socket.create_server(('127.0.0.1', 0))

        def answer() -> None:
            with server, server.accept()[0] as conn:
                request = b''
                while b'\r\n\r\n' not in request:
                    request += conn.recv(4096)
                if meanwhile is not None:
                    meanwhile()
                conn.sendall(payload)
                if reset:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))

        threads.append(threading.Thread(target=answer, daemon=True))
        threads[-1].start()
        return f'http://127.0.0.1:{server.getsockname()[1]}/pusht.zip'

    yield serve
    for thread in threads:
        thread.join(timeout=30)


# --- what the archive holds ------------------------------------------------------------------

def test_an_absolute_member_path_is_refused_by_name(tmp_path, capsys):
    archive = tmp_path / 'evil.zip'
    with zipfile.ZipFile(one_member_zip(archive), 'a') as zf:
        zf.writestr('/pusht/evil.txt', 'x')
    dest = tmp_path / 'data'
    assert main(['--url', str(archive), '--dest', str(dest), '--no-progress']) == 2
    assert capsys.readouterr().err.strip().splitlines() == [  # named as the user gave it
        f"dp-ros download-pusht: unsafe path in {archive}: '/pusht/evil.txt'"]
    assert not dest.exists()


def test_a_store_only_by_a_longer_name_is_missing_and_the_tops_are_listed(tmp_path, capsys):
    """pusht/pusht_cchi_v7_replay.zarr.bak/ is not the store."""
    small_buffer().save_to(tmp_path / 'src' / f'{STORE}.bak')
    (tmp_path / 'src' / 'README').write_text('x')
    archive = zip_tree(tmp_path / 'src', tmp_path / 'bak.zip')
    assert main(['--url', str(archive), '--dest', str(tmp_path / 'data'), '--no-progress']) == 2
    assert f"lacks {STORE}/ (top-level entries: ['README', 'pusht'])" in capsys.readouterr().err


def test_an_unknown_compression_method_is_a_corrupt_archive(tmp_path):
    """A damaged header can name a method zipfile does not know (NotImplementedError)."""
    def method_99(data: bytearray, local: int) -> None:
        data[local + 8:local + 10] = struct.pack('<H', 99)
        central = data.find(b'PK\x01\x02')
        data[central + 10:central + 12] = struct.pack('<H', 99)

    archive = patch_local_header(one_member_zip(tmp_path / 'm.zip'), method_99)
    with pytest.raises(DownloadError, match='is a corrupt zip archive: .*compression method'):
        download_pusht(str(archive), tmp_path / 'data', progress=False)
    assert not (tmp_path / 'data').exists()


def test_damaged_deflate_data_is_a_corrupt_archive(tmp_path):
    """Garbage where the compressed bytes are: zlib's error, not a traceback."""
    def garbage(data: bytearray, local: int) -> None:
        size = struct.unpack_from('<I', data, local + 18)[0]
        start = local + 30 + sum(struct.unpack_from('<HH', data, local + 26))
        data[start:start + size] = b'\xff' * size

    archive = patch_local_header(
        one_member_zip(tmp_path / 'z.zip', zipfile.ZIP_DEFLATED, 'a' * 5000), garbage)
    with pytest.raises(DownloadError, match='is a corrupt zip archive: .*decompressing'):
        download_pusht(str(archive), tmp_path / 'data', progress=False)


def test_members_that_collide_on_disk_cannot_be_unpacked(tmp_path):
    """STORE/x as a file and STORE/x/y under it: the file system refuses, named as such."""
    archive = tmp_path / 'c.zip'
    with zipfile.ZipFile(archive, 'w') as zf:
        zf.writestr(f'{STORE}/x', '1')
        zf.writestr(f'{STORE}/x/y', '2')
    with pytest.raises(DownloadError, match='cannot unpack .*Not a directory'):
        download_pusht(str(archive), tmp_path / 'data', progress=False)
    assert not (tmp_path / 'data').exists()


def test_a_store_that_is_a_file_is_no_replay_buffer(tmp_path):
    """STORE as one file passes the name check: opening it fails, as a DownloadError."""
    archive = tmp_path / 'f.zip'
    with zipfile.ZipFile(archive, 'w') as zf:
        zf.writestr(STORE, 'not a store')
    with pytest.raises(DownloadError, match='unpacked store does not open as a replay buffer'):
        download_pusht(str(archive), tmp_path / 'data', progress=False)
    assert not (tmp_path / 'data').exists()


# --- where the archive comes from ------------------------------------------------------------

def test_a_folder_as_the_source_is_named_a_directory(tmp_path):
    with pytest.raises(DownloadError, match=f'{tmp_path} is a directory'):
        fetch(str(tmp_path), tmp_path / 'out.zip', progress=False)


def test_a_source_under_the_home_folder_is_found_by_tilde(tmp_path, good_zip, monkeypatch):
    monkeypatch.setenv('HOME', str(good_zip.parent))
    sha = hashlib.sha256(good_zip.read_bytes()).hexdigest()
    assert fetch('~/pusht.zip', tmp_path / 'copy.zip', progress=False) == sha


def test_a_file_url_with_an_escaped_space_names_the_file(tmp_path, good_zip):
    spaced = tmp_path / 'my downloads'
    spaced.mkdir()
    source = good_zip.rename(spaced / 'pusht.zip')
    assert '%20' in source.as_uri()
    store = download_pusht(source.as_uri(), tmp_path / 'data', progress=False)
    assert ReplayBuffer.open(store).n_episodes == 2


def test_a_checksum_in_capitals_is_the_same_checksum(tmp_path, good_zip, capsys):
    sha = hashlib.sha256(good_zip.read_bytes()).hexdigest().upper()
    assert main(['--url', str(good_zip), '--dest', str(tmp_path / 'data'), '--sha256', sha,
                 '--no-progress']) == 0
    assert '2 episodes, 9 steps' in capsys.readouterr().out


def test_no_progress_means_nothing_on_stderr(tmp_path, good_zip, capsys):
    """No bar for the copy nor for the unpacking (logs of scripted runs stay readable)."""
    assert main(['--url', str(good_zip), '--dest', str(tmp_path / 'data'), '--no-progress']) == 0
    assert capsys.readouterr().err == ''


def test_a_wrong_checksum_names_both_sums(tmp_path, good_zip):
    sha = hashlib.sha256(good_zip.read_bytes()).hexdigest()
    with pytest.raises(DownloadError, match=f'is {sha}, expected {"0" * 64}$'):
        download_pusht(str(good_zip), tmp_path / 'data', sha256='0' * 64, progress=False)


def test_a_download_shorter_than_its_content_length_is_truncated(tmp_path, serve_once):
    url = serve_once(b'HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n' + b'x' * 100)
    with pytest.raises(DownloadError, match=r'is truncated: got 100 of 1000 bytes'):
        download_pusht(url, tmp_path / 'data', progress=False)
    assert not (tmp_path / 'data').exists()


def test_a_connection_reset_midway_is_a_download_error(tmp_path, serve_once):
    url = serve_once(b'HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n' + b'x' * 5000,
                     reset=True)
    with pytest.raises(DownloadError, match=f'{url}.*reset by peer'):
        download_pusht(url, tmp_path / 'data', progress=False)
    assert not (tmp_path / 'data').exists()


def test_a_chunked_download_cut_off_midway_is_one_line(tmp_path, serve_once, capsys):
    url = serve_once(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n'
                     b'\r\n64\r\n' + b'x' * 100 + b'\r\n3e8\r\n' + b'y' * 10)
    dest = tmp_path / 'data'
    assert main(['--url', url, '--dest', str(dest), '--no-progress']) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f'dp-ros download-pusht: download of {url} failed: IncompleteRead(')
    assert not dest.exists()


# --- what a failed run leaves alone ----------------------------------------------------------

def test_a_failed_run_keeps_a_dest_that_was_there_and_what_it_holds(tmp_path, good_zip):
    dest = tmp_path / 'data'
    dest.mkdir()
    (dest / 'notes.txt').write_text('mine')
    with pytest.raises(DownloadError, match='sha256'):
        download_pusht(str(good_zip), dest, sha256='0' * 64, progress=False)
    assert leftovers(dest) == ['notes.txt'] and (dest / 'notes.txt').read_text() == 'mine'


def test_a_forced_run_that_fails_keeps_the_old_copy(tmp_path, good_zip):
    """--force replaces the old copy only once the new one is verified."""
    dest = tmp_path / 'data'
    download_pusht(str(good_zip), dest, progress=False)
    broken = tmp_path / 'broken.zip'
    broken.write_bytes(good_zip.read_bytes()[:-200])
    with pytest.raises(DownloadError, match='not a zip'):
        download_pusht(str(broken), dest, force=True, progress=False)
    assert leftovers(dest) == ['pusht'] and ReplayBuffer.open(dest / STORE).n_steps == 9
