"""DiffusionPolicy's TorchScript-frozen UNet is released with the policy (no ROS).

torch.jit files every traced or frozen module's code in one process-wide compilation unit
that never drops anything, and a frozen graph holds the folded weights: before the fix each
load -> warm-up -> close of a runner kept ~2.5 models resident for the life of the process
(a lifecycle node's configure/cleanup cycles grew by that each). Pinned here: the freeze
leaves nothing in torch.jit's global state, and load/close cycles return their memory (RSS,
bounded by the model's size, not by time).
"""
from __future__ import annotations

import gc
from pathlib import Path

import pytest
import torch
import torch.jit._recursive as jit_recursive
import torch.jit._state as jit_state
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401 (autouse)

from dp_ros.policy.checkpoint import load_policy
from dp_ros.runtime.inference_runner import load_runner
from dp_ros.runtime.policy_node_config import PolicyNodeConfig


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny', seed=2)


def zero_obs(policy) -> dict[str, torch.Tensor]:
    cfg = policy.config
    return {k: torch.zeros((1, cfg.n_obs_steps, *cfg.obs_shape(k))) for k in cfg.obs_keys}


def rss_kib() -> int:
    status = Path('/proc/self/status').read_text().splitlines()
    return int(next(line for line in status if line.startswith('VmRSS')).split()[1])


def test_freezing_leaves_nothing_in_torch_jit_global_state(checkpoint):
    """The frozen UNet's code lives in a unit of its own (held by the module), and the
    tracer's one-off module types are not kept in concrete_type_store."""
    policy = load_policy(checkpoint, device=torch.device('cpu')).eval()
    policy.use_torchscript(True)
    functions = len(jit_state._python_cu.get_functions())
    compiled = len(jit_recursive.concrete_type_store.methods_compiled)
    first = policy.predict_action(zero_obs(policy), torch.Generator().manual_seed(0))
    assert len(policy._frozen) == 1  # it did freeze (no eager fallback)
    assert len(jit_state._python_cu.get_functions()) == functions
    assert len(jit_recursive.concrete_type_store.methods_compiled) == compiled
    again = policy.predict_action(zero_obs(policy), torch.Generator().manual_seed(0))
    assert torch.equal(first['action_pred'], again['action_pred'])  # the frozen one replays


def test_load_close_cycles_return_the_models_memory(checkpoint):
    """Four load_runner (warm-up: the freeze) -> close -> drop cycles: RSS after the last is
    within one model's size of after the first (it grew ~2.5 models a cycle)."""
    cfg = PolicyNodeConfig(checkpoint=str(checkpoint), device='cpu', torchscript=True)
    model_kib = (Path(checkpoint) / 'model.safetensors').stat().st_size // 1024
    rss = []
    for _ in range(4):
        runner, _, warmup_s = load_runner(cfg)
        assert warmup_s is not None
        runner.close()
        del runner
        gc.collect()
        rss.append(rss_kib())
    growth = rss[-1] - rss[0]
    assert growth < model_kib, f'RSS grew {growth} KiB over 3 cycles (model {model_kib} KiB): {rss}'
