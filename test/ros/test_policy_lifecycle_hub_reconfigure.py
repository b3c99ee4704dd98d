"""A managed node whose checkpoint is an hf:// spec takes the newest push at each configure
(README: "each configure reads the checkpoint as it is then").

Pinned (a review's day 2): load_setup wrote the resolved snapshot into the node's config, so
every later configure (cleanup, then configure) loaded the first commit again, the newer
push never. The configure now reads the parameters afresh and says which folder it loaded."""
from __future__ import annotations

import shutil

import pytest
from lifecycle_msgs.msg import Transition
from ros.test_policy_lifecycle_node import lifecycle_cmd
from ros.tiny_checkpoint import make_tiny_checkpoint

pytestmark = pytest.mark.ros

FIRST, SECOND = '1' * 40, '2' * 40


def _push(cache, commit: str, policy) -> None:
    """policy as org/arm's main branch at `commit` (huggingface_hub's cache layout)."""
    repo = cache / 'models--org--arm'
    shutil.copytree(policy, repo / 'snapshots' / commit)
    (repo / 'refs').mkdir(parents=True, exist_ok=True)
    (repo / 'refs' / 'main').write_text(commit)


def test_a_configure_after_cleanup_loads_the_newest_push(ros_processes, ros_probe, tmp_path):
    policy = make_tiny_checkpoint(tmp_path / 'policy')
    cache = tmp_path / 'hf_cache'
    _push(cache, FIRST, policy)
    node = ros_processes.start('lifecycle', lifecycle_cmd('hf://org/arm'), env={
        'HF_HUB_CACHE': str(cache), 'HF_HUB_OFFLINE': '1'})

    def transition(transition_id: int) -> None:
        assert ros_probe.change_lifecycle_state(transition_id), node.log()[-3000:]

    transition(Transition.TRANSITION_CONFIGURE)
    assert f'configured: loaded {cache}/models--org--arm/snapshots/{FIRST}' in node.log()
    transition(Transition.TRANSITION_CLEANUP)
    _push(cache, SECOND, policy)
    transition(Transition.TRANSITION_CONFIGURE)
    assert f'configured: loaded {cache}/models--org--arm/snapshots/{SECOND}' in node.log(), \
        node.log()[-3000:]
