"""What a config lets train but likely not as meant is a warning at the start
(run_check.start_warnings): the Push-T default state slice (agent_pos = state[0:2], data.
low_dim_keys unset) dropping the columns of a state other than Push-T's 5 (a Push-T recipe on
arm data would train on 2 joints); an lr warmup longer than the run, whose lr never reaches
its peak."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_arrays, small_config, write_small_store

from training.run_check import check_run


def _warnings(caplog, tmp_path, state_width: int = 7, **sections) -> list[str]:
    arrays = small_arrays()
    arrays['state'] = np.resize(arrays['state'], (len(arrays['state']), state_width))
    store = write_small_store(tmp_path / 'small.zarr', arrays)
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        check_run(small_config(store, **sections), tmp_path / 'run', 'never')
    return [r.getMessage() for r in caplog.records]


def test_the_default_slice_of_a_wider_state_says_how_many_columns_it_drops(tmp_path, caplog):
    said = [w for w in _warnings(caplog, tmp_path) if 'low_dim_keys' in w]
    assert len(said) == 1 and 'agent_pos = state[0:2]: 2 of its 7 columns, 5 dropped' in said[0]


@pytest.mark.parametrize('state_width, low_dim_keys', [
    (7, {'agent_pos': 'state[0:2]'}), (7, {'agent_pos': 'state'}),
    (5, None),  # Push-T's own state (agent x, y, block x, y, angle): the default is meant
    (2, None)])
def test_a_state_named_in_the_config_or_pushts_is_no_warning(tmp_path, caplog, state_width,
                                                             low_dim_keys):
    data = {} if low_dim_keys is None else {'low_dim_keys': low_dim_keys}
    said = _warnings(caplog, tmp_path, state_width, data=data)
    assert not [w for w in said if 'low_dim_keys' in w]


@pytest.mark.parametrize('warmup, warns', [(3, False), (4, False), (5, True)])
def test_a_warmup_longer_than_the_run_is_a_warning(tmp_path, caplog, warmup, warns):
    said = [w for w in _warnings(caplog, tmp_path, optim={'lr_warmup_steps': warmup})
            if 'lr_warmup_steps' in w]
    assert len(said) == warns
    assert not warns or said[0] == ('optim.lr_warmup_steps 5 > train.max_steps 4: the learning '
                                    'rate never reaches optim.lr 0.0001 (it ends at 8e-05)')
