"""`dp-ros train` from a LeRobotDataset: the loaded arrays equal the zarr ones (states and
actions exactly, images within codec error), and a few training steps run from it."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml
import zarr
from support import PUSHT_DATASET, shortest_episodes, tiny_policy_section

from dp_ros.policy.checkpoint import read_policy_metadata
from training.config import TrainConfig, load_config
from training.dataset import PushTImageDataset
from training.dataset_meta import dataset_shape_meta
from training.errors import TrainConfigError
from training.lerobot_convert import zarr_to_lerobot
from training.lerobot_format import LeRobotFormatError
from training.lerobot_source import LeRobotStore, check_format
from training.replay_buffer import ReplayBuffer
from training.run_check import check_run
from training.trainer import train

KEYS = ('img', 'state', 'action')


@pytest.fixture(scope='module')
def datasets(tmp_path_factory):
    """(zarr, LeRobot) copies of the 5 shortest Push-T episodes."""
    root = tmp_path_factory.mktemp('data')
    _, eps = shortest_episodes(PUSHT_DATASET, 5, keys=KEYS)
    zarr_path = root / 'pusht5.zarr'
    ReplayBuffer.from_arrays({k: np.concatenate([ep[k] for ep in eps]) for k in KEYS},
                             np.cumsum([len(ep['state']) for ep in eps])).save_to(
        zarr_path, progress=False)
    lerobot = root / 'pusht5_lerobot'
    zarr_to_lerobot(zarr_path, lerobot, fps=10, progress=False)
    return zarr_path, lerobot


def test_loaded_arrays_equal_the_zarr_ones(datasets):
    zarr_path, lerobot = datasets
    a = PushTImageDataset(zarr_path, progress=False)
    b = PushTImageDataset(lerobot, progress=False)  # the Push-T keys map: img -> observation.image
    ra, rb = a.replay_buffer, b.replay_buffer
    assert np.array_equal(ra.episode_ends, rb.episode_ends)
    for name in ('agent_pos', 'action'):
        assert rb.data[name].dtype == ra.data[name].dtype
        assert np.array_equal(rb.data[name], ra.data[name]), name
    assert rb.data['image'].dtype == np.uint8 and rb.data['image'].shape == ra.data['image'].shape
    err = np.abs(rb.data['image'].astype(np.int16) - ra.data['image'].astype(np.int16))
    assert err.mean() < 2.0
    assert len(a) == len(b) and a.n_train_episodes == b.n_train_episodes
    # the LeRobot side records its video's frame size (the zarr, with no sources, none)
    from_lerobot = dataset_shape_meta(lerobot)
    assert from_lerobot['obs']['image'].pop('frame_size') == list(ra.data['image'].shape[1:3])
    assert from_lerobot == dataset_shape_meta(zarr_path)
    item_a, item_b = a[7], b[7]
    assert item_b['action'].equal(item_a['action'])
    assert item_b['obs']['agent_pos'].equal(item_a['obs']['agent_pos'])


def test_feature_names_work_as_keys_and_cameras_decode_on_first_use(datasets):
    _, lerobot = datasets
    ds = PushTImageDataset(lerobot, rgb_keys={'cam': 'observation.image'},
                           low_dim_keys={'pos': 'observation.state[0:2]'}, progress=False)
    assert ds.obs_shapes() == {'cam': (3, 96, 96), 'pos': (2,)}
    store = LeRobotStore(lerobot)
    assert 'img' in store.data and 'observation.image' in store.data
    assert store.data['img'].shape == (store.n_steps, 96, 96, 3)
    assert store.data['img']._frames is None  # shapes without decoding
    with pytest.raises(Exception, match='bogus'):
        PushTImageDataset(lerobot, rgb_keys={'cam': 'bogus'}, progress=False)


def test_data_format_must_match_the_path(datasets):
    zarr_path, lerobot = datasets
    assert check_format(lerobot, 'auto') == 'lerobot'
    assert check_format(zarr_path, 'zarr') == 'zarr'
    with pytest.raises(LeRobotFormatError, match="data.format is 'lerobot'"):
        check_format(zarr_path, 'lerobot')
    with pytest.raises(LeRobotFormatError, match='is a LeRobotDataset'):
        check_format(lerobot, 'zarr')
    with pytest.raises(TrainConfigError, match='data.format'):
        load_config(None, ['data.format=parquet'])


def test_a_few_training_steps_from_the_lerobot_copy(datasets, tmp_path):
    _, lerobot = datasets
    cfg = {
        'policy': tiny_policy_section(num_inference_steps=2),
        'data': {'zarr_path': str(lerobot), 'format': 'lerobot', 'batch_size': 4,
                 'val_ratio': 0.2},
        'optim': {'lr': 3e-4, 'lr_warmup_steps': 1},
        'train': {'max_steps': 3, 'log_every': 1, 'val_every': 0, 'action_mse_every': 0,
                  'eval_every': 0, 'checkpoint_every': 0, 'final_eval': False,
                  'num_threads': 1, 'progress': False},
        'eval': {'n_episodes': 0},
    }
    path = tmp_path / 'cfg.yaml'
    path.write_text(yaml.safe_dump(cfg))
    summary = train(load_config(path), tmp_path / 'run')
    assert summary['step'] == 3
    losses = [r for r in map(yaml.safe_load, (tmp_path / 'run/log.jsonl').read_text().splitlines())
              if r.get('event') == 'train']
    assert len(losses) == 3 and all(np.isfinite(r['loss']) for r in losses)
    latest = tmp_path / 'run/checkpoints/latest'
    if latest.exists():
        assert read_policy_metadata(latest)['provenance']['dataset'] == str(lerobot)


def _tiny_run(zarr_path, **train_section) -> dict:
    return {
        'policy': tiny_policy_section(num_inference_steps=2),
        'data': {'zarr_path': str(zarr_path), 'batch_size': 4, 'val_ratio': 0.2},
        'optim': {'lr': 3e-4, 'lr_warmup_steps': 1},
        'train': {'max_steps': 1, 'log_every': 1, 'val_every': 0, 'action_mse_every': 0,
                  'eval_every': 0, 'checkpoint_every': 1, 'num_threads': 1,
                  'progress': False, **train_section},
        'eval': {'n_episodes': 0},
    }


@pytest.fixture(scope='module')
def lerobot_30fps(datasets, tmp_path_factory):
    zarr_path, _ = datasets
    out = tmp_path_factory.mktemp('fps') / 'pusht5_30fps'
    zarr_to_lerobot(zarr_path, out, fps=30, progress=False)
    return out


def test_a_lerobot_datasets_fps_is_the_policys_control_period(lerobot_30fps, tmp_path):
    """Left unset, train.control_period_s is the dataset's 1 / fps: the checkpoint of a 30 fps
    dataset says 30 Hz, and config.yaml records it."""
    cfg = TrainConfig.from_dict(_tiny_run(lerobot_30fps))
    run = tmp_path / 'run'
    assert train(cfg, run)['step'] == 1
    meta = read_policy_metadata(run / 'checkpoints' / 'latest')
    assert meta['control_period_s'] == pytest.approx(1 / 30)
    assert load_config(run / 'config.yaml').train.control_period_s == pytest.approx(1 / 30)


def test_a_control_period_other_than_the_datasets_is_refused_naming_both(lerobot_30fps,
                                                                         tmp_path):
    cfg = TrainConfig.from_dict(_tiny_run(lerobot_30fps, control_period_s=0.1))
    with pytest.raises(TrainConfigError) as err:
        check_run(cfg, tmp_path / 'run')
    message = str(err.value)
    assert 'train.control_period_s is 0.1 s (10 Hz)' in message
    assert f'{lerobot_30fps} records fps 30' in message and '30 Hz' in message
    assert 'unset (null)' in message and '\n' not in message
    assert not (tmp_path / 'run').exists()
    # the dataset's own period, written out, is no change
    same = TrainConfig.from_dict(_tiny_run(lerobot_30fps, control_period_s=1 / 30))
    check_run(same, tmp_path / 'run')


def test_a_zarr_stores_recorded_rate_is_read_the_same_way(datasets, tmp_path):
    zarr_path, _ = datasets
    unrecorded = TrainConfig.from_dict(_tiny_run(zarr_path))
    check_run(unrecorded, tmp_path / 'run')
    assert unrecorded.train.control_period_s == 0.1  # Push-T's, when nothing says otherwise
    for attr, value, period in (('fps', 20, 0.05), ('control_period_s', 0.25, 0.25)):
        store = tmp_path / f'{attr}.zarr'
        shutil.copytree(zarr_path, store)
        zarr.open_group(str(store), mode='r+').attrs[attr] = value
        cfg = TrainConfig.from_dict(_tiny_run(store))
        check_run(cfg, tmp_path / 'run')
        assert cfg.train.control_period_s == pytest.approx(period)
        with pytest.raises(TrainConfigError, match=f'records {attr} {value:g}'):
            check_run(TrainConfig.from_dict(_tiny_run(store, control_period_s=0.1)),
                      tmp_path / 'run')
