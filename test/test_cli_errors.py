"""The error rule of `dp-ros` (dp_ros/cli.py, dp_ros/errors.py), through the installed script.

An expected error (a UserError, or a missing file or directory) is exactly one non-empty line
on stderr, `dp-ros <subcommand>: <message>` naming the problem, and exit code 2, with no
traceback, in every subcommand; it is found before anything is written or started, and
before torch loads (the cases run where `import torch` fails), so that it comes in about half
a second, not after the 3-6 s torch and diffusers take. Ctrl-C is one line and exit code 130.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from support import (
    BAG2ZARR_PUSHT_CONFIG,
    PUSHT_DATASET,
    REPO_ROOT,
    SHIPPED_CHECKPOINT,
    default_sigint,
    installed_env,
    installed_script,
    make_tiny_checkpoint,
    nonempty_lines,
    run_installed,
    without_torch,
)

from dp_ros.cli import SUBCOMMANDS


@dataclass(frozen=True)
class Case:
    subcommand: str
    args: tuple[str, ...]  # '{tmp}' is the test's tmp_path
    words: tuple[str, ...]  # the line names the problem with these
    writes_nothing: bool = True  # no file or directory appears in tmp_path


CASES = {
    'sim, a directory that is no checkpoint': Case(
        'sim', ('--checkpoint', '{tmp}/not_a_policy', '--no-progress'), ('policy.json',)),
    'train, missing config file': Case(
        'train', ('--config', '{tmp}/absent.yaml', '--output', '{tmp}/run'), ('absent.yaml',)),
    'train, unknown YAML key': Case(
        'train', ('--config', '{tmp}/bad_key.yaml', '--output', '{tmp}/run'), ('bogus_key',)),
    'train, missing dataset': Case(
        'train', ('--config', '{tmp}/no_data.yaml', '--output', '{tmp}/run'), ('absent.zarr',)),
    "train, the paper's dataset not fetched (to where the config reads it)": Case(
        'train', ('--config', '{tmp}/no_pusht.yaml', '--output', '{tmp}/run'),
        ('pusht_cchi_v7_replay.zarr not found', 'run `dp-ros download-pusht --dest ',
         '/datasets` or set data.zarr_path')),
    'train, init_from a policy that does not fit the config': Case(
        'train', ('--config', '{tmp}/bad_init.yaml', '--output', '{tmp}/run'),
        ('init_from', 'pusht_default', 'down_dims')),
    'bag2zarr, missing bag directory': Case(
        'bag2zarr', ('{tmp}/no_bags', '-c', str(BAG2ZARR_PUSHT_CONFIG), '-o', '{tmp}/out.zarr',
                     '--no-progress'), ('no_bags',)),
    'plot, missing run': Case(
        'plot', ('{tmp}/no_run', '--out', '{tmp}/curves.png'), ('no_run',)),
    'eval, missing checkpoint': Case(
        'eval', ('--checkpoint', '{tmp}/absent', '--output', '{tmp}/out/report.json'),
        ('absent', 'policy.json')),
    'eval via ros, missing checkpoint (no process started)': Case(
        'eval', ('--via', 'ros', '--checkpoint', '{tmp}/absent', '--output',
                 '{tmp}/out/report.json'), ('absent', 'policy.json')),
    'eval, bad --max-steps': Case(
        'eval', ('--checkpoint', '{tmp}/absent', '--max-steps', '0', '--output',
                 '{tmp}/out/report.json'), ('--max-steps',)),
    'eval, a policy of another robot (the point pusher on the arm sim)': Case(
        'eval', ('--checkpoint', str(SHIPPED_CHECKPOINT), '--robot', 'arm', '--output',
                 '{tmp}/out/report.json'), ("--robot 'arm'", 'takes 3 actions',
                                           'this policy outputs 2')),
    'eval, realtime without ros': Case(
        'eval', ('--checkpoint', '{tmp}/absent', '--mode', 'realtime', '--output',
                 '{tmp}/out/report.json'), ('--via ros',)),
    'inspect, missing dataset': Case(
        'inspect', ('{tmp}/absent.zarr', '--no-progress'), ('absent.zarr',)),
    'inspect, --episodes beyond the dataset': Case(
        'inspect', (str(PUSHT_DATASET), '--episodes', '300', '--plot', '{tmp}/p.png',
                    '--no-progress'), ('episodes 0..205',)),
    'open-loop, missing policy': Case(
        'open-loop', ('{tmp}/absent', '--output', '{tmp}/out/report.json'),
        ('absent', 'policy.json')),
    'open-loop, missing dataset': Case(
        'open-loop', (str(SHIPPED_CHECKPOINT), '--dataset', '{tmp}/absent.zarr', '--output',
                      '{tmp}/out/report.json'), ('absent.zarr',)),
    'open-loop, a split of a dataset it was not trained on': Case(
        'open-loop', (str(SHIPPED_CHECKPOINT), '--dataset', '{tmp}/other.zarr', '--episodes',
                      'val', '--output', '{tmp}/out/report.json', '--no-progress'),
        ('other.zarr', 'not the dataset the policy was trained on')),
    'dry-run-report, missing bag': Case(
        'dry-run-report', ('{tmp}/absent_bag', '--output', '{tmp}/out/report.json'),
        ('no such bag or folder', 'absent_bag')),
    'replay, missing dataset': Case(
        'replay', ('--dataset', '{tmp}/absent.zarr'), ('absent.zarr',)),
    'arm-record, missing dataset': Case(
        'arm-record', ('--output', '{tmp}/bags', '--dataset', '{tmp}/absent.zarr'),
        ('absent.zarr',)),
    'sim, missing checkpoint': Case('sim', ('--checkpoint', '{tmp}/absent'), ('absent',)),
    'convert, missing source': Case(
        'convert', ('{tmp}/absent.zarr', '{tmp}/out', '--fps', '10', '--no-progress'),
        ('absent.zarr',)),
    'push, a directory that is no policy': Case(
        'push', ('{tmp}/not_a_policy', 'hf://org/name'), ('policy.json',)),
    'node, no node answers': Case(
        'node', ('enable', '--node', 'nobody', '--timeout', '1'),
        ('service /nobody/enable not available', '--node')),
    'download-pusht, missing archive': Case(
        'download-pusht', ('--url', '{tmp}/absent.zip', '--dest', '{tmp}/data',
                           '--no-progress'), ('absent.zip',)),
}


def make_inputs(tmp) -> None:
    import numpy as np

    from training.replay_buffer import ReplayBuffer

    (tmp / 'not_a_policy').mkdir()
    ReplayBuffer.create(tmp / 'other.zarr').add_episode({  # Push-T's arrays, 3 steps
        'img': np.zeros((3, 96, 96, 3), np.uint8), 'state': np.zeros((3, 5), np.float32),
        'action': np.zeros((3, 2), np.float32)})
    (tmp / 'bad_key.yaml').write_text('train:\n  bogus_key: 1\n')
    (tmp / 'no_data.yaml').write_text(
        f"data:\n  zarr_path: {tmp / 'absent.zarr'}\ntrain:\n  progress: false\n")
    (tmp / 'no_pusht.yaml').write_text(
        f"data:\n  zarr_path: {tmp / 'datasets/pusht/pusht_cchi_v7_replay.zarr'}\n")
    (tmp / 'bad_init.yaml').write_text(  # the shipped policy has down_dims [64, 128, 256]
        f'policy:\n  down_dims: [32, 64, 128]\ndata:\n  zarr_path: {PUSHT_DATASET}\n'
        f'train:\n  init_from: {SHIPPED_CHECKPOINT}\n  progress: false\n')


def check_rule(case: Case, tmp_path) -> None:
    make_inputs(tmp_path)
    before = sorted(tmp_path.rglob('*'))
    args = [a.replace('{tmp}', str(tmp_path)) for a in case.args]
    env = without_torch(tmp_path.parent / f'{tmp_path.name}_no_torch')
    proc = run_installed('dp-ros', case.subcommand, *args, cwd=tmp_path, timeout=180, env=env)
    lines = nonempty_lines(proc.stderr)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f'dp-ros {case.subcommand}: '), lines[0]
    for word in case.words:
        assert word in lines[0], lines[0]
    if case.writes_nothing:
        assert sorted(tmp_path.rglob('*')) == before


def test_every_subcommand_has_an_error_case():
    covered = {c.subcommand for c in CASES.values()}
    assert covered == set(SUBCOMMANDS)


@pytest.mark.parametrize('case', [pytest.param(c, id=name) for name, c in CASES.items()])
def test_expected_error_is_one_line_and_exit_code_2(case, tmp_path):
    check_rule(case, tmp_path)


def test_a_command_that_needs_torch_fails_without_it(tmp_path):
    """The no-torch environment of the cases is real: a valid evaluation, which must load
    torch, fails in it, naming why."""
    proc = run_installed('dp-ros', 'eval', '--checkpoint', str(SHIPPED_CHECKPOINT), '--seeds',
                         '0', '--output', str(tmp_path / 'report.json'), cwd=tmp_path,
                         timeout=180, env=without_torch(tmp_path / 'no_torch'))
    assert proc.returncode != 0 and 'torch imported' in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / 'report.json').exists()


def test_unknown_subcommand(tmp_path):
    proc = run_installed('dp-ros', 'fly', cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert nonempty_lines(proc.stderr) == [
        f"dp-ros: unknown subcommand 'fly' (choose from {', '.join(SUBCOMMANDS)})"]


def test_ctrl_c_is_one_line_and_exit_code_130(tmp_path):
    """SIGINT once the evaluation runs (its progress bar is up): no traceback, no report."""
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny', seed=3)
    out = tmp_path / 'report.json'
    err_path = tmp_path / 'stderr.txt'
    with err_path.open('w') as err:
        proc = subprocess.Popen(
            [str(installed_script('dp-ros')), 'eval', '--checkpoint', str(checkpoint),
             '--seeds', '0:1000', '--threads', '1', '--video-episodes', '', '--output',
             str(out)], cwd=tmp_path, env=installed_env(), stdout=subprocess.DEVNULL,
            stderr=err, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120  # a hang guard: the bar appears in seconds
        while 'closed-loop eval' not in err_path.read_text():
            assert proc.poll() is None, err_path.read_text()[-3000:]
            assert time.monotonic() < deadline, 'no progress bar'
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err_path.read_text()
    assert rc == 130, text[-3000:]
    assert 'Traceback' not in text, text[-3000:]
    assert nonempty_lines(text)[-1] == 'dp-ros eval: interrupted', text[-3000:]
    assert not out.exists()


@pytest.mark.parametrize('blocked, subcommand, args', [
    ('rosbags', 'bag2zarr', ('{tmp}/bags', '-o', '{tmp}/out.zarr')),
    ('tqdm', 'eval', ('--checkpoint', str(SHIPPED_CHECKPOINT), '--seeds', '0', '--max-steps',
                      '2', '--video-episodes', '', '--no-progress', '--output',
                      '{tmp}/report.json')),
    ('yaml', 'train', ('--config', '{tmp}/c.yaml', '--output', '{tmp}/run')),
])
def test_a_missing_dependency_is_one_line_naming_the_package(blocked, subcommand, args,
                                                             tmp_path):
    """A machine set up by hand (colcon and a pip line) that lacks a package: one line naming
    what to install, exit 2, not a ModuleNotFoundError traceback."""
    argv = [a.replace('{tmp}', str(tmp_path)) for a in args]
    code = (f'import sys; sys.modules[{blocked!r}] = None\n'
            'from dp_ros.cli import main\n'
            f'sys.exit(main({[subcommand, *argv]!r}))')
    proc = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, 'PYTHONPATH': str(REPO_ROOT)})
    lines = nonempty_lines(proc.stderr)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    pip_name = {'yaml': 'pyyaml'}.get(blocked, blocked)
    assert len(lines) == 1 and lines[0].startswith(
        f"dp-ros {subcommand}: needs the Python package '{pip_name}'"), proc.stderr
    assert 'requirements.txt' in lines[0]


def test_a_missing_module_of_the_project_itself_keeps_its_traceback(tmp_path):
    code = ("import sys; sys.modules['training.bag2zarr'] = None\n"
            'from dp_ros.cli import main\n'
            f"sys.exit(main(['bag2zarr', '{tmp_path}/bags', '-o', '{tmp_path}/o.zarr']))")
    proc = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, 'PYTHONPATH': str(REPO_ROOT)})
    assert proc.returncode == 1 and 'Traceback' in proc.stderr, proc.stderr[-3000:]
