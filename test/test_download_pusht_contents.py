"""download-pusht puts the demonstrations where every default reader looks, and refuses a zip
whose store holds no Push-T demonstrations (it opened as a replay buffer and was unpacked,
though the shipped configs and the sim's replay read img, state and action from it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from test_download import STORE, leftovers, main, zip_tree

from sim_bridge.replay import DEFAULT_DATASET
from training.config import DEFAULT_ZARR
from training.download import DEFAULT_DEST
from training.replay_buffer import ReplayBuffer


def test_the_default_dest_is_where_the_configs_replay_and_arm_record_read():
    """DEST/pusht/pusht_cchi_v7_replay.zarr is training's and replay's default dataset."""
    assert DEFAULT_DEST / STORE == Path(DEFAULT_ZARR) == DEFAULT_DATASET


def test_a_store_without_the_push_t_keys_is_refused_and_nothing_is_left(tmp_path, capsys):
    """A replay buffer of other keys: one line naming what it lacks, exit 2, no pusht/."""
    ReplayBuffer.from_arrays({'joints': np.zeros((6, 3), np.float32)}, [3, 6]).save_to(
        tmp_path / 'src' / STORE)
    archive = zip_tree(tmp_path / 'src', tmp_path / 'other.zip')
    dest = tmp_path / 'data'
    assert main(['--url', archive.as_uri(), '--dest', str(dest), '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'holds no Push-T demonstrations' in err and "'img', 'state', 'action'" in err, err
    assert leftovers(dest) == []
