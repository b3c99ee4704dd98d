"""One run per folder, and runs that continue across folders (found by exploratory testing of
training/run_dir.py): a run continued from another folder's train state brings that run's
checkpoints/best (its restored best score is that checkpoint's); a warm start from the folder
a new run sets aside records where the weights are now; a stopped run started with --resume
never or --resume PATH says how to continue it, which is not the same command."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import (  # noqa: F401
    no_curves,
    saved_state,
    small_arrays,
    small_config,
    write_small_store,
)

from training.trainer import Trainer, train
from training.warm_start import init_checkpoint

pytestmark = pytest.mark.usefixtures('no_curves')  # no test here looks at curves.png


@pytest.fixture(scope='module')
def store(tmp_path_factory) -> Path:
    return write_small_store(tmp_path_factory.mktemp('data') / 'small.zarr')


@pytest.fixture(scope='module')
def square_store(tmp_path_factory) -> Path:
    """The synthetic store with square 12x12 images (the Push-T sim renders square ones)."""
    arrays = small_arrays()
    rng = np.random.default_rng(1)
    arrays['img'] = rng.integers(0, 256, size=(len(arrays['img']), 12, 12, 3)).astype(np.uint8)
    return write_small_store(tmp_path_factory.mktemp('data') / 'sq.zarr', arrays)


def _evaluating(store: Path, **train_values):
    return small_config(store, policy={'crop_shape': [10, 10]},
                        eval={'n_episodes': 1, 'max_steps': 3, 'n_video_episodes': 0},
                        train={'eval_every': 2, **train_values})


def test_a_run_continued_in_another_folder_brings_its_best_checkpoint(tmp_path, square_store,
                                                                      caplog):
    run, other = tmp_path / 'run', tmp_path / 'other'
    first = train(_evaluating(square_store, max_steps=2), run)  # evaluates at step 2: best
    assert first['best_score'] is not None
    best = json.loads((run / 'checkpoints' / 'best' / 'policy.json').read_text())
    cfg = _evaluating(square_store, max_steps=3, eval_every=0)
    cfg.eval.n_episodes = 0
    with caplog.at_level(logging.INFO, logger='dp_ros.train'):
        summary = train(cfg, other, resume=str(run))
    assert summary['best_score'] == first['best_score']
    assert json.loads((other / 'checkpoints' / 'best' / 'policy.json').read_text()) == best
    assert any('its checkpoints/best (the best score so far) copied to' in m
               for m in caplog.messages)
    assert (run / 'checkpoints' / 'best').is_dir()  # copied, not moved
    # continued in its own folder: nothing to copy, nothing said
    caplog.clear()
    with caplog.at_level(logging.INFO, logger='dp_ros.train'):
        train(cfg, other)
    assert not any('copied to' in m for m in caplog.messages)


class StopAfterFirstStep(Trainer):
    def _should_stop(self) -> bool:
        self.stop_signal = 'SIGINT'  # as the handler sets it on Ctrl-C
        return True


@pytest.mark.parametrize('resume, advice', [
    ('never', 'run the command again without --resume never to continue'),
    ('auto', 'run the same command again to continue')])
def test_a_stopped_run_says_how_to_continue_it(tmp_path, store, caplog, resume, advice):
    """The same command with --resume never would set the stopped run aside and start over."""
    cfg = small_config(store, train={'max_steps': 6, 'checkpoint_every': 100})
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        summary = StopAfterFirstStep(cfg, tmp_path / 'run', resume=resume).run()
    assert summary['interrupted'] == 'SIGINT'
    [message] = [m for m in caplog.messages if 'stopped at step' in m]
    assert message.endswith(advice), message


def test_a_warm_start_from_the_folder_set_aside_records_where_the_weights_are(tmp_path, store):
    run = tmp_path / 'run'
    train(small_config(store, train={'max_steps': 2}), run)
    train(small_config(store, train={'max_steps': 2, 'init_from': str(run)}), run,
          resume='never')
    earlier = run / 'earlier_runs' / '1'
    recorded = yaml.safe_load((run / 'config.yaml').read_text())['train']['init_from']
    assert Path(recorded) == earlier
    assert init_checkpoint(recorded).resolve() == (earlier / 'checkpoints' / 'latest').resolve()
    provenance = json.loads((run / 'checkpoints' / 'latest' / 'policy.json').read_text())
    assert Path(provenance['provenance']['train_config']['train']['init_from']) == earlier


class StopBeforeFirstStep(Trainer):
    def _pending_evaluation(self) -> str | None:
        self.stop_signal = 'SIGINT'  # a stop before the first step (as one cutting short the
        return 'SIGINT'              # evaluation the train state left pending)


def test_a_run_continued_elsewhere_and_stopped_before_a_step_is_saved_there(tmp_path, store,
                                                                            caplog):
    """`--resume OTHER --output NEW` stopped before its first step said 'train state saved in
    NEW/train_state' and saved none there: the advice (the command without --resume OTHER)
    then set NEW aside and trained from step 0. Now the state is saved in NEW, as said."""
    run, other = tmp_path / 'run', tmp_path / 'other'
    train(small_config(store, train={'max_steps': 2}), run)
    cfg = small_config(store, train={'max_steps': 4})
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        summary = StopBeforeFirstStep(cfg, other, resume=str(run)).run()
    assert summary['interrupted'] == 'SIGINT' and summary['step'] == 2
    [message] = [m for m in caplog.messages if 'stopped at step' in m]
    assert f'train state saved in {other / "train_state"}' in message, message
    assert saved_state(other)['position']['step'] == 2
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        assert train(cfg, other)['step'] == 4  # the advice: continues at 2, nothing set aside
    assert not (other / 'earlier_runs').exists(), caplog.messages


def test_a_config_yaml_of_the_users_in_the_output_is_set_aside_not_overwritten(
        tmp_path, store, caplog):
    """A folder holding a config.yaml alone was taken for this command stopped in its
    start-up and the file rewritten: a user's own file there was lost. Only the text this
    run writes is rewritten; another is set aside, said."""
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'config.yaml').write_text('my: important robot config\n')
    cfg = small_config(store, train={'max_steps': 2})
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        train(cfg, run)
    kept = run / 'earlier_runs' / '1' / 'config.yaml'
    assert kept.read_text() == 'my: important robot config\n'
    assert any(f'the config.yaml that was there (not the one this run writes) is in '
               f'{kept.parent}' in m for m in caplog.messages), caplog.messages
    # this run's own config.yaml alone (its start-up stopped) is rewritten, nothing set aside
    again = tmp_path / 'again'
    again.mkdir()
    (again / 'config.yaml').write_text(cfg.to_yaml())
    train(cfg, again)
    assert not (again / 'earlier_runs').exists()


def test_a_run_killed_before_its_first_save_is_set_aside_without_advice_to_continue_it(
        tmp_path, store, caplog):
    """A run killed (kill -9, the OOM killer) in its first step leaves config.yaml, an empty
    log.jsonl and tb/, no train state: the rerun set it aside telling the user to continue it
    there, which cannot be done. It says there is nothing to continue."""
    run = tmp_path / 'run'
    (run / 'tb').mkdir(parents=True)
    (run / 'log.jsonl').write_text('')
    cfg = small_config(store, train={'max_steps': 2})
    (run / 'config.yaml').write_text(cfg.to_yaml())
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        train(cfg, run)
    aside = run / 'earlier_runs' / '1'
    assert sorted(p.name for p in aside.iterdir()) == ['config.yaml', 'log.jsonl', 'tb']
    [message] = [m for m in caplog.messages if 'a new run in' in m]
    assert message.endswith(f'what a run stopped before its first save left there is in '
                            f'{aside} (no train state: nothing to continue)'), message
    assert 'continue it there' not in message
