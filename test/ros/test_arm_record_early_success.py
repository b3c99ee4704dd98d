"""`dp-ros arm-record` on demonstrations whose T is placed before their last step (a sim
teleop's successes): the sim ends such an episode early, and the run waited for the next
observation until --timeout, then stopped for good (exit 1, no report, every later episode
unrecorded, each rerun stopping there). Each is now judged on the steps it ran: kept."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from ros.test_arm_record_run_review import arm_record, sim_pids

from sim_bridge.pusht_geometry import GOAL_POSE
from training.replay_buffer import ReplayBuffer

pytestmark = pytest.mark.ros


def test_episodes_the_sim_ends_early_by_success_are_kept_and_the_run_goes_on(tmp_path):
    states = np.zeros((12, 5))
    states[:, 0], states[:, 1] = 100 + 2 * np.arange(12), 100
    states[:, 2:5] = np.asarray(GOAL_POSE, dtype=np.float64)  # on the goal from the start
    buffer = ReplayBuffer.create(tmp_path / 'done.zarr')
    for _ in range(2):
        buffer.add_episode({'state': states.astype(np.float32),
                            'action': states[:, :2].astype(np.float32)})
    try:
        proc = arm_record('--mode', 'lockstep', '--output', str(tmp_path / 'bags'),
                          '--timeout', '30', '--namespace', '/arm_es',
                          '--dataset', str(tmp_path / 'done.zarr'))
    finally:
        for pid in sim_pids('/arm_es'):
            os.kill(pid, 9)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / 'bags_report.json').read_text())['episodes']
    assert [report[k]['success'] for k in ('0', '1')] == [True, True], report
    assert all(report[k]['result']['reason'] == 'success' for k in ('0', '1'))
    assert all(report[k]['unrun_steps'] == [] for k in ('0', '1'))


@pytest.mark.parametrize('kind', ['no_episode_ends', 'arm_states', 'lerobot'])
def test_a_dataset_that_is_no_pusht_store_is_one_line_before_the_sim(tmp_path, kind):
    """arm-record read --dataset unchecked: a store without meta/episode_ends was a KeyError
    traceback, a LeRobot folder zarr's 'No group found', 3-wide states refused by the sim
    after it started. As replay checks it (open_pusht_store), in one line, exit 2."""
    import zarr

    data = tmp_path / 'data.zarr'
    if kind == 'lerobot':
        (data / 'meta').mkdir(parents=True)
        (data / 'meta' / 'info.json').write_text('{}')
    else:
        root = zarr.open_group(str(data), mode='w')
        width = 3 if kind == 'arm_states' else 5
        root.create_array('data/state', data=np.zeros((4, width), np.float32))
        root.create_array('data/action', data=np.zeros((4, 2), np.float32))
        if kind == 'arm_states':
            root.create_array('meta/episode_ends', data=np.array([4]))
    proc = arm_record('--mode', 'lockstep', '--output', str(tmp_path / 'bags'),
                      '--namespace', '/arm_bad', '--dataset', str(data), timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith(f'dp-ros arm-record: --dataset {data}'), line
    assert {'no_episode_ends': 'is not a zarr replay buffer', 'lerobot': 'is a LeRobotDataset',
            'arm_states': 'holds states [3]'}[kind] in line, line
    assert sim_pids('/arm_bad') == []
