"""`dp-ros dry-run-report`'s plot: its title (topics, offset, coverage, lag) fits the figure;
its --plot suffix is checked before the bags are read."""
from __future__ import annotations

import imageio.v3 as iio
from test_dry_run_report import LEFT, RIGHT, write_dry_run_bag

from dp_ros import cli


def test_the_title_of_a_two_arm_dry_run_is_not_cut_off(tmp_path):
    """Two arms' reference topics (left + right controllers): the title, which says which
    sign of the lag means 'the policy behind', is inside the PNG (wrapped): no dark text
    pixel touches its left or right edge in the title band. It ran off both edges."""
    bag = tmp_path / 'arms'
    write_dry_run_bag(bag, two_arms=True)
    out = tmp_path / 'report.json'
    assert cli.main(['dry-run-report', str(bag), '--output', str(out), '--no-progress',
                     '--prefix', f'{LEFT}=left_', '--prefix', f'{RIGHT}=right_']) == 0
    image = iio.imread(out.with_suffix('.png'))[..., :3].astype(int)
    band = image[:30].min(axis=2)  # the title's rows
    assert band[:, :3].min() > 200 and band[:, -3:].min() > 200, \
        'the title runs off the figure (text pixels at its edges)'


def test_a_plot_suffix_no_writer_has_is_refused_before_the_bags(tmp_path, capsys):
    out = tmp_path / 'report.json'
    code = cli.main(['dry-run-report', str(tmp_path / 'no_such_bag'), '--output', str(out),
                     '--no-progress', '--plot', str(tmp_path / 'dry.gif')])
    err = capsys.readouterr().err
    assert code == 2 and '--plot' in err and 'no_such_bag' not in err, err
