"""The policy node and `dp-ros bag2zarr` see the same observation: node == bag2zarr.

The policy node runs a Push-T episode in the sim in realtime mode (wall-clock steps, real
latency: its observation times t_obs fall wherever its plans do), the camera at 10/3 Hz and
the joint states at 10 Hz (so the older step of each observation takes a frame 300 ms before
t_obs, where the nearest frame would be t_obs itself), while the project's recorder
(sim_bridge/record_demo.py) records the node's inputs. The node logs the
observation of every plan (observation_log_path: t_obs, per stream the stamps and SHA-1s of
the samples used); the bag is sampled by bag2zarr's own code at the node's observation
times (training.bag_episodes.sample_bag_at), and every state vector and image must be the
very one the node planned on. The same comparison on a grid shifted by 1 ms, or by one
control period, or with the offline 'nearest' alignment, must fail: the check can tell a
wrong alignment apart. Both states (positions; positions then velocities) are checked on
one episode and one bag: the second policy plans alongside the first in dry_run.
"""
from __future__ import annotations

import numpy as np
import pytest
from ros_harness import LATCHED
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from support import (
    DT_NS,
    MS,
    SIM_NAMESPACE,
    joint_state_shape_meta,
    make_tiny_checkpoint,
    module_cmd,
)

pytestmark = pytest.mark.ros

NS = SIM_NAMESPACE
MIN_PLANS = 8  # plans whose whole observation is compared (about 20 run in 80 steps)
STEPS = 80
CAMERA_HZ = 10 / 3


JOINTS = ['agent_x', 'agent_y']
# the state read from the joint states: the positions, or the positions then the velocities
# (each joint named twice, once per field: the node's state_fields, two bag2zarr sources)
FIELDS = {'position': ['position'], 'position+velocity': ['position', 'velocity']}


def parity_config(image_key: str, state_key: str, fields: list[str]) -> dict:
    """The node's two streams under the node's own names, as bag2zarr keys."""
    return {'control_period_s': DT_NS / 1e9, 'tolerance': 0.5, 'image_dtype': 'uint8',
            'reference_topic': f'{NS}/image_raw',
            'keys': {image_key: {'image': f'{NS}/image_raw', 'shape': [96, 96]},
                     state_key: [{'joint_state': f'{NS}/joint_states', 'joints': JOINTS,
                                  'field': f} for f in fields]}}


def tiny_policy(directory, fields: list[str]):
    """A tiny random policy whose state is the joints' `fields`, named and sourced as
    bag2zarr records them (the node checks its state_fields against them)."""
    meta = joint_state_shape_meta([(tuple(JOINTS), f) for f in fields], f'{NS}/joint_states')
    return make_tiny_checkpoint(directory, seed=3, shape_meta=meta)


def compare(records: list[dict], bag_path, config, shift_ns: int = 0,
            ) -> tuple[set[int], list[str], int]:
    """(the plans whose every sample equals bag2zarr's at the node's times + shift, what
    differed, padded samples): a sample stamped after its time is the episode's first one, standing
    in for a time before the episode began (as the sim pads): compared at its stamp."""
    from dp_ros.bags.reader import open_bag
    from dp_ros.runtime.alignment import SAME_INSTANT_NS
    from dp_ros.runtime.observation_log import sample_digest
    from training.bag_episodes import sample_bag_at

    wanted = []  # (plan, stream, time to sample the bag at, node's digest, node's values)
    padded = 0
    for p, record in enumerate(records):
        for name, entry in record['streams'].items():
            for j, t in enumerate(record['times_ns']):
                stamp = entry['stamps_ns'][j]
                if stamp > t + SAME_INSTANT_NS:
                    padded += 1
                    t = stamp
                wanted.append((p, name, t + shift_ns, entry['sha1'][j],
                               entry.get('values', [None] * (j + 1))[j]))
    times = np.array(sorted({w[2] for w in wanted}), dtype=np.int64)
    with open_bag(bag_path) as bag:
        values, valid = sample_bag_at(bag, config, times)
    at = {int(t): i for i, t in enumerate(times)}
    bad_plans: set[int] = set()
    problems = []
    for p, name, t, digest, node_values in wanted:
        i = at[t]
        if not valid[name][i]:
            problems.append(f'plan {p} {name} at {t}: bag2zarr has no sample')
        elif sample_digest(values[name][i]) != digest:
            problems.append(f'plan {p} {name} at {t}: bag2zarr '
                            f'{values[name][i].ravel()[:4].tolist()} != node '
                            f'{node_values if node_values is not None else digest}')
        else:
            continue
        bad_plans.add(p)
    return set(range(len(records))) - bad_plans, problems, padded


def check_parity(records: list[dict], bag, fields: list[str], streams: dict) -> None:
    """One node's logged observations (`records`, its state the joints' `fields`) against
    the bag (`streams`: its camera's and joint states' messages, read once): every sample
    the node used is in the bag and equals bag2zarr's at the node's times, and the wrong
    grids and alignments do not."""
    from training.bag2zarr_config import config_from_dict

    assert len(records) >= MIN_PLANS, f'only {len(records)} plans logged'
    image_key, state_key = sorted(records[0]['streams'], key=lambda k: k != 'image')
    assert records[0]['streams'][image_key]['shape'] == [96, 96, 3]
    assert records[0]['streams'][state_key]['shape'] == [len(JOINTS) * len(fields)]
    t_obs = [r['t_obs_ns'] for r in records]
    assert t_obs == sorted(set(t_obs)), 'one plan per observation time'
    # not trivially aligned: the older step's frame is older than its time (a slower camera:
    # in 26 of 27 plans on an idle machine). A share of the plans logged, not a count: a busy
    # machine logs fewer, and its joint states running behind the camera move t_obs
    older = sum(r['streams'][image_key]['stamps_ns'][0] < r['times_ns'][0] for r in records)
    assert 2 * older >= len(records), (older, len(records))

    # every sample the node planned on is in the bag (the recorder missed nothing it used)
    recorded = {image_key: set(streams[f'{NS}/image_raw'].stamps_ns),
                state_key: set(streams[f'{NS}/joint_states'].stamps_ns)}
    for name, stamps in recorded.items():
        used = {s for r in records for s in r['streams'][name]['stamps_ns']}
        assert used <= stamps, f'{name}: {len(used - stamps)} samples the node used are not ' \
                               'in the bag'

    config = config_from_dict(parity_config(image_key, state_key, fields))
    equal, problems, padded = compare(records, bag, config)
    assert not problems, '\n'.join(problems[:10])
    assert len(equal) == len(records) >= MIN_PLANS
    # a wrong grid fails it: 1 ms early takes the previous step's samples, one period late
    # the next step's. Every plan whose state changed between its two steps must differ (one
    # where the arm stood still, as before its first chunk lands, late under load, holds the
    # same state one step over and may agree; so may the padded first plan)
    moved = state_changed(records, state_key, streams[f'{NS}/joint_states'].stamps_ns)
    assert 2 * len(moved) >= len(records), (moved, len(records))  # as `older`
    for shift in (-1 * MS, DT_NS):
        equal_shifted, problems_shifted, _ = compare(records, bag, config, shift)
        assert problems_shifted and not equal_shifted & moved, (shift, equal_shifted & moved)
    if len(fields) > 1:  # and the velocities were the node's: positions in their place fail
        as_positions = config_from_dict(parity_config(image_key, state_key,
                                                      ['position'] * len(fields)))
        equal_wrong, problems_wrong, _ = compare(records, bag, as_positions)
        assert len(equal_wrong) <= 1 and problems_wrong, equal_wrong
    # and the offline 'nearest' alignment is not what the node sees: where the frame the node
    # took for a time is further before it than the bag's next frame is after it (mostly at
    # t_obs - dt: the node's frame 300 ms before, the next one, t_obs's, 100 ms after) nearest
    # takes that next frame. Every such plan where that frame's image differs must differ.
    # (Where the joint states ran two steps behind the camera under load, t_obs fell 100 ms
    # after a frame and nearest picks the node's frames for every time of that plan; where
    # the scene stood still, before the first chunk landed, the frames are equal: such a
    # plan may agree.)
    told_apart = nearest_differs(records, image_key, streams[f'{NS}/image_raw'].stamps_ns)
    assert 2 * len(told_apart) >= len(records), (told_apart, len(records))  # as `older`
    nearest = config_from_dict({**parity_config(image_key, state_key, fields),
                                'align': 'nearest'})
    equal_nearest, problems_nearest, _ = compare(records, bag, nearest)
    assert problems_nearest and not equal_nearest & told_apart, equal_nearest & told_apart
    print(f'{fields}: {len(records)} plans compared: every state and image equal ({padded} '
          f'samples padded at the episode start); shifted by -1 ms or +1 period: '
          f'{len(equal_shifted)} equal, none of the {len(moved)} where the state changed; '
          f'nearest: {len(equal_nearest)} equal, {len(told_apart)} plans where it takes another '
          'frame')


def state_changed(records: list[dict], state_key: str, state_stamps) -> set[int]:
    """The plans whose state samples are two consecutive joint-state messages in the bag,
    each stamped at its time, with different values: a grid 1 ms early takes the first for
    the second time, one period late the second for the first time, so neither can agree."""
    from dp_ros.runtime.alignment import SAME_INSTANT_NS

    stamps = np.sort(np.asarray(state_stamps, dtype=np.int64))
    changed = set()
    for p, record in enumerate(records):
        entry = record['streams'][state_key]
        (t0, t1), (s0, s1) = record['times_ns'], entry['stamps_ns']
        on_time = all(t - MS < s <= t + SAME_INSTANT_NS for t, s in ((t0, s0), (t1, s1)))
        consecutive = np.count_nonzero((stamps > s0) & (stamps < s1)) == 0
        if on_time and consecutive and s0 < s1 and entry['sha1'][0] != entry['sha1'][1]:
            changed.add(p)
    return changed


def nearest_differs(records: list[dict], image_key: str, frame_stamps) -> set[int]:
    """The plans with a time whose frame (the node's, at or before it) is further from it
    than the bag's next frame after it, and that next frame's image differs (by the digest
    the node logged where a plan used it; a scene standing still gives equal frames): the
    plans 'nearest' cannot agree with."""
    frames = np.sort(np.asarray(frame_stamps, dtype=np.int64))
    digests = {s: d for r in records
               for s, d in zip(r['streams'][image_key]['stamps_ns'],
                               r['streams'][image_key]['sha1'], strict=True)}
    told_apart = set()
    for p, record in enumerate(records):
        entry = record['streams'][image_key]
        for t, stamp, digest in zip(record['times_ns'], entry['stamps_ns'], entry['sha1'],
                                    strict=True):
            later = frames[frames > stamp]
            if stamp <= t and later.size and later[0] - t < t - stamp and \
                    digests.get(int(later[0]), digest) != digest:
                told_apart.add(p)
    return told_apart


# the second node's namespace: its services and dry-run topic apart from the first's (the
# parameter file's /**/dp_policy section still applies; every topic it reads is absolute)
SECOND_NS = '/parity_second'


def test_node_observations_equal_bag2zarr_at_the_node_times(tmp_path, ros_processes,
                                                             ros_probe):
    """Both states (FIELDS) on one episode, one bag: the positions policy drives the sim;
    the positions+velocities policy, a second node in its own namespace, plans on the same
    inputs in dry_run (its chunks on its own topic, the sim untouched). Each node logs its
    own observations at its own plan times; each is compared with the bag on its own."""
    from dp_ros.app.sim_launcher import SessionConfig, node_environment, policy_command, sim_command
    from dp_ros.bags.reader import open_bag, read_streams
    from dp_ros.runtime.observation_log import read_observation_log

    logs, cmds, cfg = {}, {}, None
    for i, (state, fields) in enumerate(FIELDS.items()):
        checkpoint = tiny_policy(tmp_path / f'tiny_{i}', fields)
        logs[state] = tmp_path / f'observations_{i}.jsonl'
        overrides = {'observation_log_path': str(logs[state]),
                     'state_joint_names': JOINTS * len(fields),
                     'state_fields': [f for f in fields for _ in JOINTS]}
        if i:
            overrides['dry_run'] = True
        state_cfg = SessionConfig(checkpoint=checkpoint, seeds=[100001], mode='realtime',
                                  max_steps=STEPS, device='cpu', cpu_threads=1,
                                  policy_overrides=overrides,
                                  sim_overrides={'camera_rate_hz': CAMERA_HZ})
        cmds[state] = policy_command(state_cfg) + (['-r', f'__ns:={SECOND_NS}'] if i else [])
        cfg = cfg or state_cfg  # the sim's: the first node's session
    bag = tmp_path / 'node_inputs'
    results = ros_probe.collect(String, f'{NS}/episode_result', LATCHED)
    # the shipped Fast DDS profile, as dp-ros sim gives its nodes
    env = {k: v for k, v in node_environment({}).items() if k != 'PYTHONUNBUFFERED'}
    ros_processes.start('pusht_sim', sim_command(cfg), env=env)
    for i, cmd in enumerate(cmds.values()):
        ros_processes.start(f'policy_node_{i}', cmd, env=env)
    rec = ros_processes.start('record', module_cmd(
        'sim_bridge.record_demo', '-o', str(bag), '--topics', f'{NS}/image_raw',
        f'{NS}/joint_states', f'{NS}/episode_result', '--stop-after-results', '1'))
    rec.wait_for_log('ready:', 60)
    # the nodes subscribe once their checkpoints are loaded and warmed up
    subscribers = 1 + len(cmds)
    # the recorder and the policy nodes on the camera and the joint states, matched (the
    # graph shows a reader a little before the sim's writer has matched it)
    ros_probe.wait_for_matched_readers(Image, f'{NS}/image_raw', subscribers, 120)
    ros_probe.wait_for_matched_readers(JointState, f'{NS}/joint_states', subscribers, 30)
    reply = ros_probe.call(Trigger, f'{NS}/reset', Trigger.Request())
    assert reply.success, reply.message
    ros_probe.wait_for(lambda: len(results) >= 1, STEPS * 0.1 + 90, 'the episode result')
    assert rec.popen.wait(timeout=30) == 0, rec.log()[-3000:]
    assert (bag / 'metadata.yaml').exists(), rec.log()[-3000:]

    with open_bag(bag) as b:
        streams = read_streams(b, {f'{NS}/image_raw': lambda m: None,
                                   f'{NS}/joint_states': lambda m: None}, progress=False)
    for state, fields in FIELDS.items():
        check_parity(read_observation_log(logs[state]), bag, fields, streams)
