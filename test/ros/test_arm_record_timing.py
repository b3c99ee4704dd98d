"""dp-ros arm-record's check that the arm ran every command in its step, on the real arm sim
(realtime, its own process): a first command sent after step 1 began (as on a busy machine)
is seen as not run, so the recorder records that episode again instead of keeping a bag whose
first action the arm never did. The pure rules are in test/test_arm_record.py."""
from __future__ import annotations

import numpy as np
import pytest
from support import CONFIG_DIR, module_cmd

from dp_ros.app.arm_record import DT_NS, step_joint_positions, unrun_steps, verdict
from sim_bridge.arm_demos import joint_commands
from sim_bridge.arm_kinematics import JOINT_NAMES
from sim_bridge.pusht_geometry import coverage

pytestmark = pytest.mark.ros

NS = '/pusht'
MS = 1_000_000
# a short straight move of the pusher from a recorded start (episode 205's), the block far away
STATES = np.array([[372.0 - 4 * k, 342.0, 120.0, 120.0, 0.0] for k in range(8)])


def test_a_first_command_sent_after_step_one_began_is_seen_as_not_run(ros_processes):
    from sim_bridge.replay import ReplayClient

    commands = joint_commands(STATES)
    sim = ros_processes.start('arm_sim', module_cmd(
        'sim_bridge.pusht_sim_node', '--ros-args', '-r', f'__ns:={NS}', '--params-file',
        str(CONFIG_DIR / 'pusht_arm_sim.yaml'), '-p', 'mode:=realtime', '-p',
        'autostart:=false', '-p', 'auto_reset:=false', '-p', f'max_steps:={len(commands) + 1}'),
        env={'FASTDDS_DEFAULT_PROFILES_FILE': str(CONFIG_DIR / 'fastdds_large_data.xml')})
    client = ReplayClient(NS, 'pusht_sim', joints=JOINT_NAMES)
    try:
        client.wait_connected(60.0, sim.popen)
        client.set_parameters({'initial_state': [float(v) for v in STATES[0]]}, 30.0)
        start_ns = client.reset(30.0)
        t1 = start_ns + DT_NS
        # a joint state of step 1's substeps exists only once step 1's target (held: nothing
        # due yet) was fixed, however busy the machine is
        client.wait(lambda: [s for s in client.joints if s > t1], 30.0, 'step 1 to begin')
        client.send_actions(commands[:3], t1)  # commands 0, 1, 2 due at t1, t2, t3
        for k in range(2, len(commands)):  # then on time, as the recorder streams
            t_k = start_ns + k * DT_NS
            client.wait(lambda t=t_k: [s for s in client.joints if s >= t], 30.0, f'step {k}')
            client.send_actions(commands[k:k + 2], t_k + DT_NS)
        result = client.wait(lambda: client.results, 30.0, 'the episode result')[-1]
        unrun = unrun_steps(step_joint_positions(client, start_ns), commands)
    finally:
        client.close()
    assert result['steps'] == len(commands) + 1, result
    assert unrun and unrun[0] == 0, (unrun, result)
    row = {'result': result, 'unrun_steps': unrun,
           'recorded_final_coverage': coverage(STATES[-1, 2:5])}
    assert verdict(row, tolerance=0.05) == 'retry'
