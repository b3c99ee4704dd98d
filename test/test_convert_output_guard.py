"""`dp-ros convert SRC OUT --overwrite` replaces OUT whole: an OUT that is the source, a
folder inside it, or a folder holding it (directly, or through a symlink) would delete or
damage the source. Such an output is refused in one line before anything is read or
written, in both directions, and without --overwrite the error does not invite --overwrite.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from dp_ros import cli
from training.lerobot_convert import zarr_to_lerobot
from training.replay_buffer import ReplayBuffer


def make_store(path):
    rng = np.random.default_rng(0)
    ReplayBuffer.from_arrays({'state': rng.normal(size=(10, 2)).astype(np.float32),
                              'action': rng.normal(size=(10, 2)).astype(np.float32)},
                             np.array([4, 10])).save_to(path, progress=False)
    return path


def convert(capsys, *args: object) -> tuple[int, str]:
    code = cli.main(['convert', *map(str, args), '--no-progress'])
    return code, capsys.readouterr().err


@pytest.mark.parametrize('via_link', [False, True], ids=['folder', 'symlink_to_folder'])
def test_an_output_that_holds_the_source_is_refused_and_the_source_stays(tmp_path, capsys,
                                                                        via_link):
    folder = tmp_path / 'data'
    store = make_store(folder / 'demos.zarr')
    (folder / 'notes.txt').write_text('mine')
    output = folder
    if via_link:
        output = tmp_path / 'link'
        os.symlink(folder, output)
    code, err = convert(capsys, store, output, '--fps', '10', '--overwrite')
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and 'holds the source' in err
    assert (store / 'data' / 'action').exists(), 'the source store was deleted'
    assert (folder / 'notes.txt').read_text() == 'mine'
    code, err = convert(capsys, store, output, '--fps', '10')
    assert code == 2 and '--overwrite' not in err, err


def test_an_output_inside_the_source_is_refused_both_ways(tmp_path, capsys):
    store = make_store(tmp_path / 'demos.zarr')
    code, err = convert(capsys, store, store / 'le', '--fps', '10', '--overwrite')
    assert code == 2 and 'inside the source' in err, err
    assert not (store / 'le').exists()
    lerobot = tmp_path / 'le'
    zarr_to_lerobot(store, lerobot, fps=10, progress=False)
    code, err = convert(capsys, lerobot, lerobot / 'meta', '--overwrite')
    assert code == 2 and 'inside the source' in err, err
    assert (lerobot / 'meta' / 'info.json').is_file()
