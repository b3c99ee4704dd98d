"""Test-wide setup: every run gets its own ROS domain and localhost-only discovery.

The environment is set at import time, before any test imports rclpy, so the nodes this
process creates and the processes it starts all land on the same isolated domain.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path


def _test_domain() -> int:
    """DP_ROS_TEST_DOMAIN_ID, or one drawn from the run's process id, plus the pytest-xdist
    worker's index: the workers of one run never share a domain. 44..111 (at most 8
    workers), so ros_harness.own_domain's (+116) stays clear of every worker's, and of 7 and
    43, which two tests name."""
    worker = os.environ.get('PYTEST_XDIST_WORKER', '')  # 'gw0', 'gw1', ... under xdist
    index = int(worker[2:]) if worker.startswith('gw') else 0
    run_pid = os.getppid() if worker else os.getpid()  # a worker's parent is the run
    base = int(os.environ.get('DP_ROS_TEST_DOMAIN_ID', 44 + run_pid % 60))
    return base + index


os.environ['ROS_DOMAIN_ID'] = str(_test_domain())
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)
os.environ.setdefault('SDL_VIDEODRIVER', 'dummy')
os.environ.setdefault('SDL_AUDIODRIVER', 'dummy')
# torch's OpenMP threads sleep while they wait, instead of spinning: three test workers on
# two cores made a 2-thread region's spinning waiters take the cores from the thread they
# waited for (the shipped policy's replay: 9.6 s with two workers, 42-60 s with three; with
# CPU hogs beside it, 17.0 s of CPU spinning vs 9.9 s sleeping, the same wall time). Only
# the waiting changes: the threads, the partition of the work and the results do not
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import pytest  # noqa: E402

# test/ on sys.path: the shared scaffolding (support, ros_harness) and test/ros/ helpers
sys.path.insert(0, str(Path(__file__).parent))

from ros_harness import ProcessGroup, RosProbe  # noqa: E402
from support import PUSHT_DATASET  # noqa: E402

# the free space a run needs where its tmp_path folders go: a full run's folders peaked near
# 1 GB (pytest.ini deletes a passed test's), so half as much again; a CI run that found 2 GB
# free took 8 GB with pytest's default and failed after 14 minutes with ENOSPC in whichever
# tests came then
MIN_FREE_TMP_BYTES = 3 * 1024**3 // 2


def tmp_space_problem(directory: str | Path, need: int = MIN_FREE_TMP_BYTES) -> str | None:
    """Why a run cannot have its tmp_path folders in `directory` (too little free space on
    its filesystem), or None."""
    free = shutil.disk_usage(directory).free
    if free >= need:
        return None
    return (f'only {free / 1024**3:.1f} GB free on the filesystem of {directory}, where the '
            f"tests' temporary folders go; a run needs {need / 1024**3:.1f} GB (free some, or "
            'give pytest --basetemp on a disk that has it)')


def _tmp_root(config) -> Path:
    """Where this run's tmp_path folders go: --basetemp's nearest folder that exists (pytest
    makes --basetemp itself; a missing parent is its own error, after this check), else the
    temp directory."""
    given = config.option.basetemp
    if not given:
        return Path(tempfile.gettempdir())
    root = Path(given).resolve()
    while not root.is_dir() and root != root.parent:
        root = root.parent
    return root


def pytest_configure(config):
    """Too little disk for the run's folders: one clear error before any test, not ENOSPC in
    whichever tests run once it fills (a CI run's)."""
    if hasattr(config, 'workerinput'):  # pytest-xdist workers: their controller checked
        return
    problem = tmp_space_problem(_tmp_root(config))
    if problem is not None:
        raise pytest.UsageError(problem)


def pytest_report_header(config):
    root = _tmp_root(config)
    return f'temporary folders: {root} ({shutil.disk_usage(root).free / 1024**3:.1f} GB free)'


@pytest.fixture(scope='session')
def pusht_zarr() -> Path:
    """The paper's Push-T demonstrations (read-only)."""
    if not PUSHT_DATASET.exists():
        pytest.fail(f'shared dataset missing: {PUSHT_DATASET}')
    return PUSHT_DATASET


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    """A tiny random policy (support.make_tiny_checkpoint), one per test module: what most
    node tests run; a module that needs another defines its own."""
    from support import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny')


@pytest.fixture
def ros_processes(request, tmp_path):
    """Start nodes in their own processes; always stopped, logs shown when a test fails."""
    group = ProcessGroup(tmp_path / 'proc_logs')
    yield group
    group.stop_all()
    failed = getattr(request.node, 'rep_call', None)
    if failed is not None and failed.failed:
        group.print_logs()


@pytest.fixture
def runners():
    """InferenceRunners made by a test (it appends them), closed after it whatever happens."""
    from test_inference_runner import WAIT_S
    made: list = []
    yield made
    for runner in made:
        runner.close(timeout=WAIT_S)


@pytest.fixture
def ros_probe():
    """An rclpy node in the test process, spun on a background thread."""
    probe = RosProbe('dp_ros_test_probe')
    yield probe
    probe.close()


# the test process's scheduling policy at start (None: a platform without one)
_START_POLICY = os.sched_getscheduler(0) if hasattr(os, 'sched_getscheduler') else None


@pytest.fixture(autouse=True)
def _no_real_time_left():
    """A test that leaves the test process on a real-time policy fails (and the policy is put
    back): every process started after it would inherit it. SVT-AV1 run as root did so (a
    LeRobot conversion); a flooding ROS publisher started afterwards at SCHED_FIFO 99
    starved the machine for minutes."""
    yield
    policy = os.sched_getscheduler(0) if _START_POLICY is not None else None
    if _START_POLICY == os.SCHED_OTHER and policy != os.SCHED_OTHER:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        pytest.fail(f'the test left this process on scheduling policy {policy} (real-time): '
                    'its child processes would inherit it')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f'rep_{rep.when}', rep)
