"""colcon's install of dp_ros: the ROS executables where `ros2 run` looks, `dp-ros` on PATH.

colcon builds an ament_python package with `setup.py ... install --prefix install/dp_ros`,
which honours setup.cfg's install_scripts=$base/lib/dp_ros: every console script landed in
install/dp_ros/lib/dp_ros and none in install/dp_ros/bin, the directory `source
install/setup.bash` puts on PATH, so the README's `dp-ros eval` beside an arm and `dp-ros
bag2zarr` after `ros2 bag record` said "command not found". setup.py's InstallScripts also
puts the command line in bin/ for that layout. test_package_install.py checks pip's layout
(every script in bin/, from the wheel), which this leaves as it was.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from support import REPO_ROOT, console_scripts, installed_env


@pytest.fixture(scope='module')
def colcon_prefix(tmp_path_factory) -> tuple[Path, Path]:
    """The install colcon's ament_python build makes (colcon-core's python build task)."""
    build = tmp_path_factory.mktemp('build')
    prefix = tmp_path_factory.mktemp('install') / 'dp_ros'
    record = build / 'install.log'
    subprocess.run([sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base', str(build),
                    'build', '--build-base', str(build), 'install', '--prefix', str(prefix),
                    '--record', str(record), '--single-version-externally-managed'],
                   cwd=REPO_ROOT, check=True, capture_output=True)
    return prefix, record


def test_the_ros_executables_are_where_ros2_run_looks(colcon_prefix):
    prefix, _ = colcon_prefix
    for name in console_scripts():
        assert os.access(prefix / 'lib/dp_ros' / name, os.X_OK), name


def test_dp_ros_alone_is_also_on_path(colcon_prefix):
    """bin/ holds the command line only: the nodes' generic names stay off PATH."""
    prefix, _ = colcon_prefix
    assert sorted(p.name for p in (prefix / 'bin').iterdir()) == ['dp-ros']
    assert os.access(prefix / 'bin/dp-ros', os.X_OK)


def test_the_install_record_lists_it(colcon_prefix):
    """colcon removes the files of the record before the next install of the package."""
    prefix, record = colcon_prefix
    assert str(prefix / 'bin/dp-ros') in record.read_text().splitlines()


def test_dp_ros_on_path_runs_the_installed_package(colcon_prefix, tmp_path):
    prefix, _ = colcon_prefix
    site = sysconfig.get_path('purelib', vars={'base': str(prefix)})
    env = installed_env(PYTHONPATH=site, PATH=f'{prefix / "bin"}{os.pathsep}'
                                              f'{os.environ.get("PATH", "")}')
    out = subprocess.run(['dp-ros', '--help'], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'eval' in out.stdout and 'bag2zarr' in out.stdout
