"""dp_ros/safe_yaml.py bounds what aliases add, not a document's size: a parameter file with
a 120,000-number table and no alias at all was refused as 'an alias bomb?'. Pinned: the
bound counts only the nodes alias expansion adds beyond those written (expanded minus
distinct), so an alias-free document past MAX_NODES loads, while aliases adding more than
the bound are still refused (the bombs of test/test_config_yaml_alias_bomb.py)."""
from __future__ import annotations

import pytest
import yaml

from dp_ros.safe_yaml import MAX_NODES, AliasBombError, expanded_size, safe_load


def test_an_alias_free_list_past_the_bound_loads():
    """MAX_NODES + 1 values written out: nothing expanded, nothing refused."""
    assert len(safe_load('[' + '0,' * (MAX_NODES + 1) + ']')) == MAX_NODES + 1


def test_the_bound_counts_only_the_nodes_aliases_add():
    """With a bound of 10: 50 written values load; a 3-node list written once and aliased
    4 times adds 12 nodes beyond the 4 written: refused; aliased 3 times (9 added): loads."""
    assert expanded_size(yaml.compose('[' + ', '.join(['1'] * 50) + ']'), limit=10) == 51
    with pytest.raises(AliasBombError, match='beyond those written'):
        expanded_size(yaml.compose('[&a [1, 2], ' + ', '.join(['*a'] * 4) + ']'), limit=10)
    assert expanded_size(yaml.compose('[&a [1, 2], ' + ', '.join(['*a'] * 3) + ']'),
                         limit=10) == 13


def test_a_bomb_within_a_large_document_is_still_refused():
    """Many written values do not buy room for an alias bomb: its added nodes alone count."""
    bomb = '&a0 [x, x, x, x, x, x, x, x, x]'
    for i in range(1, 6):
        bomb = f'&a{i} [{bomb}, ' + ', '.join([f'*a{i - 1}'] * 8) + ']'
    with pytest.raises(AliasBombError, match='alias bomb'):
        safe_load('{table: [' + '0,' * 1000 + '], names: ' + bomb + '}')
