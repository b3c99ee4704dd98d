"""A realtime sim at half speed (Gazebo: header stamps on its clock, /clock in the bag) with
a gripper through a forward_command_controller (std_msgs/Float64MultiArray, no header) whose
commands fall between grid times. Unstamped messages were given the stamp of the reference
camera's frame received before them (the lockstep rule: a command answers that step): a
command sent at sim 0.35 s sat at 0.3 s and became the 0.3 s action, from the future. With
/clock recorded, they are placed at the sim time of their receipt (bag_episodes
.sim_clock_stream), which in lockstep is the step they answer, as before."""
from __future__ import annotations

import numpy as np
import zarr
from bag_support import MS

from dp_ros.bags.recorder import (
    BagRecorder,
    float_array_message,
    image_message,
    joint_state_message,
)
from training import bag2zarr
from training.bag2zarr_config import config_from_dict

WALL0 = 1_750_000_000_000_000_000  # the recorder's clock
SIM0 = 2_000 * MS  # the sim's clock at the start


def wall(sim_ns: int) -> int:
    """Receive time of what the sim published at sim_ns: it runs at half speed."""
    return WALL0 + 2 * (sim_ns - SIM0) + 1 * MS


def test_unstamped_commands_are_placed_at_the_sim_time_of_their_receipt(tmp_path):
    bag, messages = tmp_path / 'bag', []
    for i in range(400):  # /clock at 200 Hz of sim time
        t = SIM0 + i * 5 * MS
        messages.append((wall(t) - MS, '/clock', 'rosgraph_msgs/msg/Clock', ('clock', t)))
    for i in range(20):  # camera 10 Hz, frame i at sim SIM0 + 100 ms i
        t = SIM0 + i * 100 * MS
        messages.append((wall(t), '/cam/image_raw', 'sensor_msgs/msg/Image', ('img', i, t)))
    for i in range(200):
        t = SIM0 + i * 10 * MS
        messages.append((wall(t), '/joint_states', 'sensor_msgs/msg/JointState', ('js', i, t)))
    # the gripper closes (value 1.0) by a command sent at sim 350 ms and opens at 1250 ms
    for value, t in ((0.0, SIM0), (1.0, SIM0 + 350 * MS), (0.0, SIM0 + 1250 * MS)):
        messages.append((wall(t) + 2 * MS, '/gripper_controller/commands',
                         'std_msgs/msg/Float64MultiArray', ('cmd', value, t)))
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for recv, topic, msgtype, (kind, *args) in sorted(messages, key=lambda m: m[0]):
            if kind == 'clock':
                sec, nsec = divmod(args[0], 10**9)
                msg = ts.types['rosgraph_msgs/msg/Clock'](
                    clock=ts.types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nsec))
            elif kind == 'img':
                msg = image_message(ts, np.full((4, 4, 3), args[0], np.uint8), args[1])
            elif kind == 'js':
                msg = joint_state_message(ts, ['g'], [args[0] / 100], args[1])
            else:
                msg = float_array_message(ts, [args[0]])
            rec.write(topic, msgtype, recv, msg)
    config = config_from_dict({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['g']},
                 'action': {'float_array': '/gripper_controller/commands', 'joints': ['g'],
                            'tolerance': 3600}}})
    summary = bag2zarr.convert([bag], config, tmp_path / 'out.zarr', progress=False)
    data = zarr.open(str(tmp_path / 'out.zarr'), mode='r')['data']
    frame = np.asarray(data['img'][:, 0, 0, 0]).astype(int)  # step k: sim 100 ms * frame
    action = dict(zip(frame.tolist(), np.asarray(data['action'][:, 0]).tolist(), strict=True))
    assert action[3] == 0.0 and action[4] == 1.0  # sent at 350 ms: the 400 ms step's, not 300
    assert action[12] == 1.0 and action[13] == 0.0  # sent at 1250 ms
    notes = [note for report in summary.bags for note in report.notes]
    assert any('placed at the /clock time' in note for note in notes), notes


def test_steps_trimmed_for_a_stream_that_starts_late_name_it(tmp_path, capsys):
    """A gripper commanded only on change first sends at 0.5 s: the steps before are trimmed
    (no command in force), and the summary names the stream, not only 'streams start/stop at
    different times'."""
    T0 = WALL0
    bag = tmp_path / 'bags' / 'late'
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        messages = [(T0 + i * 100 * MS + MS, 'img', i) for i in range(15)]
        messages += [(T0 + i * 10 * MS + MS, 'js', i) for i in range(150)]
        messages += [(T0 + 500 * MS + 2 * MS, 'cmd', 0)]
        for recv, kind, i in sorted(messages):
            if kind == 'img':
                rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', recv,
                          image_message(ts, np.full((4, 4, 3), i, np.uint8), recv - MS))
            elif kind == 'js':
                rec.write('/joint_states', 'sensor_msgs/msg/JointState', recv,
                          joint_state_message(ts, ['g'], [i / 100], recv - MS))
            else:
                rec.write('/gripper_controller/commands', 'std_msgs/msg/Float64MultiArray', recv,
                          float_array_message(ts, [1.0]))
    config = tmp_path / 'c.yaml'
    config.write_text(
        "control_period_s: 0.1\nimage_dtype: uint8\nkeys:\n"
        "  img: {image: /cam/image_raw}\n"
        "  state: {joint_state: /joint_states, joints: [g]}\n"
        "  action: {float_array: /gripper_controller/commands, joints: [g], tolerance: 3600}\n")
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(config), '-o',
                          str(tmp_path / 'o.zarr'), '--no-progress']) == 0
    lines = capsys.readouterr().out.splitlines()
    trimmed = [x for x in lines if 'step(s) at episode ends' in x]
    assert len(trimmed) == 1, lines
    line = trimmed[0]
    assert line.endswith('step(s) at episode ends (streams start/stop at different times: '
                         '/gripper_controller/commands not there yet or any more)'), line
