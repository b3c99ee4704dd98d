"""Configure/cleanup cycles of the managed policy node do not grow its memory: cleanup
'releases the policy' (policy_lifecycle_node.py).

Before the fix each cycle kept the TorchScript-frozen UNet of its warm-up (~2.5 models) in
torch.jit's process-wide compilation unit, so a lifecycle manager cycling the node, or an
operator reconfiguring for a replaced checkpoint, grew the process until it ran out of
memory. The bound is the model's size over the last four of six cycles (RSS, no timing): the
second cycle grows once by ~17 MB (torchscript only; caches filled once, then flat), which is
not per-cycle growth.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lifecycle_msgs.msg import State, Transition
from ros.test_policy_lifecycle_node import lifecycle_cmd

pytestmark = pytest.mark.ros


def rss_kib(pid: int) -> int:
    status = Path(f'/proc/{pid}/status').read_text().splitlines()
    return int(next(line for line in status if line.startswith('VmRSS')).split()[1])


def test_configure_cleanup_cycles_do_not_grow_memory_by_a_model_each(ros_processes,
                                                                     ros_probe, checkpoint):
    """Six configure/cleanup cycles (default torchscript, warm-up on: the freeze runs each
    time): the node's RSS after the sixth is within one model's size of after the second."""
    proc = ros_processes.start('lifecycle', lifecycle_cmd(checkpoint))
    model_kib = (Path(checkpoint) / 'model.safetensors').stat().st_size // 1024
    rss = []
    for cycle in range(6):
        assert ros_probe.change_lifecycle_state(Transition.TRANSITION_CONFIGURE), cycle
        assert ros_probe.change_lifecycle_state(Transition.TRANSITION_CLEANUP), cycle
        assert ros_probe.lifecycle_state() == State.PRIMARY_STATE_UNCONFIGURED
        rss.append(rss_kib(proc.popen.pid))
    growth = rss[-1] - rss[1]
    assert growth < model_kib, (f'RSS grew {growth} KiB over 4 cycles (model {model_kib} '
                                f'KiB): {rss}')
