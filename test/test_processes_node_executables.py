"""An RMW_IMPLEMENTATION that is not installed (rmw_cyclonedds_cpp where only Fast DDS is)
is one line naming the variable and what is installed, exit 2, in the node executables and
in `dp-ros replay`: rcl ends the process with its own lines and exit 102 as rclpy is imported,
and every node module imports rclpy at its top, so run_node's check came too late for this
variable. The executables (dp_ros/app/node_executables.py) enter through
dp_ros/ros/processes.py run_node_executable, which checks before it imports the node's
module; replay checks before its ROS client starts.

Each case runs in a subprocess: the check must come before anything loads rcl.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from support import checkout_env, console_scripts, module_cmd, write_random_walk_store

MISSING_RMW = 'rmw_cyclonedds_cpp'
NODE_SCRIPTS = ('policy_node', 'policy_lifecycle_node', 'pusht_sim_node')


def missing_rmw_env() -> dict[str, str]:
    return checkout_env(RMW_IMPLEMENTATION=MISSING_RMW, AMENT_PREFIX_PATH=sys.prefix,
                        ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_DOMAIN_ID='43')


def assert_one_rmw_line(proc: subprocess.CompletedProcess, prefix: str) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-800:]
    assert '[rcl]' not in output and 'Traceback' not in output, output[-800:]
    line = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert line.startswith(f"{prefix}: RMW_IMPLEMENTATION='{MISSING_RMW}' is not installed"), line
    assert 'rmw_fastrtps_cpp' in line, line


def run_entry_point(target: str) -> subprocess.CompletedProcess:
    """What a console script does with `module:function` (pip's generated wrapper)."""
    module, function = target.split(':')
    code = f'import sys; from {module} import {function}; sys.exit({function}())'
    return subprocess.run([sys.executable, '-c', code], env=missing_rmw_env(), text=True,
                          capture_output=True, timeout=60)


@pytest.mark.parametrize('script', NODE_SCRIPTS)
def test_node_console_scripts_refuse_a_missing_rmw_in_one_line(script):
    prefix = 'pusht_sim' if script == 'pusht_sim_node' else 'dp_policy'
    assert_one_rmw_line(run_entry_point(console_scripts()[script]), prefix)


def test_replay_refuses_a_missing_rmw_in_one_line(tmp_path):
    store = tmp_path / 'walks.zarr'
    write_random_walk_store(store, [3], seed=3)
    proc = subprocess.run(module_cmd('dp_ros.cli', 'replay', '--dataset', str(store),
                                     '--timeout', '5'),
                          env=missing_rmw_env(), text=True, capture_output=True, timeout=120,
                          cwd=tmp_path)
    assert_one_rmw_line(proc, 'dp-ros replay')
