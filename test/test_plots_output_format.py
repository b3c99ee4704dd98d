"""Figure outputs (`dp-ros plot --out`, and every --plot through save_figure): the file holds
the format its suffix names, or the suffix is refused in one line before any work; PNG bytes
under a .pdf name (a viewer or LaTeX then fails on it) were written before."""
from __future__ import annotations

import json

import pytest

from dp_ros import cli
from training.plots import figure_format


def write_log(path) -> None:
    path.write_text(''.join(json.dumps({'event': 'train', 'step': s, 'loss': 1.0 / (s + 1),
                                        'lr': 1e-4}) + '\n' for s in range(5)))


@pytest.mark.parametrize(('suffix', 'magic'), [('.pdf', b'%PDF'), ('.svg', b'<?xml'),
                                               ('.jpg', b'\xff\xd8\xff'), ('.png', b'\x89PNG')])
def test_plot_out_is_written_in_the_format_its_suffix_names(tmp_path, suffix, magic):
    log = tmp_path / 'log.jsonl'
    write_log(log)
    out = tmp_path / f'curves{suffix}'
    assert cli.main(['plot', str(log), '--out', str(out)]) == 0
    assert out.read_bytes()[:len(magic)] == magic
    assert not list(tmp_path.glob('.curves*'))  # no staging copy left beside it


def test_plot_out_with_a_suffix_no_writer_has_is_one_line_exit_2(tmp_path, capsys):
    log = tmp_path / 'log.jsonl'
    write_log(log)
    out = tmp_path / 'curves.avi'
    assert cli.main(['plot', str(log), '--out', str(out)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and '--out' in lines[0] and '.pdf' in lines[0], lines
    assert not out.exists()


def test_a_name_without_suffix_stays_png_and_an_unknown_one_is_refused():
    """save_figure's one rule: the suffix names the format; none means PNG, as before."""
    assert figure_format('curves') == 'png' and figure_format('a/b.PDF') == 'pdf'
    with pytest.raises(ValueError, match='must end in one of'):
        figure_format('curves.tiff')
