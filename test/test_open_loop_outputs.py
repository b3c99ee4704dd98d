"""`dp-ros open-loop --output X.png`: the plot's default path (--output as .png) is the
report's, and the plot silently replaced the report after the run; refused before it, as is
a --plot naming the report's path. Found by review."""
from __future__ import annotations

import pytest
from support import make_tiny_checkpoint

from dp_ros.errors import UserError
from training.open_loop import main


@pytest.mark.parametrize('plot', [None, 'sub/../r.png'], ids=['default', 'same_path'])
def test_a_plot_in_the_reports_place_is_refused_before_the_run(tmp_path, plot):
    (tmp_path / 'sub').mkdir()
    policy = make_tiny_checkpoint(tmp_path / 'p')
    with pytest.raises(UserError, match='the plot would replace the report') as info:
        main([str(policy), '--dataset', str(tmp_path / 'no_data.zarr'), '--output',
              str(tmp_path / 'r.png'), '--no-progress',
              *(['--plot', str(tmp_path / plot)] if plot else [])])
    assert str(tmp_path / 'r.png') in str(info.value)
    assert not (tmp_path / 'r.png').exists()
