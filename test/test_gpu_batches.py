"""training/gpu_batches.py: batches built from device-held arrays equal the DataLoader's.

Runs with device='cpu' (the arithmetic is the same on a GPU; the CUDA case skips without one):
a small store with episodes shorter than the window, so both edges are padded, with and
without obs_steps (key_first_k); and a three-step training run whose losses are the same with
data.device_batches on and off. The tests that read a store skip where zarr is missing (the
GPU machine), the CUDA one needs none.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from support import one_torch_thread, tiny_policy_section  # noqa: F401 (autouse)

from training.batches import EpochBatches, iterate_batches
from training.gpu_batches import DeviceBatches, iterate_device_batches

EPISODE_ENDS = [3, 12, 13, 27]  # lengths 3, 9, 1, 14 with a 6-step window



@pytest.fixture(scope='module')
def store(tmp_path_factory):
    pytest.importorskip('zarr')
    from training.replay_buffer import ReplayBuffer

    rng = np.random.default_rng(0)
    n = EPISODE_ENDS[-1]
    path = tmp_path_factory.mktemp('data') / 'small.zarr'
    ReplayBuffer.from_arrays({
        'img': rng.integers(0, 256, size=(n, 8, 10, 3)).astype(np.uint8),
        'state': rng.uniform(0, 500, size=(n, 5)),
        'action': rng.uniform(0, 500, size=(n, 2)),
    }, EPISODE_ENDS).save_to(path)
    return path


def dataset(path, obs_steps):
    from training.dataset import PushTImageDataset

    return PushTImageDataset(path, horizon=6, pad_before=1, pad_after=3, val_ratio=0.0,
                             obs_steps=obs_steps, progress=False)


def assert_batches_equal(got: dict, want: dict) -> None:
    assert got.keys() == want.keys() and got['obs'].keys() == want['obs'].keys()
    for key in want['obs']:
        assert got['obs'][key].dtype == want['obs'][key].dtype, key
        assert got['obs'][key].is_contiguous(), key
        assert torch.equal(got['obs'][key], want['obs'][key]), key
    assert torch.equal(got['action'], want['action'])


@pytest.mark.parametrize('obs_steps', [2, None])
def test_every_window_equals_the_dataset_item(store, obs_steps):
    ds = dataset(store, obs_steps)
    builder = DeviceBatches.from_dataset(ds, 'cpu')
    assert len(builder) == len(ds)
    everything = list(range(len(ds)))
    want = torch.utils.data.default_collate([ds[i] for i in everything])
    assert_batches_equal(builder.batch(everything), want)
    some = [5, 0, len(ds) - 1, 5, 17]  # any order, repeats
    want = torch.utils.data.default_collate([ds[i] for i in some])
    assert_batches_equal(builder.batch(torch.tensor(some)), want)
    assert builder.batch(some)['obs']['image'].shape[1] == (obs_steps or 6)


def test_iteration_follows_epoch_batches(store):
    ds = dataset(store, 2)
    batches = EpochBatches(len(ds), 8, seed=3)
    loader = iterate_batches(ds, batches, epoch=1, start=2, num_workers=0, pin_memory=False,
                             persistent_workers=False)
    device = iterate_device_batches(DeviceBatches.from_dataset(ds, 'cpu'), batches, 1, 2)
    for _ in range(batches.per_epoch + 2):  # across an epoch boundary
        (e1, i1, b1), (e2, i2, b2) = next(loader), next(device)
        assert (e1, i1) == (e2, i2)
        assert_batches_equal(b2, b1)


def test_refuses_float_images():
    with pytest.raises(ValueError, match='uint8'):
        DeviceBatches({'image': np.zeros((4, 2, 2, 3), np.float32),
                       'action': np.zeros((4, 2), np.float32)}, np.zeros((1, 4), np.int64), 2,
                      ['image'], [], 'cpu')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_batches_equal_the_cpu_ones():
    """Synthetic arrays (no zarr on the GPU machine); the CPU builder is the reference."""
    rng = np.random.default_rng(1)
    arrays = {'image': rng.integers(0, 256, size=(20, 8, 10, 3), dtype=np.uint8),
              'agent_pos': rng.uniform(0, 500, size=(20, 2)).astype(np.float32),
              'action': rng.uniform(0, 500, size=(20, 2)).astype(np.float32)}
    # (buffer_start, buffer_end, sample_start, sample_end) of 6-step windows: padded before,
    # padded after, both, none
    rows = np.array([[0, 5, 1, 6], [14, 20, 0, 6], [9, 11, 1, 3], [3, 9, 0, 6]])
    args = (arrays, rows, 6, ['image'], ['agent_pos'])
    some = [0, 1, 2, 3, 1]
    want = DeviceBatches(*args, 'cpu', {'image': 2, 'agent_pos': 2}).batch(some)
    got = DeviceBatches(*args, 'cuda', {'image': 2, 'agent_pos': 2}).batch(some)
    assert got['action'].device.type == 'cuda'
    assert_batches_equal({'obs': {k: v.cpu() for k, v in got['obs'].items()},
                          'action': got['action'].cpu()}, want)


def test_training_losses_are_the_same_with_device_batches(tmp_path, store):
    pytest.importorskip('accelerate')
    from training.config import load_config
    from training.trainer import train

    losses = {}
    for on in (False, True):
        cfg = {
            'policy': tiny_policy_section(crop_shape=[6, 8], down_dims=[16, 32],
                                          num_keypoints=4, feature_dim=8,
                                          diffusion_step_embed_dim=16, horizon=8,
                                          n_action_steps=4,
                                          num_inference_steps=2),
            'data': {'zarr_path': str(store), 'batch_size': 4, 'val_ratio': 0.0,
                     'device_batches': on},
            'train': {'max_steps': 3, 'log_every': 1, 'val_every': 0, 'action_mse_every': 0,
                      'eval_every': 0, 'checkpoint_every': 0, 'final_eval': False,
                      'num_threads': 1, 'progress': False, 'cpu': True},
            'eval': {'n_episodes': 0},
        }
        path = tmp_path / f'cfg_{on}.yaml'
        path.write_text(yaml.safe_dump(cfg))
        run = tmp_path / f'run_{on}'
        train(load_config(path), run)
        records = [json.loads(line) for line in (run / 'log.jsonl').read_text().splitlines()]
        losses[on] = [r['loss'] for r in records if r.get('event') == 'train']
    assert len(losses[True]) == 3
    assert losses[True] == losses[False]
