"""`dp-ros replay --dataset D` where D is no zarr replay buffer: one line, exit code 2, saying
what D is and what replay takes, never zarr's 'No group found in store StorePath(...)' nor a
KeyError traceback. A LeRobotDataset (which train, inspect and open-loop read) is named as
one, with the `dp-ros convert` that makes it a replay buffer."""
from __future__ import annotations

import numpy as np
import pytest
import zarr
from support import nonempty_lines

from sim_bridge import replay
from training.lerobot_convert import zarr_to_lerobot
from training.replay_buffer import ReplayBuffer


def only_error_line(capsys) -> str:
    lines = nonempty_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    return lines[0]


def test_a_lerobot_dataset_is_named_with_the_conversion_replay_needs(tmp_path, capsys):
    store = tmp_path / 's.zarr'
    ReplayBuffer.from_arrays({'state': np.zeros((6, 5), np.float32),
                              'action': np.zeros((6, 2), np.float32)},
                             np.array([6])).save_to(store, progress=False)
    le = tmp_path / 'le'
    zarr_to_lerobot(store, le, fps=10, progress=False)
    assert replay.main(['--dataset', str(le), '--episode', '0']) == 2
    line = only_error_line(capsys)
    assert 'StorePath' not in line
    assert 'LeRobotDataset' in line and f'dp-ros convert {le} OUT.zarr' in line


@pytest.mark.parametrize('what', ['empty_dir', 'file', 'group_without_meta', 'array'])
def test_anything_else_that_is_no_replay_buffer_is_one_line(tmp_path, capsys, what):
    path = tmp_path / 'd'
    if what == 'empty_dir':
        path.mkdir()
    elif what == 'file':
        path.write_text('not a store')
    elif what == 'group_without_meta':
        zarr.open_group(str(path), mode='w').create_group('data')
    else:
        zarr.create_array(str(path), shape=(3,), dtype='f4')
    assert replay.main(['--dataset', str(path), '--episode', '0']) == 2
    line = only_error_line(capsys)
    assert 'StorePath' not in line
    assert f'{path} is not a zarr replay buffer' in line
