"""`python -m sim_bridge.record_demo` whose bag fills the disk (RLIMIT_FSIZE on the recorder
only: a write past it fails with EFBIG, as one on a full disk with ENOSPC; first seen on a
real nearly-full tmpfs, where it printed two chained tracebacks, the spin's and bag.close()'s,
and exited 1, leaving a cut-off bag.mcap without metadata.yaml).

Its other errors are one line, `record_demo: ...`, exit 2; a full disk is the user's to fix as
much as an existing --output. The cut-off bag (no summary, no metadata.yaml: inspect and
bag2zarr refuse it) is removed.
"""
from __future__ import annotations

import os
import re
import resource
import subprocess
import time

import pytest
from support import checkout_env, module_cmd, sim_node_cmd

pytestmark = pytest.mark.ros


# what each storage says past the cap: an mcap bag's write() is an OSError; sqlite3's is a
# sqlite3.OperationalError, which BagRecorder raises as an OSError naming the bag, saying
# how many messages sqlite3 rolled back with the open transaction (none when it had just
# committed)
REASONS = {'mcap': re.escape('File too large'),
           'sqlite3': re.escape('disk I/O error (SQLITE_IOERR_WRITE)') +
           r'(; sqlite3 rolled back the \d+ message\(s\) written since its last commit)?'}


@pytest.mark.parametrize('storage', sorted(REASONS))
def test_record_demo_onto_a_full_disk_is_one_line_naming_the_bag(tmp_path, storage):
    """A realtime sim's 96x96 camera into a bag capped at 64 KiB: exit 2 before --duration,
    one line naming the bag and the reason, no traceback, no bag left."""
    sim = subprocess.Popen(sim_node_cmd('mode:=realtime', 'max_steps:=20',
                                        namespace='/df_rec'),
                           env=checkout_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    bag = tmp_path / 'bag'
    try:
        time.sleep(1.0)
        proc = subprocess.run(module_cmd('sim_bridge.record_demo', '-o', str(bag),
                                         '--namespace', '/df_rec', '--duration', '30',
                                         '--storage', storage),
                              env=checkout_env(), text=True, capture_output=True,
                              timeout=60, preexec_fn=cap)
    finally:
        os.killpg(sim.pid, 2)
        sim.wait(15)
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-600:])
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert re.fullmatch(f'record_demo: cannot write {re.escape(str(bag))}: {REASONS[storage]}; '
                        'the cut-off bag is removed', last), last
    assert 'wrote' not in proc.stdout
    assert not bag.exists()
