"""Outputs that cannot be written, as on a lab machine whose disk fills up.

A full disk (simulated with RLIMIT_FSIZE: every write past the limit fails with EFBIG, as
ENOSPC does on a full disk) is the user's to fix: each command must say so in one line,
`dp-ros <cmd>: ...`, exit 2, without a traceback (dp_ros/cli.py's error rule), and leave
no output behind that a reader would take as complete.
"""
from __future__ import annotations

import resource
import shutil
import subprocess
from pathlib import Path

import yaml
from support import (
    BAG2ZARR_PUSHT_CONFIG,
    checkout_env,
    module_cmd,
    shortest_episodes,
    tiny_policy_section,
)
from tiny_runs import write_small_store

from dp_ros.bags.recorder import write_pusht_bag


def run_with_file_limit(limit_bytes: int | None, *args: str) -> subprocess.CompletedProcess:
    """`python -m dp_ros.cli ARGS` of this checkout with files capped at limit_bytes (None:
    not capped)."""
    def cap() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.run(module_cmd('dp_ros.cli', *args), env=checkout_env(), text=True,
                          capture_output=True, timeout=180, preexec_fn=cap)


def one_line_error(proc: subprocess.CompletedProcess, command: str) -> str:
    """No traceback, exit 2, and the last line (returned) is the command's (the SVT-AV1
    encoder's own teardown note, `Svt[error]: ...`, printed by the library at exit, is not
    ours)."""
    assert 'Traceback' not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-600:])
    last = [line for line in proc.stderr.splitlines()
            if line.strip() and not line.startswith('Svt[')][-1]
    assert last.startswith(f'dp-ros {command}: '), last
    return last


def test_download_pusht_onto_a_full_disk_is_one_line(tmp_path):
    """download-pusht whose archive does not fit on the disk: one line, exit 2."""
    source = tmp_path / 'src' / 'pusht'
    write_small_store(source / 'pusht_cchi_v7_replay.zarr')
    archive = shutil.make_archive(str(tmp_path / 'pusht'), 'zip', tmp_path / 'src', 'pusht')
    size = Path(archive).stat().st_size
    # the disk fills during the archive's last bytes (its final flush)
    proc = run_with_file_limit(size - 100, 'download-pusht', '--url', f'file://{archive}',
                               '--dest', str(tmp_path / 'dest'), '--no-progress')
    one_line_error(proc, 'download-pusht')
    assert not (tmp_path / 'dest' / 'pusht').exists()


def test_bag2zarr_onto_a_full_disk_is_one_line(tmp_path, pusht_zarr):
    """bag2zarr whose store's chunks do not fit on the disk: one line, exit 2, no store."""
    _, episodes = shortest_episodes(pusht_zarr, 2)
    write_pusht_bag(tmp_path / 'bag', episodes)
    output = tmp_path / 'out' / 'store.zarr'
    proc = run_with_file_limit(8 * 1024, 'bag2zarr', str(tmp_path / 'bag'), '-c',
                               str(BAG2ZARR_PUSHT_CONFIG), '-o', str(output),
                               '--no-progress')
    one_line_error(proc, 'bag2zarr')
    assert not output.exists()


def test_convert_onto_a_full_disk_is_one_line(tmp_path):
    """convert zarr -> LeRobot whose files do not fit on the disk: one line, exit 2."""
    store = write_small_store(tmp_path / 'small.zarr')
    output = tmp_path / 'le'
    proc = run_with_file_limit(2 * 1024, 'convert', str(store), str(output), '--fps', '10',
                               '--no-progress')
    one_line_error(proc, 'convert')
    assert not output.exists()


def test_convert_into_a_folder_that_is_a_file_is_one_line(tmp_path):
    """convert whose output's parent is a file: one line, exit 2 (as train and
    download-pusht say it), not a FileExistsError traceback."""
    store = write_small_store(tmp_path / 'small.zarr')
    (tmp_path / 'afile').write_text('x')
    proc = subprocess.run(module_cmd('dp_ros.cli', 'convert', str(store),
                                     str(tmp_path / 'afile' / 'le'), '--fps', '10',
                                     '--no-progress'),
                          env=checkout_env(), text=True, capture_output=True, timeout=120)
    one_line_error(proc, 'convert')


def tiny_train_config(tmp_path: Path, steps: int) -> Path:
    """The config file of a CPU run of `steps` steps on the small synthetic store, saved at
    its last step."""
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = {
        'policy': tiny_policy_section(crop_shape=[6, 8], down_dims=[16, 32], num_keypoints=4,
                                      feature_dim=8, diffusion_step_embed_dim=16, horizon=8,
                                      n_action_steps=4, num_inference_steps=2),
        'data': {'zarr_path': str(store), 'batch_size': 4, 'val_ratio': 0.2},
        'train': {'max_steps': steps, 'log_every': 1, 'val_every': 0, 'action_mse_every': 0,
                  'eval_every': 0, 'checkpoint_every': steps, 'final_eval': False,
                  'num_threads': 1, 'progress': False, 'cpu': True},
        'eval': {'n_episodes': 0},
    }
    config = tmp_path / 'cfg.yaml'
    config.write_text(yaml.safe_dump(cfg))
    return config


def test_train_saving_onto_a_full_disk_is_one_line(tmp_path):
    """train whose checkpoint does not fit on the disk: one line, exit 2."""
    config = tiny_train_config(tmp_path, steps=2)
    proc = run_with_file_limit(256 * 1024, 'train', '--config', str(config), '--output',
                               str(tmp_path / 'run'))
    one_line_error(proc, 'train')
    assert not (tmp_path / 'run' / 'checkpoints' / 'latest').exists()


def test_train_into_a_dangling_symlink_is_one_line(tmp_path):
    """--output a symlink whose destination is not there (a disk not mounted, a folder not
    made yet): one line, exit 2 (or the run made there), not a FileExistsError traceback."""
    config = tiny_train_config(tmp_path, steps=1)
    link = tmp_path / 'run'
    link.symlink_to(tmp_path / 'elsewhere' / 'run')
    proc = subprocess.run(module_cmd('dp_ros.cli', 'train', '--config', str(config),
                                     '--output', str(link)),
                          env=checkout_env(), text=True, capture_output=True, timeout=180)
    if proc.returncode == 0:
        assert (tmp_path / 'elsewhere' / 'run' / 'checkpoints' / 'latest').is_dir()
    else:
        one_line_error(proc, 'train')


def test_inspect_plot_onto_a_full_disk_is_one_line(tmp_path):
    """inspect --plot whose image does not fit on the disk: one line, exit 2."""
    store = write_small_store(tmp_path / 'small.zarr')
    proc = run_with_file_limit(4 * 1024, 'inspect', str(store), '--plot',
                               str(tmp_path / 'plot.png'))
    one_line_error(proc, 'inspect')
    assert not (tmp_path / 'plot.png').exists()
