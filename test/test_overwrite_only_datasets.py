"""`--overwrite` replaces a dataset, never anything else (a review: `dp-ros convert SRC
myfolder --overwrite` deleted another project's folder beside it, a file at the path too;
bag2zarr's --overwrite took the same swap). An existing output that is neither a zarr store
nor a LeRobot dataset (nor an empty folder) is refused, naming it, before any work; a
dataset is still replaced."""
from __future__ import annotations

import pytest
from test_bag2zarr import error_line, run
from test_bag2zarr_damaged_jpeg import write_bag_and_config
from test_lerobot_convert import source  # noqa: F401 (fixture)

from training.lerobot_convert import ConvertError, main
from training.lerobot_format import LeRobotReader
from training.replay_buffer import ReplayBuffer


def _other_project(path):
    (path / 'otherproject').mkdir(parents=True)
    (path / 'otherproject' / 'notes.txt').write_text('precious')


@pytest.mark.parametrize('kind', ['folder', 'file'])
def test_convert_overwrite_refuses_what_is_no_dataset(source, tmp_path, kind):  # noqa: F811
    out = tmp_path / 'myfolder'
    if kind == 'folder':
        _other_project(out)
    else:
        out.write_text('precious')
    with pytest.raises(ConvertError, match=f'--overwrite: {out} is a '):
        main([str(source), str(out), '--fps', '10', '--no-progress', '--overwrite'])
    assert (out / 'otherproject' / 'notes.txt' if kind == 'folder' else out).read_text() == \
        'precious'
    # a LeRobot dataset there, or an empty folder: replaced as before
    out = tmp_path / 'lr'
    out.mkdir()
    for _ in range(2):
        assert main([str(source), str(out), '--fps', '10', '--no-progress', '--overwrite']) == 0
        assert LeRobotReader(out).tasks()


def test_bag2zarr_overwrite_refuses_what_is_no_dataset(tmp_path, capsys):
    config = write_bag_and_config(tmp_path)
    out = tmp_path / 'myfolder'
    _other_project(out)
    assert run([tmp_path / 'bag'], config, out, '--overwrite') != 0
    assert f'--overwrite: {out} is a folder that holds no dataset' in error_line(capsys)
    assert (out / 'otherproject' / 'notes.txt').read_text() == 'precious'
    store = tmp_path / 'store.zarr'
    for _ in range(2):  # a zarr store there: replaced, not appended to
        assert run([tmp_path / 'bag'], config, store, '--overwrite') == 0
    capsys.readouterr()
    once = ReplayBuffer.open(store).n_episodes
    assert run([tmp_path / 'bag'], config, tmp_path / 'once.zarr') == 0
    assert ReplayBuffer.open(tmp_path / 'once.zarr').n_episodes == once
