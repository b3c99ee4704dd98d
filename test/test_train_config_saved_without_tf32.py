"""A run saved before train.tf32 existed trained in full float32 matmuls; train.tf32 arrived
with default true (TF32 on CUDA). Resuming such a run with the same command (a config that
does not set train.tf32) turned TF32 on mid-run. A saved config that lacks the field reads
false (training/config.py SAVED_WITHOUT, saved_config_data) and `dp-ros train` keeps it on
resume (keep_saved_on_resume); a config that sets the field decides, and a fresh config keeps
the default true. train.torch_compile came at the same time: its default (null, eager) is
what such a run did, so a saved config without it needs nothing.

`dp-ros train` runs with check_run and the Trainer replaced (no dataset, no torch): what is
pinned is the config the Trainer gets.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from training import train as train_cli
from training.config import TrainConfig, keep_saved_on_resume, load_config, saved_config_data


def old_saved_config() -> dict[str, Any]:
    """A run's config as a dp_ros before train.tf32 and train.torch_compile saved it."""
    config = TrainConfig().to_dict()
    del config['train']['tf32'], config['train']['torch_compile']
    return config


def test_a_saved_config_without_tf32_reads_false_and_a_fresh_one_true():
    assert TrainConfig().train.tf32 is True
    assert load_config().train.tf32 is True
    old = TrainConfig.from_dict(saved_config_data(old_saved_config()))
    assert old.train.tf32 is False
    assert old.train.torch_compile is None  # eager: what such a run did
    # a saved config that has the field keeps it
    new = TrainConfig().to_dict()
    assert TrainConfig.from_dict(saved_config_data(new)).train.tf32 is True


@pytest.mark.parametrize('given, saved_tf32, expected', [
    ({}, None, False),  # saved before the field: as the run trained
    ({'train': {'tf32': True}}, None, True),  # the config sets it: it decides
    ({}, True, True),  # saved with the field: its value
    ({'train': {'tf32': False}}, True, False),
])
def test_keep_saved_on_resume(given, saved_tf32, expected):
    saved = old_saved_config()
    if saved_tf32 is not None:
        saved['train']['tf32'] = saved_tf32
    cfg = TrainConfig.from_dict(given)
    kept = keep_saved_on_resume(cfg, given, saved)
    assert cfg.train.tf32 is expected
    assert kept == ([] if 'tf32' in given.get('train', {}) else ['train.tf32'])


@dataclass
class FakeChecked:
    saved: dict[str, Any] | None


def run_train_main(monkeypatch, tmp_path, saved: dict[str, Any] | None,
                   *overrides: str) -> TrainConfig:
    """`dp-ros train --config C --output RUN` with the run's train state `saved` (None: a
    fresh run); the config the Trainer got."""
    got: list[TrainConfig] = []

    class FakeTrainer:
        def __init__(self, cfg, output, resume, checked):
            got.append(cfg)

        def run(self) -> dict[str, Any]:
            return {'interrupted': None}

    monkeypatch.setattr(train_cli, 'check_run', lambda cfg, run_dir, resume: FakeChecked(saved))
    monkeypatch.setitem(sys.modules, 'training.trainer',
                        types.SimpleNamespace(Trainer=FakeTrainer))
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump({'train': {'max_steps': 4}}))
    code = train_cli.main(['--config', str(config), '--output', str(tmp_path / 'run'),
                           *overrides])
    assert code == 0
    (cfg,) = got
    return cfg


def test_dp_ros_train_resumes_a_run_saved_before_tf32_in_full_float32(monkeypatch, tmp_path):
    resumed = run_train_main(monkeypatch, tmp_path, {'config': old_saved_config()})
    assert resumed.train.tf32 is False
    assert resumed.train.max_steps == 4
    assert run_train_main(monkeypatch, tmp_path, {'config': old_saved_config()},
                          'train.tf32=true').train.tf32 is True
    assert run_train_main(monkeypatch, tmp_path, None).train.tf32 is True  # a fresh run
