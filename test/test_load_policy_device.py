"""load_policy with a device torch cannot use here: a ValueError naming the device and torch's
reason in one line, before anything is read (library callers got torch's AssertionError or a
many-line RuntimeError; the commands check devices with resolve_device first)."""
from __future__ import annotations

import pytest
import torch
from support import SHIPPED_CHECKPOINT

from dp_ros.policy.checkpoint import load_policy


@pytest.mark.parametrize('device', ['CPU', ' cpu', 'garbage', 'mps'])
def test_a_device_torch_refuses_is_one_value_error_naming_it(device):
    with pytest.raises(ValueError, match=f"device '{device}' cannot be used here: ") as info:
        load_policy(SHIPPED_CHECKPOINT, device=device)
    assert '\n' not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA machine can use it')
def test_cuda_on_a_machine_without_it_is_named():
    with pytest.raises(ValueError, match="device 'cuda' cannot be used here"):
        load_policy(SHIPPED_CHECKPOINT, device='cuda')


def test_a_usable_device_still_loads_there():
    assert load_policy(SHIPPED_CHECKPOINT, device=torch.device('cpu')).device.type == 'cpu'
