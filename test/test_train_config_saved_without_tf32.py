"""A run saved before train.tf32 existed trained in full float32 matmuls; train.tf32 arrived
with default true (TF32 on CUDA). Resuming such a run with the same command (a config that
does not set train.tf32) turned TF32 on mid-run. A saved config that lacks the field reads
false (training/config.py SAVED_WITHOUT, saved_config_data) and check_run keeps it on resume
(keep_saved_on_resume, before the changes are compared, said in a line); a config that sets
the field decides, and a fresh config keeps the default true. train.torch_compile came at the
same time: its default (null, eager) is what such a run did, so a saved config without it
needs nothing.

The change report reads the saved config the same way (run_check.config_changes): resuming
such a run with train.tf32=true is the change false -> true, and with train.tf32=false no
change (it read today's default, true, and reported both backwards).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import (  # noqa: F401 (no_curves: a fixture)
    no_curves,
    small_config,
    without_curves,
    write_small_store,
)

from training import train as train_cli
from training.config import TrainConfig, keep_saved_on_resume, load_config, saved_config_data
from training.run_check import config_changes

pytestmark = pytest.mark.usefixtures('no_curves')  # no test here looks at curves.png




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
    ({}, True, True),  # saved with the field: resumed as any key (a change is reported)
    ({}, False, True),
    ({'train': {'tf32': False}}, True, False),
])
def test_keep_saved_on_resume(given, saved_tf32, expected):
    """Only a saved config without the field keeps it: a review saw every resume, of runs
    saved with train.tf32 too, say it 'kept true ... (before the key existed)'."""
    saved = old_saved_config()
    if saved_tf32 is not None:
        saved['train']['tf32'] = saved_tf32
    cfg = TrainConfig.from_dict(given)
    kept = keep_saved_on_resume(cfg, given, saved)
    assert cfg.train.tf32 is expected
    assert kept == (['train.tf32'] if saved_tf32 is None and 'tf32' not in given.get('train', {})
                    else [])


@pytest.mark.parametrize('tf32, reported', [
    (True, [('train.tf32', False, True)]),  # the run trained in float32: now TF32
    (False, []),  # as it trained
])
def test_config_changes_read_a_run_saved_without_tf32_as_float32(tf32, reported):
    new = TrainConfig.from_dict({'train': {'tf32': tf32}}).to_dict()
    assert [c for c in config_changes(old_saved_config(), new) if 'tf32' in c[0]] == reported


# ------------------------------------------------------------- `dp-ros train` on a real run
@pytest.fixture(scope='module')
def saved_run(tmp_path_factory) -> tuple[Path, Path]:
    """(config file, run folder): a tiny run of 2 steps trained and saved, its config file
    without train.tf32 (the command that made a run before the key existed)."""
    root = tmp_path_factory.mktemp('old_run')
    store = write_small_store(root / 'small.zarr')
    config = small_config(store, train={'max_steps': 2}).to_dict()
    del config['train']['tf32']
    config_file = root / 'config.yaml'
    config_file.write_text(yaml.safe_dump(config))
    run = root / 'run'
    with without_curves():
        assert train_cli.main(['--config', str(config_file), '--output', str(run)]) == 0
    return config_file, run


def forget_tf32(run: Path) -> None:
    """The run's train state as a dp_ros before train.tf32 saved it."""
    state = run / 'train_state' / 'state.json'
    saved = json.loads(state.read_text())
    del saved['config']['train']['tf32']
    state.write_text(json.dumps(saved))


def resume(config_file: Path, run: Path, max_steps: int, caplog, *overrides: str,
           forget: bool = True) -> tuple[bool, bool, list[str]]:
    """`dp-ros train --resume auto` for one more step: (config.yaml's train.tf32, the train
    state's, the log's lines about train.tf32); `forget`: of a run saved before the key."""
    if forget:
        forget_tf32(run)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger='dp_ros.train'):
        assert train_cli.main(['--config', str(config_file), '--output', str(run),
                               '--resume', 'auto', '--max-steps', str(max_steps),
                               *overrides]) == 0
    written = yaml.safe_load((run / 'config.yaml').read_text())['train']['tf32']
    state = json.loads((run / 'train_state' / 'state.json').read_text())
    return (written, state['config']['train']['tf32'],
            [m for m in caplog.messages if 'train.tf32' in m])


def test_dp_ros_train_resumes_a_run_saved_before_tf32_in_full_float32(saved_run, caplog):
    config_file, run = saved_run
    written, state, said = resume(config_file, run, 3, caplog)
    assert (written, state) == (False, False)
    assert said == ['train.tf32 kept false, as the run was saved (before the key existed): '
                    'set it in the config to change it']  # and no change reported
    # the config sets it: it decides, and the change from what the run did is reported
    written, state, said = resume(config_file, run, 4, caplog, 'train.tf32=true')
    assert (written, state) == (True, True)
    [change] = said
    assert 'train.tf32 false -> true' in change, change
    # set to what the run did: nothing kept, nothing changed
    assert resume(config_file, run, 5, caplog, 'train.tf32=false') == (False, False, [])


def test_a_run_saved_with_tf32_resumes_without_a_word_about_it(saved_run, caplog):
    """The train state records train.tf32 (today's saves): nothing is 'kept as the run was
    saved (before the key existed)'; the config file does not set it, so the default holds,
    and the change from the saved false is reported as any key's."""
    config_file, run = saved_run
    assert resume(config_file, run, 6, caplog, 'train.tf32=true')[:2] == (True, True)
    written, state, said = resume(config_file, run, 7, caplog, forget=False)
    assert (written, state, said) == (True, True, [])
