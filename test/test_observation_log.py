"""The policy node's debug observation log: one JSON line per plan, rotated when full."""
from __future__ import annotations

import numpy as np

from dp_ros.runtime.observation_history import Observation
from dp_ros.runtime.observation_log import (
    ObservationLog,
    append_observation,
    read_observation_log,
    rotated_path,
    sample_digest,
)

T = 10**9  # stamps of one width: records of one size


def observation(t_ns: int) -> Observation:
    image = np.full((8, 8, 3), t_ns % 256, dtype=np.uint8)
    return Observation(t_ns=t_ns, times_ns=[t_ns - 100, t_ns],
                       values={'image': [image, image], 'agent_pos': [np.array([1.0, 2.0])] * 2},
                       stamps_ns={'image': [t_ns - 100, t_ns], 'agent_pos': [t_ns - 90, t_ns]})


def test_records_hold_stamps_digests_and_small_values(tmp_path):
    """Images by SHA-1 of their bytes, joint states in full: what test_bag_parity compares."""
    path = tmp_path / 'sub' / 'obs.jsonl'
    append_observation(path, observation(1000))
    append_observation(path, observation(1100))
    records = read_observation_log(path)
    assert [r['t_obs_ns'] for r in records] == [1000, 1100]
    image = records[0]['streams']['image']
    assert image['stamps_ns'] == [900, 1000] and image['shape'] == [8, 8, 3]
    assert image['sha1'][0] == sample_digest(observation(1000).values['image'][0])
    assert 'values' not in image
    assert records[0]['streams']['agent_pos']['values'] == [[1.0, 2.0], [1.0, 2.0]]


def test_a_full_log_moves_to_path_1_and_a_new_one_begins(tmp_path):
    """A node left logging keeps at most two files' worth: the full one goes to PATH.1
    (replacing the one before), and nothing appended is lost from the newest file."""
    path = tmp_path / 'obs.jsonl'
    append_observation(path, observation(T + 1000))
    size = path.stat().st_size
    for t in (T + 1100, T + 1200):  # the file is under max_bytes before each: appended
        append_observation(path, observation(t), max_bytes=2 * size + 1)
    assert [r['t_obs_ns'] for r in read_observation_log(path)] == [T + 1000, T + 1100, T + 1200]
    assert not rotated_path(path).exists()
    append_observation(path, observation(T + 1300), max_bytes=2 * size + 1)
    assert [r['t_obs_ns'] for r in read_observation_log(rotated_path(path))] == \
        [T + 1000, T + 1100, T + 1200]
    assert [r['t_obs_ns'] for r in read_observation_log(path)] == [T + 1300]
    for t in (T + 1400, T + 1500, T + 1600):
        append_observation(path, observation(t), max_bytes=2 * size + 1)
    assert [r['t_obs_ns'] for r in read_observation_log(rotated_path(path))] == \
        [T + 1300, T + 1400, T + 1500]
    assert [r['t_obs_ns'] for r in read_observation_log(path)] == [T + 1600]


def test_a_failed_write_turns_the_log_off_and_says_so_once(tmp_path):
    """The node's log (ObservationLog): appends while it can; a write that fails (here its
    folder replaced by a file, as a full disk or a removed folder would) is one message and
    the log is off after it, never an exception in the node's plan."""
    folder = tmp_path / 'logs'
    log = ObservationLog(folder / 'obs.jsonl')
    assert log.append(observation(1000)) is None
    assert len(read_observation_log(folder / 'obs.jsonl')) == 1
    (folder / 'obs.jsonl').unlink()
    folder.rmdir()
    folder.write_text('not a folder')
    failure = log.append(observation(1100))
    assert failure.startswith(f'observation_log_path: cannot append to {folder / "obs.jsonl"} (')
    assert failure.endswith('): the log is off')
    assert log.append(observation(1200)) is None and log.path == ''
    assert ObservationLog('').append(observation(1300)) is None  # off from the start
