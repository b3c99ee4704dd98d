"""The YAML the training side reads itself (training configs, bag2zarr configs) is loaded with
a SafeLoader, so it runs no code, but anchors and aliases still expanded: 600 bytes nesting
nine aliases ten deep ("billion laughs") made `dp-ros train` spend 40 s and 2.3 GB before a
MemoryError traceback as soon as a check or an error message walked the value. Such a file
is refused at load (dp_ros/safe_yaml.py) in one short line naming it; ordinary anchors,
aliases and merge keys still load. The bombs here are six levels deep (half a million
leaves once expanded), cheap to refuse."""
from __future__ import annotations

import pytest

from dp_ros import cli
from dp_ros.params import shown
from dp_ros.safe_yaml import MAX_NODES, AliasBombError, safe_load
from training import bag2zarr_config
from training.bag2zarr_config import ConfigError
from training.config import load_config_data


def alias_bomb(levels: int) -> str:
    """A flow list of 9 ** (levels + 1) leaves written in a few hundred bytes."""
    text = '&a0 [x, x, x, x, x, x, x, x, x]'
    for i in range(1, levels):
        text = f'&a{i} [{text}, ' + ', '.join([f'*a{i - 1}'] * 8) + ']'
    return text


def test_an_alias_bomb_in_a_training_config_is_refused_in_a_short_line(tmp_path, capsys):
    """`dp-ros train --config` of a config whose names field is an alias bomb exits 2 with
    one line of under 2000 characters naming the file (no expansion into the message)."""
    config = tmp_path / 'bomb.yaml'
    config.write_text('policy:\n  shape_meta:\n    obs:\n'
                      '      image: {shape: [3, 96, 96], type: rgb}\n'
                      f'      agent_pos: {{shape: [2], type: low_dim, names: {alias_bomb(6)}}}\n'
                      '    action: {shape: [2]}\n')
    code = cli.main(['train', '--config', str(config), '--output', str(tmp_path / 'run')])
    err = capsys.readouterr().err
    assert code == 2, err[:500]
    assert len(err) < 2000 and len(err.strip().splitlines()) == 1, \
        f'{len(err)} characters: {err[:300]}...'
    assert str(config) in err and 'alias' in err


def test_an_alias_bomb_in_a_bag2zarr_config_is_a_config_error(tmp_path):
    """bag2zarr's config loader refuses the same bomb as a ConfigError naming the file."""
    config = tmp_path / 'bomb.yaml'
    config.write_text(f'keys: {alias_bomb(6)}\n')
    with pytest.raises(ConfigError, match='alias') as info:
        bag2zarr_config.load_config(config)
    assert str(config) in str(info.value) and len(str(info.value)) < 500


def test_a_recursive_alias_is_refused():
    """An alias inside the node it names would be a value walking into itself forever."""
    with pytest.raises(AliasBombError, match='recursive'):
        safe_load('a: &r [1, *r]\n')


def test_ordinary_anchors_aliases_and_merge_keys_still_load():
    """What configs use anchors for (a shared block, a merge key) loads as before, and a
    value just under the bound loads too."""
    assert safe_load('a: &x {p: 1}\nb: *x\nc: {<<: *x, q: 2}\n') == \
        {'a': {'p': 1}, 'b': {'p': 1}, 'c': {'p': 1, 'q': 2}}
    wide = '[' + ', '.join(['&a [1, 2]'] + ['*a'] * (MAX_NODES // 3 - 1)) + ']'
    assert len(safe_load(wide)) == MAX_NODES // 3


def test_a_training_config_keeps_its_yaml_1_2_floats(tmp_path):
    """The training config's loader still reads 3e-4 as a float through the bounded loader."""
    config = tmp_path / 'c.yaml'
    config.write_text('optim: {lr: 3e-4}\n')
    assert load_config_data(config)['optim']['lr'] == 3e-4


def test_error_messages_of_parameters_cut_a_huge_value():
    """dp_ros.params' messages show a value cut short (shown): a list of a million names
    cannot make a megabyte line."""
    assert len(shown(['joint'] * 1_000_000)) < 200
    assert len(shown('x' * 1_000_000)) < 200
    assert shown([1.0, 2.5]) == '[1.0, 2.5]' and shown('ture') == "'ture'"
