"""`dp-ros train` inputs the run's checks refuse in one line on stderr with exit code 2,
before the model is built: a config value of the wrong type (data.zarr_path left empty, a
policy field that is not a number) names its key, and data.exclude_episodes that leaves no
episode is refused at the check, not as a traceback from fitting the normalizer."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from training import train as train_cli


@pytest.fixture(scope='module')
def config(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('data')
    store = write_small_store(root / 'small.zarr')
    path = root / 'small.yaml'
    path.write_text(yaml.safe_dump(small_config(store, train={'max_steps': 2}).to_dict()))
    return path


def one_line_exit_2(capsys, argv: list[str]) -> str:
    rc = train_cli.main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith('dp-ros train:')]
    assert rc == 2 and len(lines) == 1, f'rc {rc}, stderr tail: {err[-600:]}'
    assert 'Traceback' not in err
    return lines[0]


@pytest.mark.parametrize('override, words', [
    ('data.exclude_episodes=[0,1,2,3,4]', 'exclude_episodes [0, 1, 2, 3, 4] leaves none'),
    ('data.zarr_path=', 'data.zarr_path must be a string'),
    ('policy.horizon=abc', 'policy.horizon must be an integer'),
])
def test_a_bad_input_is_one_line_naming_its_key(tmp_path, capsys, config, override, words):
    run = tmp_path / 'r'
    line = one_line_exit_2(capsys, ['--config', str(config), '--output', str(run), override])
    assert words in line, line
    assert not run.exists()
