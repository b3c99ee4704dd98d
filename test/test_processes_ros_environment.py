"""The ROS variables a process needs are checked before rcl loads (dp_ros/ros/processes.py
check_ros_environment): an RMW_IMPLEMENTATION that is not installed (rmw_cyclonedds_cpp where
only Fast DDS is) made rcl print its own error and exit 102 as rclpy was imported; it is one
line naming the variable, its value and what is installed, exit 2, in every `dp-ros` command
that starts ROS (sim, eval --via ros, arm-record), and in the node executables before
rclpy.init (with a ROS_DOMAIN_ID rcl cannot use, too)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import checkout_env, module_cmd

from dp_ros.cli import run_subcommand
from dp_ros.errors import UserError
from dp_ros.ros.processes import check_rmw_implementation, installed_rmw_implementations

MISSING_RMW = 'rmw_cyclonedds_cpp'


def ament_prefix(root: Path, *implementations: str) -> Path:
    """A prefix whose ament index registers `implementations` as RMWs (and the shim)."""
    index = root / 'share' / 'ament_index' / 'resource_index' / 'rmw_typesupport'
    index.mkdir(parents=True)
    for name in (*implementations, 'rmw_implementation'):
        (index / name).write_text('rosidl_typesupport_c')
    return root


def test_only_installed_implementations_pass(tmp_path):
    prefix = ament_prefix(tmp_path / 'a', 'rmw_fastrtps_cpp')
    other = ament_prefix(tmp_path / 'b', 'rmw_zenoh_cpp')
    env = {'AMENT_PREFIX_PATH': f'{prefix}:{tmp_path / "absent"}:{other}'}
    assert installed_rmw_implementations(env) == ['rmw_fastrtps_cpp', 'rmw_zenoh_cpp']
    with pytest.raises(UserError) as caught:
        check_rmw_implementation({**env, 'RMW_IMPLEMENTATION': MISSING_RMW})
    message = str(caught.value)
    assert f"RMW_IMPLEMENTATION='{MISSING_RMW}' is not installed" in message
    assert 'installed: rmw_fastrtps_cpp, rmw_zenoh_cpp;' in message and '\n' not in message
    for fine in ('rmw_fastrtps_cpp', 'rmw_zenoh_cpp', '', ' '):
        check_rmw_implementation({**env, 'RMW_IMPLEMENTATION': fine})
    check_rmw_implementation({**env})  # unset: rcl's default
    # no index to judge by (AMENT_PREFIX_PATH unset): rcl decides
    check_rmw_implementation({'RMW_IMPLEMENTATION': MISSING_RMW})


def missing_rmw_env(**extra: str) -> dict[str, str]:
    return checkout_env(RMW_IMPLEMENTATION=MISSING_RMW, AMENT_PREFIX_PATH=sys.prefix,
                        ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', **extra)


def last_line(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.strip()][-1]


def test_sim_with_an_rmw_that_is_not_installed_is_one_line_exit_2(tmp_path):
    proc = subprocess.run(
        module_cmd('dp_ros.cli', 'sim', '--seeds', '100000', '--max-steps', '3', '--no-video',
                   '--no-progress', '--threads', '1', '--logs', str(tmp_path / 'logs')),
        env=missing_rmw_env(), text=True, capture_output=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-800:]
    assert 'Traceback' not in proc.stderr and '[rcl]' not in proc.stderr, proc.stderr[-800:]
    line = last_line(proc.stderr)
    assert line.startswith(f"dp-ros sim: RMW_IMPLEMENTATION='{MISSING_RMW}' is not installed"), line
    assert 'rmw_fastrtps_cpp' in line
    assert not (tmp_path / 'logs').exists()  # refused before any node or log


def test_arm_record_with_an_rmw_that_is_not_installed_is_one_line_exit_2(
        tmp_path, monkeypatch, capsys):
    for name, value in missing_rmw_env().items():
        monkeypatch.setenv(name, value)
    assert run_subcommand('arm-record', ['--output', str(tmp_path / 'bags')]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"dp-ros arm-record: RMW_IMPLEMENTATION='{MISSING_RMW}'"), line
    assert not (tmp_path / 'bags').exists()


def test_a_node_with_a_domain_id_rcl_cannot_use_is_one_line_before_rclpy_init():
    """rcl said 'invalid arguments: failed to initialize rcl' for 'abc' and Fast DDS only
    logged a line for 300."""
    for bad in ('abc', '300'):
        proc = subprocess.run(module_cmd('sim_bridge.pusht_sim_node'),
                              env=checkout_env(ROS_DOMAIN_ID=bad), text=True,
                              capture_output=True, timeout=60)
        assert proc.returncode == 2, proc.stderr[-800:]
        line = last_line(proc.stderr)
        assert line == (f"pusht_sim: ROS_DOMAIN_ID='{bad}' is not a domain id: set it to a "
                        'whole number from 0 to 232, or unset it (0)'), line
