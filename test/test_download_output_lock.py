"""A failed `dp-ros download-pusht` takes back only what it made: the --dest folders it
created, and only while empty (another command may have put files there meanwhile); a second
download into one --dest while one runs is refused in one line (dp_ros.atomic_dir
output_lock), since its swap would replace the first one's copy."""
from __future__ import annotations

import pytest
import test_download
import test_download_edges
from test_download import leftovers, main

from dp_ros.atomic_dir import output_lock
from training.download import DownloadError, download_pusht

good_zip = test_download.good_zip  # the fixture: the small store, zipped
serve_once = test_download_edges.serve_once  # the fixture: a one-shot HTTP server


# 100 of the 1000 bytes the header promises: a download cut off
CUT_OFF = b'HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n' + b'x' * 100


def test_a_failed_run_keeps_files_another_command_put_in_the_dest_it_created(
        tmp_path, serve_once):
    dest = tmp_path / 'data'
    url = serve_once(CUT_OFF, meanwhile=lambda: (dest / 'theirs.txt').write_text('another run'))
    with pytest.raises(DownloadError, match='truncated'):
        download_pusht(url, dest, progress=False)
    assert leftovers(dest) == ['theirs.txt']
    assert (dest / 'theirs.txt').read_text() == 'another run'


def test_a_failed_run_removes_every_empty_folder_it_made_and_no_other(tmp_path, serve_once):
    dest = tmp_path / 'a' / 'b' / 'data'
    url = serve_once(CUT_OFF)
    with pytest.raises(DownloadError, match='truncated'):
        download_pusht(url, dest, progress=False)
    assert not (tmp_path / 'a').exists() and tmp_path.is_dir()


def test_a_second_download_into_one_dest_is_refused_in_one_line(tmp_path, good_zip, capsys):
    dest = tmp_path / 'data'
    dest.mkdir()
    theirs = dest / '.pusht-download-first'  # the first run's temporary folder
    theirs.mkdir()
    with output_lock(dest / 'pusht', 'dp-ros download-pusht'):
        code = main(['--url', str(good_zip), '--dest', str(dest), '--no-progress'])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert line.startswith('dp-ros download-pusht: ') and 'being written by another' in line
    assert 'dp-ros download-pusht, process' in line
    assert leftovers(dest) == ['.pusht-download-first']
