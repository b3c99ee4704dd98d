"""A LeRobot >= 0.6 depth camera (a video feature of shape [H, W, 1], info is_depth_map;
12-bit codes in hevc gray12le) was decoded as rgb24 and trained on as a grey colour camera,
silently (a 16-bit PNG depth image clipped to 255: a blank camera). It is refused in one
line naming it and the way out, and the rest of the dataset converts without it."""
from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest
from test_lerobot_damaged_inputs import EPISODES, convert_back
from test_lerobot_damaged_inputs import lerobot as lerobot  # noqa: F401 (fixture)

from dp_ros import cli

DEPTH = 'observation.depth'


def add_depth_camera(root, shape=(16, 16, 1), depth_flag=True) -> None:
    """The dataset's camera feature copied as a depth camera, as lerobot 0.6 declares one
    (its frames are not reached: the refusal reads info.json)."""
    info = json.loads((root / 'meta/info.json').read_text())
    camera = info['features']['observation.image']
    info['features'][DEPTH] = {**camera, 'shape': list(shape),
                               'info': {**camera.get('info', {}), 'video.pix_fmt': 'gray12le',
                                        'is_depth_map': depth_flag}}
    (root / 'meta/info.json').write_text(json.dumps(info))
    table = pq.read_table(root / EPISODES)
    for column in [c for c in table.column_names if c.startswith('videos/observation.image/')]:
        table = table.append_column(column.replace('observation.image', DEPTH), table[column])
    pq.write_table(table, root / EPISODES)
    shutil.copytree(root / 'videos' / 'observation.image', root / 'videos' / DEPTH)


@pytest.mark.parametrize(('shape', 'flag', 'what'), [((16, 16, 1), True, 'a depth map'),
                                                     ((16, 16, 1), False, '1 channel(s)'),
                                                     ((16, 16, 3), True, 'a depth map')])
def test_a_depth_camera_is_refused_naming_it_and_the_way_out(tmp_path, lerobot, capsys,
                                                             shape, flag, what):
    add_depth_camera(lerobot, shape, flag)
    err = convert_back(tmp_path, lerobot, capsys)
    assert f"camera feature '{DEPTH}' is {what}" in err
    assert 'colour cameras of 3 channels only' in err and '--keys' in err


def test_the_rest_converts_without_it(tmp_path, lerobot, capsys):
    add_depth_camera(lerobot)
    out = tmp_path / 'back.zarr'
    code = cli.main(['convert', str(lerobot), str(out), '--no-progress', '--keys',
                     'observation.image', 'observation.state', 'action'])
    assert code == 0, capsys.readouterr().err
    assert out.is_dir()
