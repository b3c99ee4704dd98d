"""Review of dp_ros/runtime/observation_log.py (the policy node's observation log): what a record
holds per stream (stamps of each sample, SHA-1 of C-order bytes, shape, dtype, values up to
MAX_LOGGED_VALUES), the observation times, the PATH.1 rotation at max_bytes or more (default
100 MiB), and reading back a log with blank lines."""
from __future__ import annotations

import hashlib

import numpy as np

from dp_ros.runtime.observation_history import Observation
from dp_ros.runtime.observation_log import (
    MAX_LOG_BYTES,
    MAX_LOGGED_VALUES,
    append_observation,
    observation_record,
    read_observation_log,
    rotated_path,
    sample_digest,
)


def two_stream_observation() -> Observation:
    """Two streams whose samples differ and whose stamps are not the observation times."""
    joints = [np.array([0.5, -1.0, 2.0], np.float32), np.array([0.75, -1.5, 2.5], np.float32)]
    image = [np.full((4, 4, 3), 7, np.uint8), np.full((4, 4, 3), 9, np.uint8)]
    return Observation(t_ns=2000, times_ns=[1900, 2000],
                       values={'joints': joints, 'image': image},
                       stamps_ns={'joints': [1890, 1995], 'image': [1850, 1980]})


def test_sample_digest_is_the_sha1_of_the_c_order_bytes():
    """A user checks a logged sample with sha1 of its C-order bytes (bag2zarr's arrays)."""
    fortran = np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))
    expected = hashlib.sha1(np.arange(12, dtype=np.int16).tobytes()).hexdigest()
    assert sample_digest(fortran) == expected


def test_a_record_holds_per_sample_stamps_digests_values_and_the_times_oldest_first():
    """Each sample's own stamp, digest and values in order, the dtype, and the times oldest
    first: what test_bag_parity matches a bag against."""
    obs = two_stream_observation()
    record = observation_record(obs)
    assert record['t_obs_ns'] == 2000 and record['times_ns'] == [1900, 2000]
    joints, image = record['streams']['joints'], record['streams']['image']
    assert joints['stamps_ns'] == [1890, 1995] and image['stamps_ns'] == [1850, 1980]
    assert joints['sha1'] == [sample_digest(v) for v in obs.values['joints']]
    assert joints['sha1'][0] != joints['sha1'][1]
    assert image['sha1'] == [sample_digest(v) for v in obs.values['image']]
    assert joints['values'] == [[0.5, -1.0, 2.0], [0.75, -1.5, 2.5]]
    assert (joints['dtype'], image['dtype']) == ('float32', 'uint8')
    assert (joints['shape'], image['shape']) == ([3], [4, 4, 3])


def test_values_are_logged_up_to_max_logged_values_inclusive():
    """An array of MAX_LOGGED_VALUES values (64) is logged in full, one more only by hash."""
    assert MAX_LOGGED_VALUES == 64
    for size, logged in ((MAX_LOGGED_VALUES, True), (MAX_LOGGED_VALUES + 1, False)):
        sample = np.arange(size, dtype=np.float64)
        record = observation_record(Observation(t_ns=1, times_ns=[1], values={'s': [sample]},
                                                stamps_ns={'s': [1]}))
        assert ('values' in record['streams']['s']) == logged, size


def test_a_full_log_goes_to_path_dot_1_next_to_it(tmp_path):
    """The rotated file is PATH.1 (obs.jsonl.1, as the module says), not a renamed suffix."""
    path = tmp_path / 'obs.jsonl'
    assert rotated_path(path) == tmp_path / 'obs.jsonl.1'
    append_observation(path, two_stream_observation())
    append_observation(path, two_stream_observation(), max_bytes=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['obs.jsonl', 'obs.jsonl.1']


def test_a_log_of_exactly_max_bytes_is_rotated_and_one_byte_less_is_not(tmp_path):
    """'a file of max_bytes or more is first moved': the bound is inclusive."""
    path = tmp_path / 'obs.jsonl'
    append_observation(path, two_stream_observation())
    size = path.stat().st_size
    append_observation(path, two_stream_observation(), max_bytes=size + 1)
    assert not rotated_path(path).exists() and len(read_observation_log(path)) == 2
    size = path.stat().st_size
    append_observation(path, two_stream_observation(), max_bytes=size)
    assert len(read_observation_log(rotated_path(path))) == 2
    assert len(read_observation_log(path)) == 1


def test_the_default_rotation_size_is_100_mib(tmp_path):
    """A node left logging rotates at 100 MiB (sparse files stand in for a long run)."""
    assert MAX_LOG_BYTES == 100 * 2**20
    path = tmp_path / 'obs.jsonl'
    with path.open('wb') as f:
        f.truncate(MAX_LOG_BYTES - 1)
    append_observation(path, two_stream_observation())  # under the limit: appended
    assert not rotated_path(path).exists() and path.stat().st_size > MAX_LOG_BYTES
    append_observation(path, two_stream_observation())  # now over it: rotated first
    assert rotated_path(path).stat().st_size > MAX_LOG_BYTES
    assert [r['t_obs_ns'] for r in read_observation_log(path)] == [2000]


def test_reading_back_skips_blank_lines(tmp_path):
    """A log edited by hand, or with a blank line, still reads record by record."""
    path = tmp_path / 'obs.jsonl'
    append_observation(path, two_stream_observation())
    path.write_text('\n' + path.read_text() + '   \n\n')
    assert [r['t_obs_ns'] for r in read_observation_log(path)] == [2000]
