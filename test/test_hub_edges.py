"""Edges of dp_ros/policy/hub.py that need no cache or network: hf:// spec parsing (a
trailing slash, '..' path parts), where the Hugging Face cache is (HF_HUB_CACHE before
HF_HOME/hub) and how HF_HUB_OFFLINE's value is read.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants

from dp_ros.policy.hub import HubError, hub_cache_dir, hub_offline, parse_hub_spec


def test_a_trailing_slash_is_the_same_repository():
    """'hf://org/name/' and 'hf://org/name/@v1' name org/name."""
    assert parse_hub_spec('hf://org/name/') == ('org/name', None)
    assert parse_hub_spec('hf://org/name/@v1') == ('org/name', 'v1')


@pytest.mark.parametrize('spec', ['hf://org/..', 'hf://org/a..b', 'hf://o..rg/name'])
def test_dot_dot_in_a_repository_id_is_refused(spec: str):
    """'..' could leave the cache directory: no repository id holds it."""
    with pytest.raises(HubError, match='is not of the form'):
        parse_hub_spec(spec)


def test_hf_hub_cache_comes_before_hf_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """HF_HUB_CACHE wins; HF_HOME alone means HF_HOME/hub (huggingface_hub's rule)."""
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'home'))
    assert hub_cache_dir() == tmp_path / 'cache'
    monkeypatch.delenv('HF_HUB_CACHE')
    assert hub_cache_dir() == tmp_path / 'home' / 'hub'


@pytest.mark.parametrize('value', ['1', 'ON', ' yes ', 'True'])
def test_hf_hub_offline_values_are_read_case_and_space_blind(monkeypatch: pytest.MonkeyPatch,
                                                             value: str):
    """Any spelling huggingface_hub takes as true, set after its import, is offline."""
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
    monkeypatch.setenv('HF_HUB_OFFLINE', value)
    assert hub_offline()


@pytest.mark.parametrize('value', ['0', '', 'no'])
def test_other_hf_hub_offline_values_are_online(monkeypatch: pytest.MonkeyPatch, value: str):
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
    monkeypatch.setenv('HF_HUB_OFFLINE', value)
    assert not hub_offline()
