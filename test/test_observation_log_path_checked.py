"""An observation_log_path the node cannot write (a directory, a path under a file) is refused
at start in one line, as urdf_path's file is (found by exploratory testing: the node started,
then died with a traceback at its first plan)."""
from __future__ import annotations

from pathlib import Path

import pytest

from dp_ros.params import config_from_dict
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, load_setup

CHECKPOINT = Path(__file__).resolve().parents[1] / 'checkpoints' / 'pusht_default'


def cfg(**values) -> PolicyNodeConfig:
    return config_from_dict(PolicyNodeConfig, {'checkpoint': str(CHECKPOINT), 'device': 'cpu',
                                               **values})


def test_the_shipped_checkpoint_loads_with_a_writable_log(tmp_path):
    load_setup(cfg(observation_log_path=str(tmp_path / 'obs.jsonl')))


def test_a_directory_as_observation_log_path_is_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match='observation_log_path'):
        load_setup(cfg(observation_log_path=str(tmp_path)))


def test_a_log_path_under_a_file_is_refused_at_start(tmp_path):
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    with pytest.raises(ValueError, match='observation_log_path'):
        load_setup(cfg(observation_log_path=str(a_file / 'obs.jsonl')))
