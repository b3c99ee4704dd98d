"""Appending to stores an older bag2zarr wrote, or under another rule: what the store records
must keep describing every episode in it.

- A store that records no control period (every bag2zarr before d2590aa wrote root attrs {})
  is refused: the append would stamp the new bags' period on the older episodes, whose own
  period nothing can check (training would replay 0.1-s demonstrations as 0.2-s ones). The
  message says how to record the period when it is known.
- Each source records its alignment rule (`align`); an append under another is refused, as
  another offset is ('nearest' and 'at_or_before' pick other samples of one bag). A store
  written before the rule was recorded is not contradicted, and stays without it.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import zarr
from support import foreign_bag_config, write_foreign_mcap

from dp_ros.errors import UserError
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.replay_buffer import ReplayBuffer

KEYS = ('img', 'state', 'action')


def _strip(store, root: bool = True, attr: str = 'sources') -> None:
    """Remove what an older bag2zarr never wrote: the root period, a per-array attribute."""
    if root:
        (store / '.zattrs').write_text('{}')
    for key in KEYS:
        path = store / 'data' / key / '.zattrs'
        attrs = json.loads(path.read_text())
        if attr == 'sources':
            attrs.pop('sources', None)
        else:
            for source in attrs.get('sources', []):
                source.pop(attr, None)
        path.write_text(json.dumps(attrs))


def _store(tmp_path, name: str = 'old', **config):
    bag = tmp_path / f'{name}.mcap'
    write_foreign_mcap(bag, seconds=2.0, seed=0, **config.pop('bag', {}))
    store = tmp_path / f'{name}.zarr'
    bag2zarr.convert([bag], config_from_dict(foreign_bag_config(**config)), store,
                     progress=False)
    return bag, store


def _tree(store) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob('*'))
            if p.is_file()}


def test_an_append_to_a_store_without_a_period_is_refused_leaving_it_as_it_was(tmp_path):
    """Bags at 0.2 s appended to a store that records no period (its episodes 0.1 s) are
    refused naming the period, the store byte for byte as it was, never relabelled 0.2 s."""
    _, store = _store(tmp_path)
    _strip(store)
    before = _tree(store)
    new_bag = tmp_path / 'new.mcap'
    write_foreign_mcap(new_bag, seconds=2.0, seed=1)
    with pytest.raises(UserError, match='records no control_period_s') as info:
        bag2zarr.convert([new_bag], config_from_dict(foreign_bag_config(control_period_s=0.2)),
                         store, progress=False)
    assert '\n' not in str(info.value) and '0.2 s' in str(info.value)
    assert _tree(store) == before


def test_the_refusal_says_how_to_record_a_known_period_and_the_append_then_goes_ahead(
        tmp_path):
    """The refusal's own command records the period; the append is then checked as any
    other (same period: accepted, another: refused)."""
    bag, store = _store(tmp_path)
    _strip(store)
    config = config_from_dict(foreign_bag_config())
    with pytest.raises(UserError) as info:
        bag2zarr.convert([bag], config, store, progress=False)
    command = str(info.value).split('python -c "')[1].split('")')[0]
    exec(command, {})  # what the user would run: import zarr; ....attrs[...] = 0.1
    assert ReplayBuffer.open(store).root_attrs() == {'control_period_s': 0.1}
    summary = bag2zarr.convert([bag], config, store, progress=False)
    assert summary.total_episodes == 2
    with pytest.raises(UserError, match='sampled every 0.1 s'):
        bag2zarr.convert([bag], config_from_dict(foreign_bag_config(control_period_s=0.2)),
                         store, progress=False)


def test_an_empty_store_without_a_period_takes_the_configs(tmp_path):
    """A store with no episode has no older episodes to mislabel: the append records the
    period."""
    bag, store = _store(tmp_path, control_period_s=0.2)
    buffer = ReplayBuffer.create(tmp_path / 'empty.zarr')
    assert buffer.n_episodes == 0
    bag2zarr.convert([bag], config_from_dict(foreign_bag_config(control_period_s=0.2)),
                     tmp_path / 'empty.zarr', progress=False)
    assert ReplayBuffer.open(tmp_path / 'empty.zarr').root_attrs()['control_period_s'] == 0.2


def test_each_source_records_its_alignment_rule(tmp_path):
    """Camera and joint states follow `align`; the commanded trajectory (the action: the
    point due at each grid time) has no alignment rule."""
    _, store = _store(tmp_path, align='nearest')
    buffer = ReplayBuffer.open(store)
    assert [s.get('align') for s in buffer.attrs('img')['sources']] == ['nearest']
    assert {s.get('align') for s in buffer.attrs('state')['sources']} == {'nearest'}
    assert all(s['kind'] != 'joint_trajectory' or 'align' not in s
               for s in buffer.attrs('action')['sources'])


def test_an_append_under_another_alignment_is_refused(tmp_path):
    """A nearest-aligned store refuses at_or_before-aligned bags (today's default, and what
    a config kept from before c634254 without `align:` reads): the two rules give other
    state values for one jittered bag, so one array would hold two rules."""
    bag, store = _store(tmp_path, align='nearest', bag={'jitter_ns': 4_000_000})
    causal = config_from_dict(foreign_bag_config(align='at_or_before'))
    other = tmp_path / 'causal.zarr'
    bag2zarr.convert([bag], causal, other, progress=False)
    assert not np.array_equal(zarr.open(str(store), mode='r')['data/state'][:],
                              zarr.open(str(other), mode='r')['data/state'][:])
    before = _tree(store)
    with pytest.raises(UserError, match='align nearest there, at_or_before here') as info:
        bag2zarr.convert([bag], causal, store, progress=False)
    assert '\n' not in str(info.value)
    assert _tree(store) == before
    again = tmp_path / 'again.mcap'  # another recording: one converted already is refused
    write_foreign_mcap(again, seconds=2.0, seed=1, jitter_ns=4_000_000)
    summary = bag2zarr.convert([again], config_from_dict(foreign_bag_config(align='nearest')),
                               store, progress=False)
    assert summary.total_episodes == 2


def test_a_store_written_before_alignment_was_recorded_is_not_contradicted(tmp_path):
    """Sources without `align` (an older store): the append goes ahead and the store's
    sources still record none, its older episodes' rule being unknown."""
    bag, store = _store(tmp_path, align='nearest')
    _strip(store, root=False, attr='align')
    causal = config_from_dict(foreign_bag_config(align='at_or_before'))
    again = tmp_path / 'again.mcap'  # another recording: one converted already is refused
    write_foreign_mcap(again, seconds=2.0, seed=1)
    summary = bag2zarr.convert([again], causal, store, progress=False)
    assert summary.total_episodes == 2
    buffer = ReplayBuffer.open(store)
    for key in KEYS:
        assert buffer.attrs(key)['sources'], key  # the same topics: kept
        assert all('align' not in s for s in buffer.attrs(key)['sources']), key
