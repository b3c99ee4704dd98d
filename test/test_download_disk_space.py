"""`dp-ros download-pusht` compares what it is about to write with the free disk before it
writes: a server's Content-Length before the download, a zip's declared member sizes before
unpacking. One line naming both sizes, and nothing left behind, instead of an OSError
(ENOSPC) minutes in. The sizes are declared far beyond any disk (a petabyte, a tebibyte), so
no full file system is needed."""
from __future__ import annotations

import zipfile

from test_download import STORE, leftovers, main
from test_download_edges import serve_once  # noqa: F401 (fixture)

from dp_ros.atomic_dir import free_disk


def test_a_server_announcing_more_than_the_free_disk_is_refused_before_the_download(
        tmp_path, serve_once, capsys):  # noqa: F811 (fixture)
    url = serve_once(b'HTTP/1.0 200 OK\r\nContent-Length: 1000000000000000\r\n\r\n' + b'x' * 100)
    dest = tmp_path / 'data'
    assert main(['--url', url, '--dest', str(dest), '--no-progress']) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    # the zip and its unpacking beside it: twice the announced size
    assert line.startswith(f'dp-ros download-pusht: downloading {url} and unpacking it '
                           f'beside itself needs 1,907,348,633 MiB and {dest} has ')
    assert line.endswith(' MiB free: free some space or give another --dest')
    assert not dest.exists()


def test_room_for_the_zip_but_not_its_unpacking_beside_it_is_refused_before_the_download(
        tmp_path, serve_once, monkeypatch, capsys):  # noqa: F811 (fixture)
    """The zip stays until it is unpacked beside itself: a disk with room for the download
    alone was refused only after it, at the unpacking."""
    import training.download as download

    mib = 2**20
    url = serve_once(b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' % (30 * mib)
                     + b'x' * 100)
    monkeypatch.setattr(download, 'free_disk', lambda path: 45 * mib)  # 30 fits, 60 does not
    dest = tmp_path / 'data'
    assert main(['--url', url, '--dest', str(dest), '--no-progress']) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(f'downloading {url} and unpacking it beside itself needs 60 MiB and '
                         f'{dest} has 45 MiB free: free some space or give another --dest')
    assert not dest.exists()


def test_an_archive_declaring_more_than_the_free_disk_is_refused_before_unpacking(
        tmp_path, capsys):
    archive = tmp_path / 'pusht.zip'
    members = 256
    with zipfile.ZipFile(archive, 'w', zipfile.ZIP_STORED) as zf:
        zf.writestr(f'{STORE}/.zgroup', '{}')
        for i in range(members - 1):
            zf.writestr(f'{STORE}/blob{i}', b'x')
        zf.writestr('README', b'outside pusht/: not unpacked, not counted')
    # each member's size in the central directory (what zipfile reads) becomes 4 GiB
    data = bytearray(archive.read_bytes())
    start, patched = data.find(b'PK\x01\x02'), 0
    while start != -1:
        name_len = int.from_bytes(data[start + 28:start + 30], 'little')
        if not bytes(data[start + 46:start + 46 + name_len]).startswith(b'README'):
            data[start + 24:start + 28] = (2**32 - 1024).to_bytes(4, 'little')
            patched += 1
        start = data.find(b'PK\x01\x02', start + 4)
    assert patched == members
    archive.write_bytes(bytes(data))
    free = free_disk(tmp_path)
    assert free is not None and free < members * (2**32 - 1024)

    dest = tmp_path / 'data'
    assert main(['--url', str(archive), '--dest', str(dest), '--no-progress']) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f'dp-ros download-pusht: unpacking {archive} ({members} files) needs '
                           f'1,048,576 MiB and {dest} has ')
    assert not dest.exists() and leftovers(tmp_path) == ['pusht.zip']
