"""train.mixed_precision fp16 on the CPU trains in fp32 and says so (one warning), as bf16 on
a CPU that emulates it does (training/cpu_precision.py): accelerate does not autocast to fp16
on the CPU, so such a run trained in fp32 while its log line said fp16."""
from __future__ import annotations

import logging

import pytest
import torch
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from training.cpu_precision import effective_mixed_precision
from training.trainer import Trainer


@pytest.mark.parametrize('capability', ['AVX2', 'AVX512'])
def test_fp16_on_any_cpu_is_fp32_with_a_warning(capability):
    precision, warning = effective_mixed_precision('fp16', True, capability)
    assert precision == 'no' and 'fp16' in warning and 'fp32' in warning


def test_fp16_on_an_accelerator_is_kept():
    assert effective_mixed_precision('fp16', False, 'AVX2') == ('fp16', None)


def test_fp16_on_the_cpu_is_the_precision_the_run_says(tmp_path, caplog):
    """A CPU run asked for fp16 either computes in fp16 under its autocast or reports
    another precision (Trainer.precision, what its log line names), with one warning."""
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store, train={'mixed_precision': 'fp16', 'cpu': True, 'max_steps': 1})
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        trainer = Trainer(cfg, tmp_path / 'run', 'never')
    with trainer.accelerator.autocast():
        out = torch.nn.Linear(4, 4)(torch.rand(2, 4))
    assert trainer.precision != 'fp16' or out.dtype == torch.float16, (trainer.precision,
                                                                        out.dtype)
    assert len([r for r in caplog.records if 'mixed_precision fp16' in r.getMessage()]) == 1
