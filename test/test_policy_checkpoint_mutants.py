"""Behaviour of the policy artifact (dp_ros/policy/checkpoint.py) outside the normalizer that
its other tests left unpinned (a second mutation review).

Pinned: the weights' dtypes listed sorted in policy.json; a save interrupted by Ctrl-C leaves
no staging folder; both files are fsynced before the swap; the count of fields a weights
record lacks when exactly four are; check_unedited leaves a damaged weights file to the
loader; load_policy puts the weights on the device asked for.

Each test kills a mutant that the module's other tests let live: a check dropped, a limit
moved by one, an exception kind not caught. Policies are the checkpoint tests' tiny one (a
32 px camera, 2-D state and action), really saved and read back.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from support import one_torch_thread, small_image_config  # noqa: F401 (fixture)

from dp_ros.policy import checkpoint
from dp_ros.policy.checkpoint import (
    METADATA_FILE,
    SAVED_CONFIG_KEY,
    WEIGHTS_FILE,
    CheckpointError,
    check_unedited,
    load_policy,
    read_policy_metadata,
    save_policy,
)
from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.normalizer import Normalizer


def make_policy() -> DiffusionPolicy:
    """The checkpoint tests' tiny policy: a 32 px camera, 2-D state and action."""
    rng = np.random.default_rng(0)
    norm = Normalizer.from_data({'action': rng.uniform(0, 512, (50, 2)),
                                 'agent_pos': rng.uniform(0, 512, (50, 2))})
    torch.manual_seed(0)
    return DiffusionPolicy(small_image_config(), norm).eval()


@pytest.fixture(scope='module')
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny policy saved; read, never written."""
    return save_policy(make_policy(), tmp_path_factory.mktemp('saved') / 'policy')


# ------------------------------------------------------------------ what a save writes

def test_the_recorded_dtypes_are_sorted(tmp_path: Path):
    """policy.json lists the weights' dtypes sorted (a set's order varies from run to run:
    the same weights would give another policy.json); mixed-precision weights load as fp32."""
    policy = make_policy()
    kinds = [torch.float16, torch.bfloat16, torch.float64, torch.float32]
    weights = {k: v.to(kinds[i % 4]) if v.is_floating_point() else v
               for i, (k, v) in enumerate(policy.state_dict().items())}
    path = save_policy(policy, tmp_path / 'mixed', state_dict=weights)
    dtypes = read_policy_metadata(path)['weights']['dtypes']
    assert dtypes == ['bfloat16', 'float16', 'float32', 'float64']
    assert {p.dtype for p in load_policy(path).parameters()} == {torch.float32}


def test_a_save_interrupted_by_ctrl_c_leaves_no_staging_folder(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    """KeyboardInterrupt (no Exception) during the save removes the half-written staging
    folder and keeps the old artifact."""
    path = save_policy(make_policy(), tmp_path / 'pol', provenance={'version': 'old'})
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def interrupted(src: Path, dst: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, '_replace_dir', interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_policy(make_policy(), path, provenance={'version': 'new'})
    assert [p.name for p in tmp_path.iterdir()] == ['pol']
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before


def test_both_files_are_fsynced_before_the_swap(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch):
    """The weights and policy.json reach the disk before the rename makes them the artifact
    (a power loss after it could otherwise leave an empty model.safetensors)."""
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f'/proc/self/fd/{fd}')).name)
        real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', recording_fsync)
    save_policy(make_policy(), tmp_path / 'pol')
    assert {WEIGHTS_FILE, METADATA_FILE} <= set(synced), synced


# ------------------------------------------------------------------ the hand-edit check

def with_record(saved: Path, into: Path, record: str) -> Path:
    """A copy of `saved` whose weights hold `record` as their record of the saved config."""
    shutil.copytree(saved, into)
    path = into / WEIGHTS_FILE
    with safe_open(str(path), framework='pt') as f:
        metadata = dict(f.metadata())
    save_file(load_file(str(path)), str(path), metadata={**metadata, SAVED_CONFIG_KEY: record})
    return into


def test_a_record_lacking_exactly_four_fields_names_all_four(saved: Path, tmp_path: Path):
    """Four missing fields are all named, with no 'and 0 more'."""
    record = dict(read_policy_metadata(saved)['config'])
    for name in ('horizon', 'n_obs_steps', 'kernel_size', 'sampler'):
        del record[name]
    policy = with_record(saved, tmp_path / 'record', json.dumps(record, sort_keys=True))
    with pytest.raises(CheckpointError) as info:
        check_unedited(policy, read_policy_metadata(policy))
    assert str(info.value).endswith(
        '(it lacks horizon, n_obs_steps, kernel_size, sampler)'), str(info.value)


@pytest.mark.parametrize('size', [0, 4, 100])
def test_check_unedited_leaves_a_damaged_weights_file_to_the_loader(saved: Path, tmp_path: Path,
                                                                     size: int):
    """A truncated model.safetensors (an interrupted copy): check_unedited says nothing,
    load_policy names the file as damaged."""
    policy = tmp_path / 'damaged'
    shutil.copytree(saved, policy)
    data = (policy / WEIGHTS_FILE).read_bytes()
    (policy / WEIGHTS_FILE).write_bytes(data[:size])
    assert check_unedited(policy, read_policy_metadata(policy)) is None
    with pytest.raises(CheckpointError, match=r'model\.safetensors is damaged or truncated'):
        load_policy(policy)


# ------------------------------------------------------------------ load_policy's device

def test_the_loaded_policy_is_on_the_asked_device(saved: Path):
    """load_policy moves every weight to `device` (read on the CPU first): here torch's
    'meta' device, which every machine has."""
    policy = load_policy(saved, device='meta')
    assert {t.device.type for t in [*policy.parameters(), *policy.buffers()]} == {'meta'}


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_the_loaded_policy_is_on_the_gpu_asked_for(saved: Path):
    """On a CUDA machine, device='cuda' gives a policy whose weights are all on the GPU."""
    policy = load_policy(saved, device='cuda')
    assert {t.device.type for t in [*policy.parameters(), *policy.buffers()]} == {'cuda'}
