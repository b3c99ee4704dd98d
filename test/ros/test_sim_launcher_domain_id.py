"""A ROS_DOMAIN_ID the middleware cannot use is the user's environment to fix: `dp-ros sim`
says so in one line (exit 2), as dp_ros/cli.py's error rule asks, not with an RCLError
traceback."""
from __future__ import annotations

import subprocess

from support import checkout_env, module_cmd


def test_sim_with_a_non_numeric_ros_domain_id_is_one_line(tmp_path):
    """ROS_DOMAIN_ID=abc: one line naming ROS_DOMAIN_ID, exit 2, no traceback."""
    env = checkout_env(ROS_DOMAIN_ID='abc', ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    proc = subprocess.run(
        module_cmd('dp_ros.cli', 'sim', '--seeds', '100000', '--max-steps', '3', '--no-video',
                   '--no-progress', '--threads', '1', '--logs', str(tmp_path / 'logs')),
        env=env, text=True, capture_output=True, timeout=120, cwd=tmp_path)
    assert 'Traceback' not in proc.stderr, proc.stderr[-800:]
    assert proc.returncode == 2, proc.stderr[-800:]
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert last.startswith('dp-ros sim: ') and 'ROS_DOMAIN_ID' in last, last


def test_a_domain_id_fast_dds_cannot_use_is_refused_before_any_node():
    """300 (over Fast DDS's 232: its ports pass 65535, and it only logs a line) and 'abc' are
    one line naming ROS_DOMAIN_ID; unset, empty and 0..232 pass."""
    import pytest

    from dp_ros.app.sim_launcher import check_ros_domain_id
    from dp_ros.errors import UserError

    for bad in ('300', 'abc', '-1', '1.5'):
        with pytest.raises(UserError, match='ROS_DOMAIN_ID'):
            check_ros_domain_id({'ROS_DOMAIN_ID': bad})
    for good in ({}, {'ROS_DOMAIN_ID': ''}, {'ROS_DOMAIN_ID': '0'}, {'ROS_DOMAIN_ID': '232'}):
        check_ros_domain_id(good)
