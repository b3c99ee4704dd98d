"""The arm twin's whole user path on two short demonstrations, each step its documented command:
record over ROS (`dp-ros arm-record --mode lockstep`: the arm sim, the project's recorder) ->
`dp-ros bag2zarr -c config/bag2zarr_pusht_arm.yaml` -> `dp-ros train -c
config/train_pusht_arm_cpu.yaml` (a tiny model, a few steps) -> `dp-ros open-loop` (its chunks
against the recordings, by joint name) -> `dp-ros eval --via ros
--robot arm --mode realtime` (the policy node against the arm sim). The recorded data must be
what the arm ran: the state one step later is the commanded target (the arm reaches it).
Recorded in lockstep: a realtime replay on a busy machine sends commands late and every
attempt is refused (two of two episodes with another process on one core), which this test
must survive; the realtime recorder's per-step check runs on the sim in
test_arm_record_timing.py."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support import CONFIG_DIR, PUSHT_DATASET, REPO_ROOT, checkout_env, module_cmd

from sim_bridge.arm_env import TABLE_CROP

pytestmark = pytest.mark.ros

EPISODES = '205,182'  # the dataset's two shortest (49 and 56 steps: ~11 s of realtime)


def run(*cmd: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """A step of the pipeline; the timeout only guards against a hang."""
    proc = subprocess.run(list(cmd), cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout, env=checkout_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def node_ready_and_episode_start(logs: Path) -> tuple[float, float]:
    """From the policy node's log: when its start-up line (written once the policy is loaded
    and warmed up) was logged, and the start stamp of episode 0, in seconds of the one clock."""
    text = (logs / 'policy_node.log').read_text()
    ready = re.search(r'^\[INFO\] \[(\d+\.\d+)\] \[dp_policy\]: policy .*, warm-up \d+ ms$',
                      text, re.M)
    start = re.search(r'\]: episode 0 \(seed \d+\) from (\d+\.\d+) s', text)
    assert ready and start, text[-3000:]
    return float(ready.group(1)), float(start.group(1))


def test_record_convert_train_deploy_and_score_the_arm(tmp_path):
    import zarr

    bags = tmp_path / 'arm_bags'
    out = run(*module_cmd('dp_ros.cli', 'arm-record', '--mode', 'lockstep', '--output',
                          str(bags), '--episodes', EPISODES, '--dataset', str(PUSHT_DATASET)))
    report = json.loads((tmp_path / 'arm_bags_report.json').read_text())['episodes']
    assert set(report) == {'205', '182'}, out.stdout[-2000:]
    kept = sorted(p.name for p in bags.iterdir())
    assert kept == sorted(f'episode_{int(i):03d}' for i, r in report.items() if r['success'])
    assert kept, f'no replay succeeded: {report}'
    assert not (tmp_path / '.arm_bags.partial').exists()  # no half-written bag left behind
    for row in report.values():  # each ran its length (lockstep: 48 sim steps for the 49-step
        # episode 205); a kept one ran every command
        assert row['result']['steps'] >= 48 and 1 <= row['attempts'] <= 3
        assert not row['success'] or (row['result']['rejected'] == {}
                                      and row['unrun_steps'] == [])

    data = tmp_path / 'arm.zarr'
    run(*module_cmd('dp_ros.cli', 'bag2zarr', '-c', str(CONFIG_DIR / 'bag2zarr_pusht_arm.yaml'),
                    '-o', str(data), str(bags), '--no-progress'))
    root = zarr.open_group(str(data), mode='r')
    state, action = root['data/state'][:], root['data/action'][:]
    ends = root['meta/episode_ends'][:]
    assert root['data/img'].shape[1:] == (96, 96, 3) and state.shape[1:] == (3,)
    assert len(ends) == len(kept) and ends[-1] == len(state) >= 40 * len(kept)
    start = 0
    for end in ends:
        np.testing.assert_allclose(state[start + 1:end], action[start:end - 1], atol=1e-6)
        start = end

    run_dir = tmp_path / 'run'
    run(*module_cmd('training.train', '--config', str(CONFIG_DIR / 'train_pusht_arm_cpu.yaml'),
                    '--output', str(run_dir), '--max-steps', '4', f'data.zarr_path={data}',
                    'data.val_ratio=0', 'train.val_every=0', 'train.action_mse_every=2',
                    'train.checkpoint_every=2', 'train.progress=false',
                    'policy.resnet_width=0.25', 'policy.down_dims=[32,64,128]',
                    'policy.num_inference_steps=4', 'eval.n_episodes=2', 'eval.max_steps=20'))
    # the closed-loop score at the end stepped the arm env in-process (two short episodes:
    # the config's 50 of 300 steps took 3 minutes of this test's 4), with its video
    scores = [json.loads(line) for line in (run_dir / 'log.jsonl').read_text().splitlines()]
    assert [r['step'] for r in scores if 'test/mean_score' in r] == [4], scores
    assert list((run_dir / 'media').glob('eval_step0000004.*'))
    checkpoint = run_dir / 'checkpoints' / 'latest'
    meta = json.loads((checkpoint / 'policy.json').read_text())
    assert meta['config']['shape_meta']['obs']['joint_pos']['shape'] == [3]
    # the table's box cut from the camera travelled from the config through the dataset into
    # the checkpoint: the node below cuts the same box from the live 640 x 480 camera
    assert root['data/img'].attrs['camera_crop'] == list(TABLE_CROP)
    assert meta['config']['shape_meta']['obs']['image']['camera_crop'] == list(TABLE_CROP)

    # before it moves: its chunks against the recorded episodes, by joint name
    open_loop = tmp_path / 'open_loop.json'
    run(*module_cmd('dp_ros.cli', 'open-loop', str(checkpoint), '--output', str(open_loop),
                    '--threads', '1', '--no-progress'))
    checked = json.loads(open_loop.read_text())
    assert checked['action_names'] == root['data/action'].attrs['names']
    assert checked['episodes_chosen'] == 'all'  # val_ratio 0: nothing was held out
    assert checked['metrics']['n_steps'] == len(state) and checked['warnings']
    assert open_loop.with_suffix('.png').is_file()

    output = tmp_path / 'eval.json'
    run(*module_cmd('dp_ros.cli', 'eval', '--via', 'ros', '--robot', 'arm', '--mode',
                    'realtime', '--checkpoint', str(checkpoint), '--seeds', '100000',
                    '--max-steps', '20', '--threads', '1', '--no-progress',
                    '--video-episodes', '', '--output', str(output)))
    result = json.loads(output.read_text())
    assert result['episode_steps'] == [20] and result['ros']['robot'] == 'arm'
    # the node was loaded and warmed up before the episode began (an order, which load cannot
    # break): its start-up line, logged after the warm-up, is stamped before the episode's start
    ready_s, start_s = node_ready_and_episode_start(Path(result['ros']['logs']))
    assert ready_s < start_s, (ready_s, start_s)
    assert 0 <= result['episode_first_command_step'][0] < 20, result  # and it commanded the arm
    # realtime on a busy machine: a chunk planned after its last point was due is refused as
    # ends_in_past (what latency costs, reported); any other refusal is a fault
    problems = result['ros']['problems']
    assert all(set(p['rejected']) <= {'ends_in_past'} and not p['action_timeouts']
               for p in problems.values()), problems
    assert 0.0 <= result['mean_score'] <= 1.0
