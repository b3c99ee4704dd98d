"""Full-disk errors that name what could not be written (beyond test_cli_output_errors.py).

A full disk is simulated with RLIMIT_FSIZE (a write past the limit fails with EFBIG, as one
onto a full disk fails with ENOSPC; both are errors.OUTPUT_ERRNOS). Pinned: dp_ros/cli.py's
rule (one line, exit 2, no traceback) also for shutil.copytree's error, which lists every
file it could not copy and has no errno; and a write() or flush() failure, whose OSError
names no file, still says which file (atomic_dir.naming): 'cannot write: File too large'
leaves the user guessing which output filled the disk.
"""
from __future__ import annotations

from pathlib import Path

from support import (
    BAG2ZARR_PUSHT_CONFIG,
    shortest_episodes,
)
from test_cli_output_errors import one_line_error, run_with_file_limit, tiny_train_config
from tiny_runs import write_small_store

from dp_ros.bags.recorder import write_pusht_bag


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob('*'))
            if p.is_file()}


def test_bag2zarr_appending_onto_a_full_disk_is_one_line(tmp_path, pusht_zarr):
    """bag2zarr appending to a store (copied first) on a full disk: one line naming the
    store, exit 2, the store as it was; not a shutil.Error traceback listing every chunk."""
    _, episodes = shortest_episodes(pusht_zarr, 2)
    write_pusht_bag(tmp_path / 'bag', episodes)
    store = tmp_path / 'store.zarr'
    args = ('bag2zarr', str(tmp_path / 'bag'), '-c', str(BAG2ZARR_PUSHT_CONFIG),
            '-o', str(store), '--no-progress')
    made = run_with_file_limit(None, *args)
    assert made.returncode == 0, made.stderr[-600:]
    before = _tree(store)
    assert max(len(b) for b in before.values()) > 8 * 1024  # an image chunk passes the limit
    last = one_line_error(run_with_file_limit(8 * 1024, *args), 'bag2zarr')
    assert str(store) in last and 'File too large' in last, last
    assert _tree(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bag', 'store.zarr']


def test_inspect_json_onto_a_full_disk_names_the_file(tmp_path):
    """inspect --json whose summary does not fit: the line names the file (write_text's
    write() error carries no filename), not its hidden temporary copy."""
    store = write_small_store(tmp_path / 'small.zarr')
    proc = run_with_file_limit(200, 'inspect', str(store), '--json', str(tmp_path / 'summary.json'))
    last = one_line_error(proc, 'inspect')
    assert f'cannot write: {tmp_path / "summary.json"}: File too large' in last, last
    assert sorted(p.name for p in tmp_path.iterdir()) == ['small.zarr']


def test_train_log_onto_a_full_disk_names_the_file(tmp_path):
    """train whose log.jsonl fills the disk between saves: the line names log.jsonl and,
    as a refused checkpoint save does, how to go on (nothing saved: the same command)."""
    config = tiny_train_config(tmp_path, 40)
    proc = run_with_file_limit(4000, 'train', '--config', str(config),
                               '--output', str(tmp_path / 'run'))
    last = one_line_error(proc, 'train')
    assert len((tmp_path / 'run' / 'log.jsonl').read_bytes()) == 4000  # it was the one cut
    assert f'cannot write {tmp_path / "run" / "log.jsonl"}: ' in last, last
    assert 'this run saved nothing' in last and 'run the same command again' in last, last


def test_open_loop_plot_onto_a_full_disk_names_the_file(tmp_path):
    """open-loop whose plot does not fit (its report does): the line names the PNG, not the
    temporary file it is drawn into (training/plots.py save_figure), and that file is not
    left behind."""
    config = tiny_train_config(tmp_path, 1)
    trained = run_with_file_limit(None, 'train', '--config', str(config),
                                  '--output', str(tmp_path / 'run'))
    assert trained.returncode == 0, trained.stderr[-600:]
    output = tmp_path / 'ol' / 'report.json'
    proc = run_with_file_limit(8000, 'open-loop', str(tmp_path / 'run' / 'checkpoints' / 'latest'),
                               '--dataset', str(tmp_path / 'small.zarr'), '--episodes', '0',
                               '--output', str(output))
    last = one_line_error(proc, 'open-loop')
    assert str(output.with_suffix('.png')) in last and '.tmp' not in last, last
    assert not [p.name for p in output.parent.iterdir() if '.tmp' in p.name]  # nor on disk


def test_convert_onto_a_full_disk_names_the_dataset(tmp_path):
    """zarr -> LeRobot whose parquet does not fit: pyarrow's error names no file; the line
    names the dataset being written, and nothing of it is left."""
    store = write_small_store(tmp_path / 'small.zarr')
    out = tmp_path / 'out'
    proc = run_with_file_limit(3000, 'convert', str(store), str(out), '--fps', '10')
    last = one_line_error(proc, 'convert')
    assert last.startswith(f'dp-ros convert: cannot write: {out}: '), last
    assert sorted(p.name for p in tmp_path.iterdir()) == ['small.zarr']
