"""`dp-ros arm-record` whose bag fills the disk (simulated with RLIMIT_FSIZE: a write past it
fails with EFBIG, as one on a full disk with ENOSPC; first seen on a real nearly-full tmpfs).

The bag is written from the recorder's spin thread (sim_bridge/record_demo.py): the failed
write must come out as the command's one line naming the bag, exit 2, not also as an
'Exception in thread ... Traceback' from that thread, and it stops the episode there (it ran
on to its end, the recorder dead).
"""
from __future__ import annotations

import resource
import subprocess

import pytest
from support import REPO_ROOT, checkout_env, module_cmd

pytestmark = pytest.mark.ros


def test_arm_record_onto_a_full_disk_is_one_line_naming_the_bag(tmp_path, pusht_zarr):
    """A bag that fills the disk mid-episode (the paper's episode 0, 160 steps, its chunks
    written as it records): exit 2, one line naming the episode's (staging) bag and no
    traceback; no bag, whole or half, left; no episode line (it stopped, never finished)."""
    limit = 512 * 1024  # a few of the 640x480 camera's frames, compressed

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    output = tmp_path / 'bags'
    proc = subprocess.run(
        module_cmd('dp_ros.cli', 'arm-record', '--no-progress', '--mode', 'lockstep',
                   '--output', str(output), '--episodes', '0', '--retries', '0',
                   '--namespace', '/arm_df', '--dataset', str(pusht_zarr)),
        cwd=REPO_ROOT, env=checkout_env(), text=True, capture_output=True, timeout=240,
        preexec_fn=cap)
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-600:])
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    bag = tmp_path / '.bags.partial' / 'episode_000'
    assert last == f'dp-ros arm-record: cannot write: {bag}: File too large', last
    assert 'episode 0:' not in proc.stdout + proc.stderr
    assert not list(tmp_path.rglob('*.mcap'))
