"""`dp-ros download-pusht --url file://DIR` (or a local DIR) where DIR is a directory that
exists: one line, exit code 2, saying it is a directory and which archive to give instead,
never the untrue 'no such file'; nothing is written at --dest."""
from __future__ import annotations

import pytest
from support import nonempty_lines

from dp_ros import cli


@pytest.mark.parametrize('as_uri', [True, False], ids=['file_url', 'local_path'])
def test_a_directory_is_named_a_directory_not_missing(tmp_path, capsys, as_uri):
    folder = tmp_path / 'zips'
    folder.mkdir()
    url = folder.as_uri() if as_uri else str(folder)
    dest = tmp_path / 'dest'
    code = cli.main(['download-pusht', '--url', url, '--dest', str(dest), '--no-progress'])
    lines = nonempty_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    assert 'no such file' not in lines[0]
    assert f'{folder} is a directory' in lines[0] and f'{url}/pusht.zip' in lines[0]
    assert not dest.exists()
