"""Which typestore a bag is read with, and Ctrl-C while rosbags makes a type's code."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mcap_ros2.writer import Writer
from support import REPO_ROOT, checkout_env, default_sigint

from dp_ros.bags.reader import open_bag
from dp_ros.bags.recorder import BagRecorder, joint_state_message
from dp_ros.bags.typestore import prepare_type, shared_typestore, signals_held_back

GRIP = 'demo_msgs/msg/Grip'


def write_custom_bag(path, definition: str, values: list[dict]) -> None:
    """An mcap whose /grip topic has a type of its own, defined as `definition`."""
    with path.open('wb') as f:
        writer = Writer(f)
        schema = writer.register_msgdef(GRIP, definition)
        for i, value in enumerate(values):
            writer.write_message('/grip', schema, value, log_time=10**18 + i * 10**8)
        writer.finish()


def test_bags_of_standard_types_share_one_store_and_own_types_get_their_own(tmp_path):
    with BagRecorder(tmp_path / 'standard') as rec:
        rec.write('/joints', 'sensor_msgs/msg/JointState', 10**18,
                  joint_state_message(rec.typestore, ['j1'], [0.5], 10**18))
    # the same custom name with two definitions: each bag is read with its own
    write_custom_bag(tmp_path / 'a.mcap', 'float64 width', [{'width': 0.25}])
    write_custom_bag(tmp_path / 'b.mcap', 'int32 width\nstring unit',
                     [{'width': 7, 'unit': 'mm'}])
    write_custom_bag(tmp_path / 'a2.mcap', 'float64 width', [{'width': 0.5}])
    with open_bag(tmp_path / 'standard') as bag:
        assert bag.typestore is shared_typestore()
        ((_, _, msg),) = bag.messages(['/joints'], progress=False)
        assert list(msg.position) == [0.5]
    with open_bag(tmp_path / 'a.mcap') as a, open_bag(tmp_path / 'b.mcap') as b:
        assert a.typestore is not shared_typestore() and b.typestore is not a.typestore
        ((_, _, grip_a),) = a.messages(['/grip'], progress=False)
        ((_, _, grip_b),) = b.messages(['/grip'], progress=False)
    assert (grip_a.width, grip_b.width, grip_b.unit) == (0.25, 7, 'mm')
    with open_bag(tmp_path / 'a2.mcap') as a2:  # defined as a.mcap defines it: a's store
        assert a2.typestore is a.typestore
        ((_, _, grip_a2),) = a2.messages(['/grip'], progress=False)
    assert grip_a2.width == 0.5
    assert GRIP not in shared_typestore().types  # nothing registered in the shared store
    # reading a topic made the code of its type and of the types inside it
    assert {'sensor_msgs/msg/JointState', 'std_msgs/msg/Header',
            'builtin_interfaces/msg/Time'} <= set(shared_typestore().cache)


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler for the test: a shell starts a background job (`make test
    &`) with SIGINT ignored, and signals_held_back rightly leaves such a process alone."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def test_a_ctrl_c_while_code_is_made_is_raised_after_it(python_ctrl_c):
    store = shared_typestore()
    msgtype = 'geometry_msgs/msg/PoseWithCovarianceStamped'
    store.cache.pop(msgtype, None)
    made = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held_back():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, on the main thread
            prepare_type(store, msgtype)
            made.append(msgtype in store.cache)
    assert made == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_inside_exec_code_still_ends_with_the_programs_exit_code(tmp_path):
    """Python 3.11 ends a `python -m` program by SIGINT when a KeyboardInterrupt has passed
    through exec()'d source, even one the program caught (rosbags exec()s its serializers;
    `python -m training.bag2zarr` caught it and returned 130, and the process still died by
    SIGINT now and then). Code run under signals_held_back gets no KeyboardInterrupt inside
    it, so the exit code is the program's."""
    (tmp_path / 'interrupted_exec.py').write_text(
        'import sys\n'
        'from dp_ros.held_signals import signals_held_back\n'
        'try:\n'
        '    with signals_held_back():\n'
        '        exec("import os, signal, time\\n"\n'
        '             "os.kill(os.getpid(), signal.SIGINT)\\n"\n'
        '             "time.sleep(0.05)\\n")\n'
        'except KeyboardInterrupt:\n'
        '    sys.exit(130)\n')
    env = checkout_env()
    env['PYTHONPATH'] = os.pathsep.join([str(tmp_path), env['PYTHONPATH']])
    proc = subprocess.run([sys.executable, '-m', 'interrupted_exec'], cwd=REPO_ROOT, env=env,
                          preexec_fn=default_sigint, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 130, proc.stderr
