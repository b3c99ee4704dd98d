"""A tiny random Push-T image policy saved as a checkpoint (now in test/support.py).

Kept for the tests that import it from here and for `python test/ros/tiny_checkpoint.py DIR`.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __name__ == '__main__':  # as a script: test/ is not on sys.path yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support import make_tiny_checkpoint  # noqa: E402

__all__ = ['make_tiny_checkpoint']

if __name__ == '__main__':
    print(make_tiny_checkpoint(sys.argv[1]))
