"""Lint is part of the tests: the tree must pass ruff with the project's configuration."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ruff_command() -> str:
    """The ruff beside the interpreter (the venv's), else the one on PATH (a ROS machine's
    `pip install ruff`, README "Building with colcon")."""
    beside = Path(sys.executable).parent / 'ruff'
    found = str(beside) if beside.is_file() else shutil.which('ruff')
    assert found, ('ruff is not installed: `pip install ruff` with requirements.txt\'s pin '
                   '(README, "Building with colcon on a ROS 2 machine")')
    return found


def test_ruff_passes():
    result = subprocess.run([ruff_command(), 'check', '--no-cache', str(REPO)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
