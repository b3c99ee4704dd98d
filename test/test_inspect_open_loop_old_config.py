"""`dp-ros inspect` and `dp-ros open-loop` on a policy.json whose config this PolicyConfig
refuses (an older dp_ros's, a hand edit): one line naming policy.json and the field, exit 2,
as load_policy's CheckpointError; they printed a 30-line traceback (exit 1)."""
from __future__ import annotations

import json
import subprocess

import pytest
from support import checkout_env, make_tiny_checkpoint, module_cmd, nonempty_lines

from training.inspect_policy import summarize_policy


def _edited(directory, **config):
    path = directory / 'policy.json'
    meta = json.loads(path.read_text())
    meta['config'].update(config)
    path.write_text(json.dumps(meta, indent=2))
    return directory


@pytest.fixture
def refused_policy(tmp_path):
    """A first UNet width that the final block's 8 groups do not divide."""
    directory = make_tiny_checkpoint(tmp_path / 'old', seed=0, n_groups=4)
    return _edited(directory, down_dims=[20, 40, 80], final_block_groups=8)


@pytest.mark.parametrize('command', [['inspect'], ['open-loop', '--no-plot']])
def test_commands_refuse_a_config_in_one_line(tmp_path, refused_policy, command):
    extra = ['--output', str(tmp_path / 'ol.json')] if command[0] == 'open-loop' else []
    proc = subprocess.run(module_cmd('dp_ros.cli', *command, str(refused_policy), *extra),
                          capture_output=True, text=True, timeout=120, env=checkout_env())
    out = proc.stdout + proc.stderr
    assert 'Traceback' not in out, out[-600:]
    assert proc.returncode == 2
    lines = [line for line in nonempty_lines(proc.stderr) if 'down_dims' in line]
    assert len(lines) == 1 and 'policy.json' in lines[0]


def test_an_older_config_valid_before_c39e57f_is_inspected(tmp_path):
    """n_groups 4 with down_dims [20, 40, 80], which only an older dp_ros saved: its final
    block had n_groups groups, and inspect reads it so."""
    directory = make_tiny_checkpoint(tmp_path / 'old', seed=0, n_groups=4)
    meta = json.loads((directory / 'policy.json').read_text())
    del meta['config']['final_block_groups']
    meta['config']['down_dims'] = [20, 40, 80]
    (directory / 'policy.json').write_text(json.dumps(meta))
    assert summarize_policy(directory).path == str(directory)
