"""The policy node's observation log when the disk fills mid-record (simulated with
RLIMIT_FSIZE in a child process: a write past it fails with EFBIG after a short write, as one
on a full disk fails with ENOSPC; first seen on a real nearly-full tmpfs).

The log turns itself off and says so once (test_observation_log.py); what it leaves must still
read: the records written before the failure, not a JSONDecodeError for a cut-off last one.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from support import REPO_ROOT, TEST_DIR

from dp_ros.runtime.observation_log import read_observation_log

SCRIPT = '''
import resource, sys
sys.path[:0] = [{repo!r}, {test!r}]
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
from test_observation_log import observation
from dp_ros.runtime.observation_log import ObservationLog
log = ObservationLog(sys.argv[1])
for k in range(10):
    failure = log.append(observation(1000 + 100 * k))
    if failure:
        print(k, failure)
'''


def test_a_log_cut_off_by_a_full_disk_still_reads(tmp_path):
    """Records appended until the file cap (the one crossing it written in part): the log
    says it is off, and the file holds exactly the whole records before it, no cut-off one
    (the failed append is cut back)."""
    path = tmp_path / 'obs.jsonl'
    proc = subprocess.run(
        [sys.executable, '-c', SCRIPT.format(repo=str(REPO_ROOT), test=str(TEST_DIR)),
         str(path)], text=True, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert 'the log is off' in proc.stdout, proc.stdout
    failed_at = int(proc.stdout.split()[0])
    assert failed_at > 0 and path.read_text().endswith('\n')
    records = read_observation_log(path)
    assert [r['t_obs_ns'] for r in records] == [1000 + 100 * k for k in range(failed_at)]


def test_a_cut_off_last_record_is_left_out_with_a_warning(tmp_path):
    """A log whose last record was cut off (a node killed mid-write): the whole records read,
    the cut-off one is left out and said; a bad record before the last is still an error."""
    path = tmp_path / 'obs.jsonl'
    path.write_text('{"t_obs_ns": 1}\n{"t_obs_ns": 2}\n{"t_obs_ns": 3, "tim')
    with pytest.warns(UserWarning, match='last record is cut off'):
        assert [r['t_obs_ns'] for r in read_observation_log(path)] == [1, 2]
    path.write_text('{"t_obs_ns": 1}\n{"t_obs_')  # the newline of a whole record is written
    with pytest.warns(UserWarning, match='cut off'):
        assert [r['t_obs_ns'] for r in read_observation_log(path)] == [1]
    path.write_text('{"t_obs_ns": 1, "tim\n{"t_obs_ns": 2}\n')
    with pytest.raises(ValueError):
        read_observation_log(path)
