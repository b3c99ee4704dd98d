"""Review tests of training/train.py (`dp-ros train`), main(argv) in-process: --max-steps and
overrides, the --resume modes, and the error rule (one line on stderr, exit 2), all found
before the trainer (and torch) loads."""
from __future__ import annotations

import pytest
from support import nonempty_lines

from training.train import main


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in nonempty_lines(err) if line.startswith('dp-ros train: ')]
    assert len(lines) == 1 and 'Traceback' not in err, err
    return lines[0]


def base_args(tmp_path) -> list[str]:
    return ['--output', str(tmp_path / 'run'), f"data.zarr_path={tmp_path / 'absent.zarr'}",
            'train.progress=false']


def test_max_steps_is_train_max_steps_and_wins_over_an_override(tmp_path, capsys):
    """--max-steps 0 is train.max_steps=0 (refused, named), applied after the positional
    overrides: train.max_steps=5 given too does not hide it."""
    assert main(['--max-steps', '0', *base_args(tmp_path), 'train.max_steps=5']) == 2
    line = one_error_line(capsys)
    assert 'max_steps' in line and 'absent.zarr' not in line, line


def test_an_override_reaches_its_key(tmp_path, capsys):
    """Without --max-steps, a bad train.max_steps override is the error named."""
    assert main([*base_args(tmp_path), 'train.max_steps=0']) == 2
    assert 'max_steps' in one_error_line(capsys)


def test_a_missing_config_file_is_one_line_exit_2(tmp_path, capsys):
    """--config of a missing file (a FileNotFoundError) is one line naming it, exit 2."""
    assert main(['--config', str(tmp_path / 'absent.yaml'), '--output',
                 str(tmp_path / 'run')]) == 2
    assert 'absent.yaml' in one_error_line(capsys)


def broken_state(run_dir) -> None:
    state = run_dir / 'train_state'
    state.mkdir(parents=True)
    (state / 'state.json').write_text('{not json')


def test_resume_defaults_to_auto_and_reads_the_runs_train_state(tmp_path, capsys):
    """Without --resume, <output>/train_state is continued: a broken one is the error."""
    broken_state(tmp_path / 'run')
    assert main(base_args(tmp_path)) == 2
    line = one_error_line(capsys)
    assert 'state.json' in line and 'not valid JSON' in line, line


@pytest.mark.parametrize('how', ['never'])
def test_resume_never_ignores_the_runs_train_state(tmp_path, capsys, how):
    """--resume never starts over: the broken train_state is not read; the missing dataset is
    the error."""
    broken_state(tmp_path / 'run')
    assert main([*base_args(tmp_path), '--resume', how]) == 2
    line = one_error_line(capsys)
    assert 'absent.zarr' in line and 'state.json' not in line, line


def test_resume_from_a_directory_without_a_state_is_one_line(tmp_path, capsys):
    """--resume PATH without a train state there: one line naming it, exit 2."""
    (tmp_path / 'empty').mkdir()
    assert main([*base_args(tmp_path), '--resume', str(tmp_path / 'empty')]) == 2
    line = one_error_line(capsys)
    assert 'no train state' in line and 'empty' in line, line


def test_overrides_on_both_sides_of_an_option_are_all_read(tmp_path, capsys):
    """`dp-ros train --output R a.b=1 --max-steps 3 c.d=2`: both overrides apply (the
    missing dataset of the second is the error), not an argparse usage error."""
    code = main(['--output', str(tmp_path / 'run'), 'train.progress=false', '--max-steps', '3',
                 f"data.zarr_path={tmp_path / 'absent.zarr'}"])
    assert code == 2
    assert 'absent.zarr' in one_error_line(capsys)



def test_resume_never_reaches_the_trainer_which_starts_a_new_run(tmp_path, caplog):
    """--resume never is passed on to the trainer, not only to the checks: over a run that
    has a train state it trains from step 0, sets the old run aside whole (its log, its
    state, its checkpoints) and says where; --output that folder continues the old run."""
    import json
    import logging

    import yaml
    from tiny_runs import records, small_config, write_small_store

    config = small_config(write_small_store(tmp_path / 'small.zarr'),
                          train={'max_steps': 1, 'checkpoint_every': 1}).to_dict()
    (tmp_path / 'c.yaml').write_text(yaml.safe_dump(config))
    run, earlier = tmp_path / 'run', tmp_path / 'run' / 'earlier_runs' / '1'
    args = ['--config', str(tmp_path / 'c.yaml'), '--output', str(run)]
    assert main(args) == 0
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main([*args, '--resume', 'never', '--max-steps', '2']) == 0
    assert f'--resume never: a new run in {run}: the run that was there is in {earlier} ' \
           f'(continue it there: --output {earlier})' in caplog.messages, caplog.messages
    state = json.loads((run / 'train_state' / 'state.json').read_text())
    assert state['position']['step'] == 2
    assert [r['step'] for r in records(run, 'train')] == [1, 2]  # one run per log
    assert [r['step'] for r in records(earlier, 'train')] == [1]
    assert sorted(p.name for p in earlier.iterdir()) == [
        'checkpoints', 'config.yaml', 'curves.png', 'log.jsonl', 'tb', 'train_state']
    # the old run continues where it was set aside
    assert main([*args[:3], str(earlier), '--max-steps', '2']) == 0
    assert [r['step'] for r in records(earlier, 'train')] == [1, 2]


@pytest.mark.parametrize('stop, code', [('SIGINT', 130), ('SIGTERM', 143),
                                        ('signal on another rank', 130)])
def test_a_stopped_run_exits_128_plus_its_signal(stop, code):
    """A run a signal stopped (saved, resumable) is not done: `dp-ros train ... && next`
    must not go on (it exited 0 before)."""
    from training.train import interrupted_exit_code

    assert interrupted_exit_code(stop) == code


@pytest.mark.parametrize('inside', ['', 'runs/a'])
def test_an_output_that_is_the_dataset_or_inside_it_is_refused(tmp_path, capsys, inside):
    """`--output` the dataset itself (or a folder inside it) wrote checkpoints, train state and
    logs into the zarr store: refused in one line before anything is written there."""
    from tiny_runs import small_config, write_small_store

    store = write_small_store(tmp_path / 'data.zarr')
    config = tmp_path / 'train.yaml'
    small_config(store, train={'max_steps': 2, 'progress': False}).save(config)
    before = sorted(p.relative_to(store) for p in store.rglob('*'))
    output = store / inside if inside else store
    assert main(['--config', str(config), '--output', str(output)]) == 2
    line = one_error_line(capsys)
    assert f"is {'inside ' if inside else ''}the dataset {store}" in line, line
    assert sorted(p.relative_to(store) for p in store.rglob('*')) == before
