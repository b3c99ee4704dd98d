"""`dp-ros dry-run-report`'s outputs are checked before any bag is read, as `dp-ros
open-loop` checks its own: an --output in a file's place or a directory was a traceback or a
line naming a temporary file, after the whole run; an --output ending in .png (the default
plot's path) had the plot silently replace the report. Found by review."""
from __future__ import annotations

import pytest
from support import nonempty_lines
from test_dry_run_report import write_dry_run_bag

from dp_ros import cli


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    path = tmp_path_factory.mktemp('outputs') / 'dry_run'
    write_dry_run_bag(path)
    return path


def refused(capsys, *args) -> str:
    """The one line of a refused run (exit 2)."""
    code = cli.main(['dry-run-report', *map(str, args), '--no-progress'])
    lines = nonempty_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    return lines[0]


def test_an_output_under_a_file_is_one_line_before_the_bags(bag, tmp_path, capsys):
    (tmp_path / 'afile').write_text('x')
    line = refused(capsys, bag, '--output', tmp_path / 'afile' / 'r.json')
    assert f'--output {tmp_path / "afile" / "r.json"}: {tmp_path / "afile"} is not a ' \
           'directory' in line
    # before the bags: a missing bag is not what it names
    line = refused(capsys, tmp_path / 'no_bag', '--output', tmp_path / 'afile' / 'r.json')
    assert 'no_bag' not in line


def test_an_output_that_is_a_directory_is_one_line_before_the_bags(bag, tmp_path, capsys):
    (tmp_path / 'isdir').mkdir()
    line = refused(capsys, tmp_path / 'no_bag', '--output', tmp_path / 'isdir')
    assert f'--output {tmp_path / "isdir"} is a directory' in line
    assert list((tmp_path / 'isdir').iterdir()) == []


def test_a_default_plot_path_that_is_a_directory_is_one_line_before_the_bags(tmp_path,
                                                                             capsys):
    """--output r.json where r.png (the default plot) is a directory: named before the bags
    are read, not after the report was written."""
    (tmp_path / 'r.png').mkdir()
    line = refused(capsys, tmp_path / 'no_bag', '--output', tmp_path / 'r.json')
    assert f'--output (its .png) {tmp_path / "r.png"} is a directory' in line
    assert not (tmp_path / 'r.json').exists()


@pytest.mark.parametrize('plot', [None, 'sub/../r.png'], ids=['default', 'same_path'])
def test_a_plot_in_the_reports_place_is_refused_before_the_bags(bag, tmp_path, capsys, plot):
    (tmp_path / 'sub').mkdir()
    line = refused(capsys, bag, '--output', tmp_path / 'r.png',
                   *(['--plot', tmp_path / plot] if plot else []))
    assert 'the plot would replace the report' in line and str(tmp_path / 'r.png') in line
    assert not (tmp_path / 'r.png').exists()
