"""`pip install .` gives a ROS package: ament index marker, share files, console scripts."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO_ROOT, console_scripts, installed_script

SCRIPTS = tuple(console_scripts())  # all of setup.py's; test_console_scripts.py runs them


def share_files() -> list[str]:
    return (['package.xml']
            + [f'launch/{p.name}' for p in sorted((REPO_ROOT / 'launch').glob('*.launch.py'))]
            + [f'config/{p.name}' for p in sorted((REPO_ROOT / 'config').glob('*.yaml'))])


@pytest.fixture(scope='module')
def installed_prefix(tmp_path_factory) -> Path:
    prefix = tmp_path_factory.mktemp('prefix')
    build = tmp_path_factory.mktemp('build')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation',
                    '--no-cache-dir', '--quiet', '--ignore-installed', '--prefix', str(prefix),
                    str(REPO_ROOT)], check=True, cwd=build)
    return prefix


def test_share_files_and_index_marker(installed_prefix):
    marker = installed_prefix / 'share/ament_index/resource_index/packages/dp_ros'
    assert marker.is_file()
    for rel in share_files():
        assert (installed_prefix / 'share/dp_ros' / rel).is_file(), rel
    assert any(rel.startswith('config/') for rel in share_files())


def test_get_package_share_directory_finds_it(installed_prefix):
    code = ('from ament_index_python.packages import get_package_share_directory as g;'
            "print(g('dp_ros'))")
    env = dict(os.environ, AMENT_PREFIX_PATH=str(installed_prefix))
    out = subprocess.run([sys.executable, '-c', code], check=True, env=env,
                         capture_output=True, text=True).stdout.strip()
    assert Path(out) == installed_prefix / 'share/dp_ros'


def test_console_scripts_exist(installed_prefix):
    bindir = installed_prefix / 'bin'
    for name in SCRIPTS:
        assert (bindir / name).is_file(), f'{name} missing in {bindir}'


def test_development_environment_is_installed_too():
    """The .venv the Makefile builds has the package, so `ros2 run`-style lookups work there."""
    from ament_index_python.packages import get_package_share_directory

    share = Path(get_package_share_directory('dp_ros'))
    assert (share / 'package.xml').is_file()
    for name in SCRIPTS:
        assert installed_script(name).is_file()  # raises, naming where it looked


def test_dp_ros_help_runs():
    out = subprocess.run([sys.executable, '-m', 'dp_ros.cli', '--help'], check=True,
                         capture_output=True, text=True, cwd=REPO_ROOT).stdout
    for sub in ('sim', 'train', 'eval', 'bag2zarr'):
        assert sub in out
