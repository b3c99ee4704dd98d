"""A long run's leftovers when a save goes wrong (`dp-ros train`, training/trainer.py).

A process killed while it writes checkpoints/latest or a step_* snapshot (the OOM killer, a
power cut, SIGKILL from a scheduler) leaves the staging folder save_policy made beside it
(`.latest.tmp-XXXXXXXX`, as large as the policy: about 1 GB for the paper's network); the
next run in the folder removes it (run_dir.remove_save_leftovers). The kill here is real and
lands inside the write: the kernel's SIGXFSZ (default action: the process dies) when the file
being written passes RLIMIT_FSIZE. The train state's weight files are readable by others
(a colleague resumes the run), as the policy's are. A file system that refuses a write (a
full disk, a file over the size limit) is one line naming where it was writing and the
resume point kept, and the half-written `.train_state.tmp` is removed.
"""
from __future__ import annotations

import resource
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import checkout_env
from tiny_runs import saved_state, small_config, write_small_store

# dp-ros train on `config` into `run`, with files capped at `limit` bytes; `die` restores
# SIGXFSZ's default action (Python ignores it at start, turning the kill into EFBIG)
_CAPPED = """
import resource, signal, sys
limit, die = int(sys.argv[1]), sys.argv[2] == '1'
if die:
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from dp_ros.cli import main
sys.exit(main(['train', '--config', sys.argv[3], '--output', sys.argv[4], *sys.argv[5:]]))
"""


def _train(run: Path, config: Path, *overrides: str, limit: int | None = None,
           die: bool = False) -> subprocess.CompletedProcess:
    cap = limit if limit is not None else resource.RLIM_INFINITY
    return subprocess.run([sys.executable, '-c', _CAPPED, str(cap), '1' if die else '0',
                           str(config), str(run), *overrides],
                          env=checkout_env(), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def trained_to_step_2(tmp_path_factory) -> tuple[Path, Path]:
    """A small store and its config (checkpoint every 2 steps), trained to step 2 once for
    the module; each test damages its own copy (small_run)."""
    folder = tmp_path_factory.mktemp('trained')
    store = write_small_store(folder / 'small.zarr')
    config = folder / 'train.yaml'
    small_config(store, train={'max_steps': 2, 'checkpoint_every': 2, 'final_eval': False,
                               'num_threads': 1, 'progress': False, 'cpu': True,
                               'log_every': 1}).save(config)
    run = folder / 'run'
    done = _train(run, config)
    assert done.returncode == 0, done.stderr[-2000:]
    assert saved_state(run)['position']['step'] == 2
    return run, config


@pytest.fixture
def small_run(tmp_path, trained_to_step_2) -> tuple[Path, Path]:
    """This test's copy of the run trained to step 2 (same config and store: the run folder
    is all a resume reads from the output path)."""
    run, config = trained_to_step_2
    copy = Path(shutil.copytree(run, tmp_path / 'run', symlinks=True,
                                copy_function=shutil.copy2))
    assert saved_state(copy)['position']['step'] == 2
    return copy, config


def _model_bytes(run: Path) -> int:
    return (run / 'checkpoints' / 'latest' / 'model.safetensors').stat().st_size


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith('.'))


def test_a_save_killed_mid_write_leaves_no_staging_copy_after_the_resume(small_run):
    """A kill inside checkpoints/latest's write: the resumed run removes the staging copy
    it left (as large as the policy) and says so; else every such kill over days of
    training adds one hidden policy-sized folder to checkpoints/."""
    run, config = small_run
    killed = _train(run, config, 'train.max_steps=4', limit=_model_bytes(run) // 2, die=True)
    assert killed.returncode == -signal.SIGXFSZ, killed.stderr[-2000:]
    assert _hidden(run / 'checkpoints'), 'the kill left no staging copy: it missed the save'
    resumed = _train(run, config, 'train.max_steps=4')
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert saved_state(run)['position']['step'] == 4
    assert _hidden(run / 'checkpoints') == [], 'staging copies of killed saves still there'
    assert 'staging cop' in resumed.stderr and 'bytes' in resumed.stderr, resumed.stderr
    # the train state's weight files get its state.json's mode (the umask's), not
    # safetensors' owner-only 0600, as save_policy's: a colleague can resume the run
    state = run / 'train_state'
    want = oct(stat.S_IMODE((state / 'state.json').stat().st_mode))
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in state.glob('*.safetensors')}
    assert modes and set(modes.values()) == {want}, modes


def test_a_failed_train_state_save_leaves_no_half_written_copy(small_run):
    """A train-state save refused by the file system (here: a file over the size limit,
    one line, exit 2) removes its half-written `.train_state.tmp`, as save_policy removes
    its staging copy: on a full disk those bytes are the room the user needs to go on. The
    line names the train state and its step kept (latest was written at step 4 already)."""
    run, config = small_run
    # latest (the policy) fits; the optimizer state (twice the weights) does not
    failed = _train(run, config, 'train.max_steps=4', limit=_model_bytes(run) + 200_000)
    assert failed.returncode == 2, failed.stderr[-2000:]
    assert saved_state(run)['position']['step'] == 2  # the resume point is intact
    assert not (run / '.train_state.tmp').exists(), sorted(
        p.name for p in (run / '.train_state.tmp').iterdir())
    line = failed.stderr.strip().splitlines()[-1]
    assert line.startswith(f"dp-ros train: cannot write {run / 'train_state'}: "), line
    assert f"{run / 'train_state'} stays at step 2 (checkpoints/latest holds step 4)" in line


def test_a_refused_checkpoint_write_names_where_and_what_is_kept(small_run):
    """The one line for a checkpoint the file system refused names the folder it was
    writing (safetensors' own error names none: which disk filled up?), that train_state/
    and checkpoints/latest stay at the last saved step, and how to go on."""
    run, config = small_run
    failed = _train(run, config, 'train.max_steps=4', limit=_model_bytes(run) // 2)
    assert failed.returncode == 2, failed.stderr[-2000:]
    line = failed.stderr.strip().splitlines()[-1]
    assert line.startswith(f"dp-ros train: cannot write {run / 'checkpoints' / 'latest'}: "
                           ), line
    assert f"{run / 'train_state'} and checkpoints/latest stay at step 2" in line, line
    assert 'run the same command again to resume' in line, line
    assert _hidden(run / 'checkpoints') == []  # save_policy removed its staging copy



def test_a_first_train_state_save_refused_names_the_latest_it_wrote(tmp_path, trained_to_step_2):
    """The run's first resume point: checkpoints/latest fits, its train state does not. The
    line said 'this run saved nothing' with latest written; it names the step latest holds
    and that there is no train state to resume from."""
    _, config = trained_to_step_2
    run = tmp_path / 'run'
    model = _model_bytes(trained_to_step_2[0])
    failed = _train(run, config, limit=model + 200_000)
    assert failed.returncode == 2, failed.stderr[-2000:]
    assert (run / 'checkpoints' / 'latest' / 'model.safetensors').stat().st_size == model
    assert not (run / 'train_state').exists()
    line = failed.stderr.strip().splitlines()[-1]
    assert line.startswith(f"dp-ros train: cannot write {run / 'train_state'}: "), line
    assert ('this run saved no train state to resume from (checkpoints/latest holds step 2)'
            in line), line
    assert 'saved nothing' not in line
