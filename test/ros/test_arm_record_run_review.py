"""Review of `dp-ros arm-record` (dp_ros/app/arm_record.py) on the real arm sim and recorder,
with a three-episode dataset made to give each verdict deterministically: 0 a short pusher
move far from the block (the replay ends as recorded: kept), 1 a jump the arm cannot make in
one step (a command not run in its step: recorded again, then failed), 2 a shorter move like
0's but recorded with the block ending on the goal (the replay ends worse: failed, not
retried).
Pinned: the report row of each episode, where its bag goes (--keep-failed), the bag's topics
and compression, the commands streamed in each mode (lockstep: command k alone due at step k's
time; realtime: commands k and k + 1 due one and two periods after observation k), a rerun
that skips kept episodes and keeps their rows, and the exit code of a run that times out."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import mcap.reader
import numpy as np
import pytest
import yaml
from support import REPO_ROOT, checkout_env, module_cmd, sim_pids

from dp_ros.bags.reader import open_bag
from sim_bridge.arm_demos import joint_commands
from sim_bridge.pusht_geometry import coverage

pytestmark = pytest.mark.ros

DT_NS = 100_000_000
TOPICS = ('image_raw', 'joint_states', 'ee_pose', 'joint_trajectory', 'block_pose', 'reward',
          'episode_start', 'episode_result')


def demo_states() -> list[np.ndarray]:
    """The dataset's three episodes (see the module docstring): 8, 8 and 5 steps."""
    smooth = np.array([[372.0 - 4 * k, 342.0, 120.0, 120.0, 0.0] for k in range(8)])
    jump = smooth.copy()
    jump[1:, :2] = [250.0, 200.0]  # q2 moves 0.43 rad: over 0.1 s of its 3.15 rad/s limit
    on_goal = smooth[:5].copy()
    on_goal[-1, 2:5] = [256.0, 256.0, np.pi / 4]  # the recording ends on the goal
    return [s.astype(np.float32).astype(np.float64) for s in (smooth, jump, on_goal)]


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    from training.replay_buffer import ReplayBuffer

    path = tmp_path_factory.mktemp('data') / 'demo.zarr'
    buffer = ReplayBuffer.create(path)
    for states in demo_states():
        buffer.add_episode({'state': states.astype(np.float32),
                            'action': states[:, :2].astype(np.float32)})
    return path


class ArmRecord:
    """`dp-ros arm-record` started in its own process; result() waits for it (the timeout only
    guards against a hang). Its output goes through files, not pipes: a sim it failed to stop
    cannot hold the run open."""

    def __init__(self, *args: str, timeout: float = 300):
        self.timeout = timeout
        self.out, self.err = tempfile.TemporaryFile('w+'), tempfile.TemporaryFile('w+')
        self.popen = subprocess.Popen(
            module_cmd('dp_ros.cli', 'arm-record', '--no-progress', *args), cwd=REPO_ROOT,
            stdout=self.out, stderr=self.err, text=True, env=checkout_env())

    def result(self) -> subprocess.CompletedProcess:
        try:
            self.popen.wait(self.timeout)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait()
        with self.out, self.err:
            self.out.seek(0)
            self.err.seek(0)
            return subprocess.CompletedProcess(self.popen.args, self.popen.returncode,
                                               self.out.read(), self.err.read())


def arm_record(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`dp-ros arm-record` in its own process, waited for (see ArmRecord)."""
    return ArmRecord(*args, timeout=timeout).result()


@pytest.fixture(scope='module')
def side_runs(tmp_path_factory, dataset):
    """Two short lockstep runs of their own namespaces, started at once with the module's
    first run (lockstep_run, /arm_rv) and read by their tests: nothing of one reaches another
    (its own namespace, output folder and sim; lockstep steps on commands, not on time).
    The realtime run is not among them: it wants a quiet CPU."""
    no_keep, timeout = tmp_path_factory.mktemp('no_keep'), tmp_path_factory.mktemp('timeout')
    runs = {
        # without --keep-failed (test_without_keep_failed_a_failed_bag_is_deleted)
        'no_keep': (no_keep, ArmRecord(
            '--mode', 'lockstep', '--output', str(no_keep / 'bags'), '--episodes',
            '2', '--retries', '0', '--namespace', '/arm_nk', '--dataset', str(dataset))),
        # a wait past --timeout (test_a_run_that_times_out_exits_1_...)
        'timeout': (timeout, ArmRecord(
            '--mode', 'lockstep', '--output', str(timeout / 'bags'), '--episodes',
            '0', '--timeout', '0.001', '--namespace', '/arm_to', '--dataset', str(dataset))),
    }
    try:
        yield runs
    finally:
        for _, run in runs.values():
            if run.popen.poll() is None:
                run.popen.kill()
                run.popen.wait()


@pytest.fixture(scope='module', autouse=True)
def no_sim_outlives_the_tests():
    """A sim an arm-record run left running (its own session) is stopped after the tests."""
    yield
    for pid in (sim_pids('/arm_rv') + sim_pids('/arm_rt') + sim_pids('/arm_to')
                + sim_pids('/arm_nk')):
        os.kill(pid, 9)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def stamp_ns(t) -> int:
    return int(t.sec) * 10**9 + int(t.nanosec)


def trajectories(bag: Path, namespace: str) -> list:
    with open_bag(bag) as b:
        return [m for _, _, m in b.messages([f'{namespace}/joint_trajectory'], progress=False)]


@pytest.fixture(scope='module')
def lockstep_run(tmp_path_factory, dataset, side_runs):
    """One lockstep run of the three episodes (--episodes '': all of them), --retries 1
    --keep-failed, namespace /arm_rv (side_runs' runs alongside)."""
    root = tmp_path_factory.mktemp('lockstep')
    proc = arm_record('--mode', 'lockstep', '--output', str(root / 'bags'), '--episodes', '',
                      '--retries', '1',
                      '--keep-failed', '--namespace', '/arm_rv', '--dataset', str(dataset))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((root / 'bags_report.json').read_text())['episodes']
    return root, proc, report


def test_each_episode_gets_its_verdict_attempts_and_place(lockstep_run):
    """Kept -> <output>; a timing failure recorded again up to --retries then failed; a worse
    replay failed at once; failed bags -> <output>_failed (--keep-failed); the summary counts
    the kept ones; no partial folder is left."""
    root, proc, report = lockstep_run
    assert sorted(report) == ['0', '1', '2']
    got = {i: (r['episode'], r['success'], r['attempts'], r['mode']) for i, r in report.items()}
    assert got == {'0': (0, True, 1, 'lockstep'), '1': (1, False, 2, 'lockstep'),
                   '2': (2, False, 1, 'lockstep')}
    assert report['0']['unrun_steps'] == [] and report['2']['unrun_steps'] == []
    assert report['1']['unrun_steps'][:1] == [0], report['1']
    for index, states in enumerate(demo_states()):  # each row holds its own episode's result
        result = report[str(index)]['result']
        assert result['rejected'] == {} and result['steps'] == len(states) - 1
        assert result['action_timeouts'] == 0  # each command arrived for its step
    # the sim's episode counter: 0, then 1 and 2 for episode 1's two attempts, then 3
    assert [report[i]['result']['episode'] for i in '012'] == [0, 2, 3]
    for index, states in enumerate(demo_states()):
        assert report[str(index)]['recorded_final_coverage'] == round(coverage(states[-1, 2:5]), 6)
    assert report['2']['recorded_final_coverage'] > 0.9  # the recording's end, not its start
    assert names(root / 'bags') == ['episode_000']
    assert names(root / 'bags_failed') == ['episode_001', 'episode_002']
    for bag in (root / 'bags' / 'episode_000', root / 'bags_failed' / 'episode_001'):
        files = sorted(p.name for p in bag.iterdir())
        assert files == sorted(['metadata.yaml', f'{bag.name}.mcap'])
    assert not (root / '.bags.partial').exists()
    assert proc.stdout.count('recording it again') == 1
    assert 'episode 1: the arm did not run every command' in proc.stdout
    assert f'1 of 3 episodes kept in {root / "bags"}' in proc.stdout


def test_a_kept_lockstep_bag_holds_the_commands_the_arm_ran(lockstep_run):
    """The eight topics under --namespace, zstd chunks in mcap (as rosbag2's zstd_fast preset:
    the file alone decodes); command k alone, due at
    step k's own time; the report's missing counts are what the sim sent less the bag's."""
    root, _, report = lockstep_run
    bag = root / 'bags' / 'episode_000'
    meta = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert (meta['storage_identifier'], meta['compression_mode']) == ('mcap', '')
    with open(bag / 'episode_000.mcap', 'rb') as stream:
        chunks = mcap.reader.make_reader(stream).get_summary().chunk_indexes
    assert chunks and {c.compression for c in chunks} == {'zstd'}
    counts = {t['topic_metadata']['name']: t['message_count']
              for t in meta['topics_with_message_count']}
    assert set(counts) == {f'/arm_rv/{t}' for t in TOPICS}
    assert counts['/arm_rv/episode_result'] == 1 and counts['/arm_rv/episode_start'] == 1
    result = report['0']['result']
    sent = result['sent']
    expected_missing = {topic: sent[key] - counts[topic]
                        for key, topic in (('joint_states', '/arm_rv/joint_states'),
                                           ('images', '/arm_rv/image_raw'))
                        if counts[topic] < sent[key]}
    assert report['0']['missing'] == expected_missing
    commands = joint_commands(demo_states()[0])
    msgs = trajectories(bag, '/arm_rv')
    assert len(msgs) == len(commands)
    start = result['start_stamp_ns']
    for k, msg in enumerate(msgs):
        assert len(msg.points) == 1, k
        np.testing.assert_array_equal(msg.points[0].positions, commands[k])
        assert stamp_ns(msg.header.stamp) == start + k * DT_NS, k
        assert stamp_ns(msg.points[0].time_from_start) == 0


def test_a_rerun_skips_kept_episodes_and_keeps_their_rows(lockstep_run, tmp_path, dataset):
    """An interrupted run resumes: its half-written partial folder is cleared, the kept episode
    is not recorded again and its report row stays; the others are recorded again (--retries
    0: once) and their new bags replace the old ones in <output>_failed."""
    root, _, first = lockstep_run
    for name in ('bags', 'bags_failed'):
        shutil.copytree(root / name, tmp_path / name)
    shutil.copy(root / 'bags_report.json', tmp_path / 'bags_report.json')
    (tmp_path / '.bags.partial' / 'episode_001').mkdir(parents=True)  # an interrupted run's
    (tmp_path / '.bags.partial' / 'episode_001' / 'episode_001.mcap').write_bytes(b'half')
    old = (tmp_path / 'bags_failed' / 'episode_001' / 'metadata.yaml').read_text()
    proc = arm_record('--mode', 'lockstep', '--output', str(tmp_path / 'bags'), '--episodes',
                      '2,0,1', '--retries', '0', '--keep-failed', '--namespace', '/arm_rv',
                      '--dataset', str(dataset))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / 'bags_report.json').read_text())['episodes']
    assert report['0'] == first['0']
    assert [(report[i]['success'], report[i]['attempts']) for i in ('1', '2')] == \
        [(False, 1), (False, 1)]
    assert names(tmp_path / 'bags') == ['episode_000']
    assert names(tmp_path / 'bags_failed') == ['episode_001', 'episode_002']
    assert (tmp_path / 'bags_failed' / 'episode_001' / 'metadata.yaml').read_text() != old
    assert not (tmp_path / '.bags.partial').exists()
    assert 'episode 0:' not in proc.stdout and 'recording it again' not in proc.stdout
    assert f'1 of 3 episodes kept in {tmp_path / "bags"}' in proc.stdout


def test_without_keep_failed_a_failed_bag_is_deleted(side_runs):
    """The failed replay's bag lands nowhere: not in --output, no <output>_failed."""
    tmp_path, run = side_runs['no_keep']
    proc = run.result()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    row = json.loads((tmp_path / 'bags_report.json').read_text())['episodes']['2']
    assert (row['success'], row['attempts']) == (False, 1)
    assert names(tmp_path / 'bags') == [] and not (tmp_path / 'bags_failed').exists()
    assert not (tmp_path / '.bags.partial').exists()
    assert '0 of 1 episodes kept' in proc.stdout


def test_realtime_streams_commands_k_and_k_plus_1_a_period_after_observation_k(tmp_path, dataset):
    """Realtime: the episode runs one step more than its commands (the arm holds for step 0);
    each message holds command k and k + 1, the first due a period after the grid observation
    it answers (observation 0: the reset's)."""
    # retried when the sim skipped control periods (a busy moment: three test workers on two
    # cores skipped it once); skipped only when all three attempts were
    proc = arm_record('--output', str(tmp_path / 'bags'), '--episodes', '0', '--retries', '2',
                      '--keep-failed', '--namespace', '/arm_rt', '--dataset', str(dataset))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    row = json.loads((tmp_path / 'bags_report.json').read_text())['episodes']['0']
    commands = joint_commands(demo_states()[0])
    if row['result'].get('slots_skipped'):  # the README: realtime recording wants a quiet CPU
        pytest.skip(f"the machine was too busy for realtime: {row['result']['slots_skipped']} "
                    'control periods skipped')
    assert row['mode'] == 'realtime' and row['result']['steps'] == len(commands) + 1
    (bag,) = [b for d in (tmp_path / 'bags', tmp_path / 'bags_failed') for b in d.glob('ep*')]
    msgs = trajectories(bag, '/arm_rt')
    assert len(msgs) == len(commands)
    start = row['result']['start_stamp_ns']
    stamps = [stamp_ns(m.header.stamp) for m in msgs]
    assert stamps[0] == start + DT_NS
    assert stamps == sorted(set(stamps))  # one message per observation, in order
    assert all((s - start) % DT_NS == 0 for s in stamps)  # each on the control grid
    for k, msg in enumerate(msgs):
        expected = commands[k:k + 2]
        assert len(msg.points) == len(expected), k
        for i, (point, command) in enumerate(zip(msg.points, expected, strict=True)):
            np.testing.assert_array_equal(point.positions, command)
            assert stamp_ns(point.time_from_start) == i * DT_NS


def test_a_run_that_times_out_exits_1_and_leaves_no_sim_or_partial_bag(side_runs):
    """A wait past --timeout (here for the sim to appear): one line on stderr, exit 1, the sim
    stopped, no partial folder and no report."""
    tmp_path, run = side_runs['timeout']
    proc = run.result()
    left = sim_pids('/arm_to')
    for pid in left:  # started by this test's run: stopped so that nothing outlives it
        os.kill(pid, 9)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'dp-ros arm-record: ' in proc.stderr and 'Traceback' not in proc.stderr
    assert left == []
    assert not (tmp_path / '.bags.partial').exists()
    assert not (tmp_path / 'bags_report.json').exists() and names(tmp_path / 'bags') == []
