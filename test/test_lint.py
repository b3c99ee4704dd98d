"""Lint is part of the tests: the tree must pass ruff with the project's configuration."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_passes():
    ruff = Path(sys.executable).parent / 'ruff'
    result = subprocess.run([str(ruff), 'check', '--no-cache', str(REPO)], capture_output=True,
                            text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
