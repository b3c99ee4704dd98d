"""A converted Push-T subset loaded by lerobot's own LeRobotDataset, where one is installed.

lerobot pins an older torch than this project's, so it lives in another environment: set
DP_ROS_LEROBOT_PYTHON to a Python that can `import lerobot` (e.g. `pip install lerobot` in a
fresh venv) to run this; otherwise it is skipped. DP_ROS_LEROBOT_PRELOAD may name a module
that interpreter imports first (environment fixes of that machine). The other Python loads
every item, with delta_timestamps too, and hands back what it got; each must equal what
training/lerobot_format.py's reader gives.
"""
from __future__ import annotations

import os
import subprocess
import textwrap

import numpy as np
import pytest
from support import PUSHT_DATASET, shortest_episodes

from training.lerobot_format import LeRobotReader, LeRobotWriter, numeric_feature, video_feature

LEROBOT_PYTHON = os.environ.get('DP_ROS_LEROBOT_PYTHON')
pytestmark = pytest.mark.skipif(not LEROBOT_PYTHON, reason='DP_ROS_LEROBOT_PYTHON not set')

SCRIPT = textwrap.dedent('''
    import importlib, os, sys
    import numpy as np
    if os.environ.get('DP_ROS_LEROBOT_PRELOAD'):
        importlib.import_module(os.environ['DP_ROS_LEROBOT_PRELOAD'])
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    root, out = sys.argv[1], sys.argv[2]
    ds = LeRobotDataset('local/dp_ros_check', root=root, video_backend='pyav')
    items = [ds[i] for i in range(len(ds))]
    keys = ['observation.image', 'observation.state', 'action', 'keypoint', 'episode_index',
            'frame_index', 'index']
    arrays = {k: np.stack([it[k].numpy() for it in items]) for k in keys}
    arrays['task'] = np.array([it['task'] for it in items])
    win = LeRobotDataset('local/dp_ros_check', root=root, video_backend='pyav',
                         delta_timestamps={'observation.image': [-0.1, 0.0],
                                           'action': [i / 10 for i in range(16)]})
    w = win[5]
    arrays['win_image'] = w['observation.image'].numpy()
    arrays['win_action'] = w['action'].numpy()
    arrays['fps_episodes'] = np.array([ds.fps, ds.num_episodes, ds.num_frames])
    np.savez(out, **arrays)
''')


def test_lerobot_loads_what_dp_ros_wrote(tmp_path):
    _, eps = shortest_episodes(PUSHT_DATASET, 4, keys=('img', 'state', 'action', 'keypoint'))
    feats = {'observation.image': video_feature(96, 96),
             'observation.state': numeric_feature(eps[0]['state']),
             'action': numeric_feature(eps[0]['action']),
             'keypoint': numeric_feature(eps[0]['keypoint'])}
    root = tmp_path / 'ds'
    with LeRobotWriter(root, 10, feats, chunks_size=2, data_files_size_in_mb=0.01,
                       video_files_size_in_mb=0.03) as writer:
        for i, ep in enumerate(eps):
            writer.add_episode({'observation.image': ep['img'].astype(np.uint8),
                                'observation.state': ep['state'], 'action': ep['action'],
                                'keypoint': ep['keypoint']}, task=f'task {i % 2}')
    (tmp_path / 'load.py').write_text(SCRIPT)
    out = tmp_path / 'loaded.npz'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['HF_HUB_OFFLINE'] = '1'
    proc = subprocess.run([LEROBOT_PYTHON, str(tmp_path / 'load.py'), str(root), str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(out)
    reader = LeRobotReader(root)
    cols = reader.read_columns(['observation.state', 'action', 'keypoint', 'episode_index'])
    frames = reader.camera_frames('observation.image')
    n = len(frames)
    assert list(got['fps_episodes']) == [10, 4, n]
    assert np.array_equal(got['index'], np.arange(n))
    for key in ('observation.state', 'action', 'keypoint'):
        assert np.array_equal(got[key], cols[key]), key
    images = np.round(got['observation.image'] * 255).astype(np.uint8).transpose(0, 2, 3, 1)
    assert np.array_equal(images, frames)
    lengths = [len(ep['state']) for ep in eps]
    assert list(got['task']) == [f'task {i % 2}' for i, k in enumerate(lengths) for _ in range(k)]
    assert got['win_image'].shape == (2, 3, 96, 96) and got['win_action'].shape == (16, 2)
