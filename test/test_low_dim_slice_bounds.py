"""A data.low_dim_keys column slice ('state[a:b]') must lie within its array: a bound past
the array's width (either end, negative bounds counted from the end) is refused naming the
observation key and the width, where Python's slice would clamp it and train on fewer
columns than the config names; up to the width ('state[2:5]', 'state[-5:]') is fine."""
from __future__ import annotations

import pytest
from tiny_runs import write_small_store

from training.dataset_meta import dataset_shape_meta
from training.errors import DatasetError


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    return write_small_store(tmp_path_factory.mktemp('data') / 'small.zarr')  # state: 5 wide


@pytest.mark.parametrize('past, within, width', [
    ('state[2:9]', 'state[2:5]', 3), ('state[6:]', 'state[4:]', 1),
    ('state[-9:]', 'state[-5:]', 5), ('state[:-6]', 'state[:-1]', 4)])
def test_a_column_slice_past_the_array_is_refused(store, past, within, width):
    with pytest.raises(DatasetError, match=r"low-dim key 'agent_pos' .* which is 5 wide"):
        dataset_shape_meta(store, low_dim_keys={'agent_pos': past})
    meta = dataset_shape_meta(store, low_dim_keys={'agent_pos': within})
    assert meta['obs']['agent_pos']['shape'] == [width]
