"""The README's parameter tables are the nodes' declared parameter metadata (no drift)."""
from __future__ import annotations

from pathlib import Path

import pytest

from dp_ros.app import param_docs
from dp_ros.params import config_from_dict, param_fields

README = Path(__file__).resolve().parents[1] / 'README.md'


def test_readme_tables_match_the_node_configs():
    text = README.read_text()
    assert param_docs.update(text) == text, (
        'README parameter tables drifted: run python -m dp_ros.app.param_docs --write README.md')


@pytest.mark.parametrize('name', sorted(param_docs.NODES))
def test_every_parameter_is_in_the_table_with_its_description(name):
    module, cls_name = param_docs.NODES[name]
    cls = getattr(__import__(module, fromlist=[cls_name]), cls_name)
    table = param_docs.render(name)
    for f in param_fields(cls):
        assert f'| `{f.name}` |' in table
        assert f.metadata['description'].replace('|', '/') in table
    config_from_dict(cls, {})  # the defaults are a valid config


def test_a_changed_description_is_drift(tmp_path):
    text = README.read_text()
    begin = param_docs.BEGIN.format(name='policy_node')
    start = text.index(begin) + len(begin)
    row = text.index('| `', start)
    planted = text[:row] + '| `checkpoint` | str | `x` | | stale words |\n' + text[row:]
    path = tmp_path / 'README.md'
    path.write_text(planted)
    assert param_docs.main(['--check', str(path)]) == 1
    assert param_docs.main(['--write', str(path)]) == 0
    assert path.read_text() == text
