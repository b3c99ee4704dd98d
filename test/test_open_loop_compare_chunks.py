"""`dp-ros open-loop` with several policies of other n_action_steps: each one plans at other
steps, so its errors cover other executed windows, its hold baseline is another, and its
sampling noise is drawn for other chunks; the comparison (one hold line, 'lowest error') would
compare unlike numbers (a shorter chunk always looks better), so it is refused as another
horizon or n_obs_steps is: one line naming both, before any chunk is sampled."""
from __future__ import annotations

import pytest
from support import make_tiny_checkpoint, one_torch_thread, write_random_walk_store  # noqa: F401

from dp_ros.errors import UserError
from training.config import DataConfig, TrainConfig
from training.open_loop import main


def test_policies_executing_other_chunk_lengths_are_not_compared(tmp_path):
    """n_action_steps 8 and 4 on the same episodes: refused, naming both."""
    store = tmp_path / 'demos.zarr'
    write_random_walk_store(store, [16, 9, 12, 8, 10, 7])
    prov = {'dataset': str(store),
            'train_config': TrainConfig(data=DataConfig(zarr_path=str(store),
                                                        val_ratio=0.34)).to_dict()}
    a = make_tiny_checkpoint(tmp_path / 'a', seed=1, provenance={**prov, 'step': 1000})
    b = make_tiny_checkpoint(tmp_path / 'b', seed=1, provenance={**prov, 'step': 2000},
                             n_action_steps=4)
    out = tmp_path / 'r.json'
    with pytest.raises(UserError) as caught:
        main([str(a), str(b), '--output', str(out), '--no-progress', '--no-plot'])
    message = str(caught.value)
    assert '\n' not in message
    assert f'{b} takes horizon 16 / n_obs_steps 2 / n_action_steps 4, {a} 16 / 2 / 8' in message
    assert 'compare them one command each' in message
    assert not out.exists()
