"""`dp-ros replay` against a running arm twin: it streamed the point robot's agent_x/agent_y
actions the twin rejects, read the arm's 100 Hz joint states as steps, and ended in 'timed
out waiting for 161 rewards'. It says at the first observation which joints the sim has."""
from __future__ import annotations

import pytest
from support import CONFIG_DIR, PUSHT_DATASET, module_cmd

pytestmark = pytest.mark.ros

NS = '/arm_replay'


def test_replay_on_the_arm_twin_names_its_joints_in_one_line(ros_processes):
    ros_processes.start('arm_sim', module_cmd(
        'sim_bridge.pusht_sim_node', '--ros-args', '-r', f'__ns:={NS}', '--params-file',
        str(CONFIG_DIR / 'pusht_arm_sim.yaml'), '-p', 'mode:=realtime', '-p',
        'autostart:=false', '-p', 'auto_reset:=false'),
        env={'FASTDDS_DEFAULT_PROFILES_FILE': str(CONFIG_DIR / 'fastdds_large_data.xml')})
    proc = ros_processes.start('replay', module_cmd(
        'dp_ros.cli', 'replay', '--namespace', NS, '--episode', '0', '--timeout', '60',
        '--dataset', str(PUSHT_DATASET)))
    code = proc.popen.wait(180)
    said = proc.log()
    assert code != 0 and 'Traceback' not in said, said
    assert (f"the sim on {NS} publishes joints ['shoulder', 'elbow', 'wrist'], not "
            "['agent_x', 'agent_y']: replay plays the point robot's recorded actions (the arm "
            'twin replays demonstrations as joint commands: dp-ros arm-record)') in said, said
    assert 'timed out' not in said, said
