"""`dp-ros train` holds its whole dataset in memory: a set that cannot fit is refused up front.

The training data (frames as uint8, columns as float32) is measured from the store's array
shapes before anything loads and compared with the memory available (MemAvailable, a
cgroup's limit): a set over it is one line and exit 2, not a 20-line MemoryError traceback
or an OOM kill with no message minutes into the load; one near it is a warning."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from support import write_random_walk_store

from training import run_check
from training.config import DataConfig, TrainConfig
from training.errors import TrainConfigError
from training.lerobot_source import open_training_store
from training.run_check import available_memory, check_memory, training_data_bytes

ROOT = Path(__file__).resolve().parents[1]


def _ram_bytes() -> int:
    return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def _store_too_big_for_ram(path: Path, factor: float = 2.0) -> int:
    """A bag2zarr-like store (one 640x480 camera, 7-D state and action, 0.1 s period) whose
    frames need `factor` x this machine's RAM once loaded as uint8, written without its image
    chunks (absent chunks read as the fill value): instant and a few kB on disk."""
    from training.replay_buffer import DEFAULT_COMPRESSOR, ReplayBuffer, time_chunk_length

    h, w = 480, 640
    n = int(factor * _ram_bytes() / (h * w * 3)) // 600 * 600 + 600
    ReplayBuffer.create(path)
    group = zarr.open_group(str(path), mode='r+', zarr_format=2)
    chunk = time_chunk_length((h, w, 3), np.uint8)
    group['data'].create_array('cam0', shape=(n, h, w, 3), dtype=np.uint8,
                               chunks=(chunk, h, w, 3), compressors=DEFAULT_COMPRESSOR)
    q = np.sin(np.arange(n)[:, None] / 30.0 + np.arange(7)).astype(np.float32)
    for key in ('state', 'action'):
        group['data'].create_array(key, shape=(n, 7), dtype=np.float32, chunks=(n, 7),
                                   compressors=DEFAULT_COMPRESSOR)[:] = q
    ends = np.arange(600, n + 1, 600, dtype=np.int64)
    group['meta/episode_ends'].resize((len(ends),))
    group['meta/episode_ends'][:] = ends
    group.attrs['control_period_s'] = 0.1
    return n


def _limit_address_space() -> None:
    """The child may not map more than this machine's RAM: a loader that tries to hold twice
    the RAM fails at once instead of filling the machine (also where overcommit is on)."""
    resource.setrlimit(resource.RLIMIT_AS, (_ram_bytes(), _ram_bytes()))


def test_train_refuses_a_dataset_whose_frames_cannot_fit_in_memory_in_one_line(tmp_path):
    """`dp-ros train` on a store whose frames (held in RAM as uint8) need twice the machine's
    memory: one line naming the size, exit 2, no MemoryError traceback."""
    store = tmp_path / 'session.zarr'
    _store_too_big_for_ram(store)
    proc = subprocess.run(
        [sys.executable, '-m', 'training.train', '--config',
         str(ROOT / 'config' / 'train_example_arm.yaml'), '--output', str(tmp_path / 'run'),
         f'data.zarr_path={store}', 'data.rgb_keys={wrist: cam0}', 'data.batch_size=2',
         'data.num_workers=0', 'data.device_batches=false', 'train.max_steps=1',
         'train.cpu=true', 'train.val_every=0', 'train.action_mse_every=0',
         'train.num_threads=1', 'policy.down_dims=[16,32]', 'policy.resnet_width=0.25',
         'policy.crop_shape=[432,576]'],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        preexec_fn=_limit_address_space)
    assert 'Traceback' not in proc.stderr, proc.stderr[-600:]
    assert proc.returncode == 2, proc.stderr[-600:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('dp-ros train:') and 'memory' in last and 'GiB' in last, last
    assert 'smaller image size' in last and 'fewer episodes' in last, last
    assert not (tmp_path / 'run').exists()  # refused before the run directory is made


@pytest.fixture(scope='module')
def small(tmp_path_factory) -> tuple[TrainConfig, object]:
    """A Push-T-like store of 3 episodes of 20 steps (96x96 uint8 frames) and its config."""
    path = tmp_path_factory.mktemp('memory') / 'demos.zarr'
    write_random_walk_store(path, [20, 20, 20])
    cfg = TrainConfig(data=DataConfig(zarr_path=str(path), low_dim_keys={'agent_pos': 'state'}))
    return cfg, open_training_store(path)


def test_the_estimate_is_what_the_dataset_holds_plus_the_columns_read_whole(small,
                                                                          monkeypatch):
    """training_data_bytes: the arrays PushTImageDataset holds (frames uint8, state and
    action float32), plus the state and action arrays read whole while they load."""
    from training.dataset import PushTImageDataset

    monkeypatch.delenv('LOCAL_WORLD_SIZE', raising=False)
    cfg, store = small
    ds = PushTImageDataset(cfg.data.zarr_path, progress=False, **cfg.data.key_args())
    held = sum(a.nbytes for a in ds.replay_buffer.data.values())
    assert held == 60 * (96 * 96 * 3 + 4 * 5 + 4 * 2)
    read = 60 * 4 * (5 + 2)
    assert training_data_bytes(cfg, store) == held + read
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '4')  # torchrun: one copy per process
    assert training_data_bytes(cfg, store) == 4 * (held + read)


def test_a_set_over_the_memory_available_is_refused_naming_sizes_and_fixes(small,
                                                                         monkeypatch):
    cfg, store = small
    need = training_data_bytes(cfg, store)
    monkeypatch.setattr(run_check, 'available_memory', lambda: (need - 1, 'MemAvailable'))
    with pytest.raises(TrainConfigError) as err:
        check_memory(cfg, Path('demos.zarr'), store)
    message = str(err.value)
    assert '\n' not in message
    assert 'demos.zarr' in message and '2 MiB for 60 steps' in message, message
    assert 'available (MemAvailable)' in message and 'fewer episodes' in message, message


def test_a_set_near_the_memory_available_is_a_warning(small, monkeypatch):
    cfg, store = small
    need = training_data_bytes(cfg, store)
    monkeypatch.setattr(run_check, 'available_memory', lambda: (int(need / 0.9), 'MemAvailable'))
    [warning] = check_memory(cfg, Path('demos.zarr'), store)
    assert '90% of the' in warning and 'MemAvailable' in warning, warning
    # the bound is 80%: 85% warns, 75% does not
    monkeypatch.setattr(run_check, 'available_memory', lambda: (int(need / 0.85), 'MemAvailable'))
    assert len(check_memory(cfg, Path('demos.zarr'), store)) == 1
    monkeypatch.setattr(run_check, 'available_memory', lambda: (int(need / 0.75), 'MemAvailable'))
    assert check_memory(cfg, Path('demos.zarr'), store) == []
    monkeypatch.setattr(run_check, 'available_memory', lambda: (need * 2, 'MemAvailable'))
    assert check_memory(cfg, Path('demos.zarr'), store) == []
    monkeypatch.setattr(run_check, 'available_memory', lambda: None)  # not Linux: no check
    assert check_memory(cfg, Path('demos.zarr'), store) == []


def _cgroup(folder: Path, limit: str, usage: int, inactive: int, v1: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    names = ('memory.limit_in_bytes', 'memory.usage_in_bytes', 'total_inactive_file') if v1 \
        else ('memory.max', 'memory.current', 'inactive_file')
    (folder / names[0]).write_text(f'{limit}\n')
    (folder / names[1]).write_text(f'{usage}\n')
    (folder / 'memory.stat').write_text(f'anon 1\n{names[2]} {inactive}\n')


def test_a_cgroup_limit_below_the_free_memory_is_the_memory_available(tmp_path, monkeypatch):
    """A container's or a job's memory limit (cgroup v2 memory.max, v1
    memory.limit_in_bytes, of this process's cgroup or one above it), less what it uses but
    its inactive file cache: what the OOM killer counts, not the machine's free memory."""
    proc = tmp_path / 'proc'
    (proc / 'self').mkdir(parents=True)
    (proc / 'meminfo').write_text('MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n')
    (proc / 'self' / 'cgroup').write_text('4:memory:/job\n2:cpu,cpuacct:/job\n0::/job/step\n')
    root = tmp_path / 'cgroup'
    assert available_memory(root, proc) == (4000000 * 1024, 'MemAvailable')  # no limit files
    _cgroup(root / 'job' / 'step', 'max', 10**9, 0)
    _cgroup(root / 'job', str(3 * 2**30), 2 * 2**30, 2**29)  # 1.5 GiB left
    assert available_memory(root, proc) == (3 * 2**29, f'the limit in {root}/job/memory.max')
    _cgroup(root / 'memory' / 'job', str(2**30), 2**29, 0, v1=True)  # 0.5 GiB left
    assert available_memory(root, proc) == (
        2**29, f'the limit in {root}/memory/job/memory.limit_in_bytes')
    (root / 'memory' / 'job' / 'memory.limit_in_bytes').write_text('9223372036854771712\n')
    assert available_memory(root, proc)[0] == 3 * 2**29  # v1's "no limit"
