"""The test run's use of disk: a passed test's tmp_path is deleted when it ends (pytest.ini),
and a run refuses to start, saying why, where there is too little room for its folders
(conftest.py). A CI run once filled the disk: pytest keeps the last three runs' folders by
default, 6.6-8.0 GB each for this suite, and the run failed with ENOSPC part way.
"""
from __future__ import annotations

import subprocess
import sys

from conftest import MIN_FREE_TMP_BYTES, tmp_space_problem
from support import REPO_ROOT

TWO_TESTS = '''
def test_passes(tmp_path):
    (tmp_path / 'kept_if_failed').write_bytes(b'x' * 1000)

def test_fails(tmp_path):
    (tmp_path / 'kept_if_failed').write_bytes(b'x' * 1000)
    assert False
'''


def test_a_passed_tests_folder_is_deleted_and_a_failed_ones_kept(tmp_path):
    (tmp_path / 'test_two.py').write_text(TWO_TESTS)
    base = tmp_path / 'base'
    run = subprocess.run(
        [sys.executable, '-m', 'pytest', '-c', str(REPO_ROOT / 'pytest.ini'), '-p',
         'no:cacheprovider', '-n', '0', '--basetemp', str(base), str(tmp_path / 'test_two.py')],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert '1 failed, 1 passed' in run.stdout, run.stdout[-3000:]
    kept = sorted(p.parent.name for p in base.rglob('kept_if_failed'))
    assert kept == ['test_fails0'], kept


def test_too_little_free_space_is_named_with_the_folder_and_both_sizes(tmp_path):
    assert tmp_space_problem(tmp_path, need=0) is None
    problem = tmp_space_problem(tmp_path, need=2**60)  # an exabyte: no disk has it free
    assert problem is not None and str(tmp_path) in problem, problem
    assert problem.startswith('only ') and 'a run needs 1073741824.0 GB' in problem, problem
    assert MIN_FREE_TMP_BYTES > 1024**3  # above a full run's peak, near 1 GB
