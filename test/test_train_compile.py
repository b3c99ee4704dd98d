"""train.torch_compile and train.tf32 (issue 15's training step), on the CPU.

A compiled run must be the eager run up to float rounding (same data, same noise), keep the
eager parameter names in its checkpoints and train state, and load as an ordinary policy.
The run here compiles with 'aot_eager' (dynamo and autograd traced, no generated code:
seconds); inductor's kernels take 3 minutes to build for this network on the 2-core CPU and
their speed is a GPU matter, measured by bench/bench_gpu.py on a device.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tiny_runs import copy_episodes, no_curves, records, run_config  # noqa: F401

from dp_ros.policy.checkpoint import load_policy
from training.config import TrainConfig, TrainConfigError
from training.step_speed import tf32_matmuls
from training.trainer import Trainer

# none of these tests looks at curves.png: their runs skip drawing it (most of a tiny run's time)
pytestmark = pytest.mark.usefixtures('no_curves')


@pytest.fixture(scope='module')
def store(tmp_path_factory, pusht_zarr):
    return copy_episodes(pusht_zarr, tmp_path_factory.mktemp('data') / 'tiny.zarr')


def _config(store, mode: str | None) -> TrainConfig:
    return TrainConfig.from_dict(run_config(
        store, train={'torch_compile': mode, 'max_steps': 3, 'checkpoint_every': 3}))


def test_a_compiled_run_is_the_eager_run_up_to_rounding(tmp_path, store):
    eager, compiled = tmp_path / 'eager', tmp_path / 'compiled'
    start = Trainer(_config(store, None), eager)
    init = {k: v.clone() for k, v in start.policy.state_dict().items()}
    start.run()
    trainer = Trainer(_config(store, 'aot_eager'), compiled)
    # compiled in place: the trunks and the UNet are compiled modules, names unchanged
    assert trainer.policy.model._compiled_call_impl is not None
    cameras = trainer.policy.obs_encoder.cameras.values()
    assert all(c.backbone._compiled_call_impl is not None for c in cameras)
    assert trainer.eval_policy.model._compiled_call_impl is None  # sampling stays eager
    trainer.run()

    a = [r['loss'] for r in records(eager, 'train')]
    b = [r['loss'] for r in records(compiled, 'train')]
    assert len(a) == len(b) == 3
    np.testing.assert_allclose(b, a, rtol=1e-3)
    # the same update: where training moved a weight, the compiled run moved it alike
    want = load_file(eager / 'train_state' / 'model.safetensors')
    got = load_file(compiled / 'train_state' / 'model.safetensors')
    assert list(got) == list(want)
    moved = torch.cat([(want[k] - init[k]).abs().flatten() for k in want])
    apart = torch.cat([(got[k] - want[k]).abs().flatten() for k in want])
    assert moved.mean() > 1e-5 and apart.mean() < 0.05 * moved.mean()
    ema = load_file(compiled / 'train_state' / 'ema.safetensors')
    assert list(ema) == list(load_file(eager / 'train_state' / 'ema.safetensors'))
    # the checkpoint loads as an ordinary policy
    assert set(load_policy(compiled / 'checkpoints' / 'latest').state_dict()) == set(init)


@pytest.mark.parametrize('key, value', [('train.tf32', 1), ('train.channels_last', 'no way'),
                                        ('data.device_batches', None)])
def test_a_switch_that_is_not_true_or_false_is_refused(store, key, value):
    cfg = run_config(store)
    section, name = key.split('.')
    cfg[section][name] = value
    with pytest.raises(TrainConfigError, match=rf'{key} must be true or false, got {value!r}'):
        TrainConfig.from_dict(cfg)


@pytest.mark.parametrize('value, mode', [(True, 'default'), (False, None), (None, None),
                                         ('reduce-overhead', 'reduce-overhead')])
def test_compile_modes_read(store, value, mode):
    cfg = run_config(store, train={'torch_compile': value})
    assert TrainConfig.from_dict(cfg).train.torch_compile == mode


@pytest.mark.parametrize('value', ['ture', 'inductor', 1])
def test_an_unknown_compile_mode_is_refused_naming_the_choices(store, value):
    cfg = run_config(store, train={'torch_compile': value})
    with pytest.raises(TrainConfigError, match=rf"train.torch_compile {value!r} is not one of "
                                               r"\('default', 'reduce-overhead'"):
        TrainConfig.from_dict(cfg)


def test_tf32_applies_for_the_run_and_is_restored_after_it():
    before = torch.backends.cuda.matmul.allow_tf32
    for enabled in (True, False):
        with tf32_matmuls(enabled):
            assert torch.backends.cuda.matmul.allow_tf32 is enabled
        assert torch.backends.cuda.matmul.allow_tf32 is before
    with pytest.raises(RuntimeError), tf32_matmuls(not before):
        raise RuntimeError('a run that fails')
    assert torch.backends.cuda.matmul.allow_tf32 is before


def test_gpu_settings_in_a_cpu_run_are_said():
    from training.step_speed import gpu_settings_on_cpu

    # a CPU recipe (train.cpu: true) given the GPU recipe's overrides on a machine with CUDA
    text = gpu_settings_on_cpu('cpu', True, True, True, 'reduce-overhead')
    assert 'data.device_batches and train.torch_compile are meant for a GPU' in text
    assert 'add train.cpu=false' in text
    assert 'is meant for a GPU' in gpu_settings_on_cpu('cpu', True, True, True, None)
    # no GPU: only a compile is worth a word (it costs minutes); aot_eager is the quick check
    assert 'compiles for minutes' in gpu_settings_on_cpu('cpu', False, False, False, 'default')
    assert gpu_settings_on_cpu('cpu', False, False, True, None) is None
    assert gpu_settings_on_cpu('cpu', False, True, False, 'aot_eager') is None
    assert gpu_settings_on_cpu('cuda', True, False, True, 'reduce-overhead') is None
