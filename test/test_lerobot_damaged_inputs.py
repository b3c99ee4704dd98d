"""A LeRobot dataset damaged by a hand edit, another tool or an interrupted copy: a data
parquet missing a column or cut short, an mp4 cut short, info.json that is not an object, a
features list, a feature without its shape, no video_path, an episodes table without its
videos/ columns. The shared reader (training/lerobot_format.py) refuses each in one line
naming the file and what is wrong (exit 2), so convert, inspect and train all say it, and a
conversion leaves no output behind.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from dp_ros import cli
from training.lerobot_convert import zarr_to_lerobot
from training.lerobot_format import VideoEncoding
from training.replay_buffer import ReplayBuffer

DATA = 'data/chunk-000/file-000.parquet'
EPISODES = 'meta/episodes/chunk-000/file-000.parquet'


@pytest.fixture
def lerobot(tmp_path):
    """Two episodes of a 16x16 camera, a state and an action, as `dp-ros convert` writes them."""
    n = 10
    img = np.broadcast_to((np.arange(n) * 20).astype(np.uint8)[:, None, None, None],
                          (n, 16, 16, 3)).copy()
    store = tmp_path / 's.zarr'
    ReplayBuffer.from_arrays({'img': img, 'state': np.zeros((n, 3), np.float32),
                              'action': np.zeros((n, 2), np.float32)},
                             np.array([4, n])).save_to(store, progress=False)
    root = tmp_path / 'le'
    zarr_to_lerobot(store, root, fps=10, encoding=VideoEncoding(vcodec='h264'), progress=False)
    return root


def convert_back(tmp_path, root, capsys) -> str:
    """The one-line error of `dp-ros convert ROOT back.zarr`, which must leave nothing."""
    code = cli.main(['convert', str(root), str(tmp_path / 'back.zarr'), '--no-progress'])
    err = capsys.readouterr().err
    assert code == 2, err
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'back.zarr').exists()
    return err


def test_a_dropped_data_column_is_named(tmp_path, lerobot, capsys):
    pq.write_table(pq.read_table(lerobot / DATA).drop(['observation.state']), lerobot / DATA)
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'file-000.parquet' in err and "no column 'observation.state'" in err


def test_a_truncated_data_file_is_named(tmp_path, lerobot, capsys):
    (lerobot / DATA).write_bytes((lerobot / DATA).read_bytes()[:200])
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'file-000.parquet' in err and 'not a readable parquet file' in err


def test_a_truncated_video_is_named(tmp_path, lerobot, capsys):
    video = next((lerobot / 'videos').rglob('*.mp4'))
    video.write_bytes(video.read_bytes()[:len(video.read_bytes()) // 2])
    err = convert_back(tmp_path, lerobot, capsys)
    assert video.name in err and 'cannot be decoded' in err


def no_shape(info):
    del info['features']['observation.state']['shape']
    return info


def no_video_path(info):
    del info['video_path']
    return info


@pytest.mark.parametrize(('change', 'named'), [
    (lambda info: [info], 'not a JSON object'),
    (lambda info: {**info, 'features': list(info['features'])}, "'features' is a list"),
    (no_shape, "feature 'observation.state' needs a dtype and a shape"),
    (no_video_path, "no 'video_path'"),
], ids=['info_list', 'features_list', 'no_shape', 'no_video_path'])
def test_malformed_info_json_is_named(tmp_path, lerobot, capsys, change, named):
    path = lerobot / 'meta/info.json'
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'info.json' in err and named in err


def test_an_episodes_table_without_video_columns_is_named(tmp_path, lerobot, capsys):
    table = pq.read_table(lerobot / EPISODES)
    pq.write_table(table.drop([c for c in table.column_names if c.startswith('videos/')]),
                   lerobot / EPISODES)
    err = convert_back(tmp_path, lerobot, capsys)
    assert "no column 'videos/observation.image/chunk_index'" in err


def test_inspect_names_a_damaged_file_the_same_way(tmp_path, lerobot, capsys):
    (lerobot / DATA).write_bytes((lerobot / DATA).read_bytes()[:200])
    code = cli.main(['inspect', str(lerobot), '--no-progress'])
    err = capsys.readouterr().err
    assert code == 2 and 'not a readable parquet file' in err, err
