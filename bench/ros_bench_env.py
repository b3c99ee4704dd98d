"""The environment of a bench that runs ROS nodes, set on import, before rclpy is imported.

A ROS domain of its own (a bench beside a test run must not hear its nodes; the environment's
ROS_DOMAIN_ID wins), discovery on this host only, the venv as the ament prefix (the PyPI
wheels need no ROS install), no window for the sim's renderer, and this repo and test/ (the
process harness the tests use) importable. Each ROS bench starts with `import ros_bench_env`.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(REPO), str(REPO / 'test')) if p not in sys.path]
os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)
os.environ.setdefault('SDL_VIDEODRIVER', 'dummy')
