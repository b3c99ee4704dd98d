"""SVT-AV1 (PyAV's libsvtav1, the LeRobot writer's default), run as root, put the thread that
opened an encoder and the threads it started on SCHED_FIFO priority 99. A conversion then
took the cores from every other process (a robot's control loop beside it included), and every
process started after it inherited the policy: in the parallel test run a flooding ROS
publisher started by a worker that had converted a dataset starved the machine for minutes.
Pinned with a real conversion in its own process (in this one, a failure would leave the test
process real-time): no thread of it is real-time afterwards, nor is a process it starts."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import checkout_env
from tiny_runs import write_small_store

from training.lerobot_format import encoder_available

CONVERT_AND_LOOK = '''
import json, os, subprocess, sys
from training.lerobot_convert import zarr_to_lerobot
before = os.sched_getscheduler(0)
zarr_to_lerobot(sys.argv[1], sys.argv[2], fps=10, progress=False)
realtime = [int(t) for t in os.listdir('/proc/self/task')
            if os.sched_getscheduler(int(t)) in (os.SCHED_FIFO, os.SCHED_RR)]
child = subprocess.run([sys.executable, '-c', 'import os; print(os.sched_getscheduler(0))'],
                       capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({'before': before, 'main': os.sched_getscheduler(0), 'realtime': realtime,
                  'child': int(child), 'other': os.SCHED_OTHER}))
'''


@pytest.mark.skipif(not encoder_available('libsvtav1'), reason='no SVT-AV1 encoder in PyAV')
@pytest.mark.skipif(not os.path.isdir('/proc/self/task'), reason='Linux thread policies')
def test_a_conversion_leaves_no_thread_real_time(tmp_path):
    store = write_small_store(tmp_path / 'small.zarr')
    done = subprocess.run([sys.executable, '-c', CONVERT_AND_LOOK, str(store),
                           str(tmp_path / 'le')], env=checkout_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen['before'] == seen['other']
    assert seen['main'] == seen['other'] and seen['child'] == seen['other'], seen
    assert seen['realtime'] == [], seen
