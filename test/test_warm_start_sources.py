"""train.init_from a policy saved before bag2zarr recorded each array's topics (7a3c22c,
2026-12-01: shape_meta without 'sources'), onto the same robot's bags converted by today's
bag2zarr (which records them): the topics are unknown to the older policy, not other ones, as
joint names recorded later are (names_only_where_recorded); it was refused as 'differs in
shape_meta'. Sources both record but differently (a camera appended at a lower rate, sim
data fine-tuned on a robot's bags) change no weight either: warned, not refused."""
from __future__ import annotations

import copy

import numpy as np
import torch
from support import TINY_POLICY, foreign_bag_config, one_torch_thread, write_foreign_mcap  # noqa: F401

from dp_ros.policy.checkpoint import save_policy
from dp_ros.policy.config import PolicyConfig
from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.normalizer import Normalizer
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.dataset_meta import dataset_shape_meta
from training.warm_start import check_init_policy, names_only_where_recorded

KEYS = {'rgb_keys': {'image': 'img'}, 'low_dim_keys': {'joint_pos': 'state'},
        'action_key': 'action'}


def _without_sources(meta: dict) -> dict:
    meta = copy.deepcopy(meta)
    for entry in [meta['action'], *meta['obs'].values()]:
        entry.pop('sources', None)
    return meta


def test_warm_start_from_a_policy_saved_before_sources_were_recorded(tmp_path):
    """The same keys, shapes and joint names, the topics unknown to the older policy: the
    warm start goes ahead (as for names: unknown, not other), not 'differs in shape_meta'."""
    bag = tmp_path / 'arm.mcap'
    write_foreign_mcap(bag, seconds=2.0, seed=0)
    store = tmp_path / 'arm.zarr'
    bag2zarr.convert([bag], config_from_dict(foreign_bag_config()), store, progress=False)
    data_meta = dataset_shape_meta(store, **KEYS)
    assert 'sources' in data_meta['action']  # today's store records them
    ours = PolicyConfig(**{**TINY_POLICY, 'shape_meta': data_meta})
    older = PolicyConfig(**{**TINY_POLICY, 'shape_meta': _without_sources(data_meta)})
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    normalizer = Normalizer.from_data({'joint_pos': rng.uniform(-3, 3, (64, 3)),
                                       'action': rng.uniform(-3, 3, (64, 3))})
    old = save_policy(DiffusionPolicy(older, normalizer), tmp_path / 'old_policy')
    assert check_init_policy(old, ours) == old


def test_sources_both_record_still_differ():
    ours = {'obs': {'s': {'shape': [1], 'sources': [{'kind': 'joint_state', 'topic': '/a',
                                                     'width': 1}]}},
            'action': {'shape': [1]}}
    theirs = copy.deepcopy(ours)
    assert names_only_where_recorded(ours, theirs) == ours
    theirs['obs']['s']['sources'][0]['topic'] = '/b'
    assert names_only_where_recorded(ours, theirs) != theirs
    del theirs['obs']['s']['sources']
    assert names_only_where_recorded(ours, theirs) == theirs


def test_a_warm_start_from_data_recorded_otherwise_is_warned_not_refused(tmp_path, caplog):
    """A review's day 2: bags appended with the camera at 15 Hz lowered the recorded rate, and
    a sim policy (sim_time: true) fine-tuned on a robot's bags: both were refused as 'differs
    in shape_meta'. The weights do not depend on where the data was recorded: a warning
    naming the difference."""
    bag = tmp_path / 'arm.mcap'
    write_foreign_mcap(bag, seconds=2.0, seed=0)
    store = tmp_path / 'arm.zarr'
    bag2zarr.convert([bag], config_from_dict(foreign_bag_config()), store, progress=False)
    data_meta = dataset_shape_meta(store, **KEYS)
    ours = PolicyConfig(**{**TINY_POLICY, 'shape_meta': data_meta})
    sim = copy.deepcopy(data_meta)
    for entry in [sim['action'], *sim['obs'].values()]:
        for s in entry['sources']:
            s['sim_time'] = True
    sim['obs']['image']['sources'][0]['rate_hz'] = 99.0
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    normalizer = Normalizer.from_data({'joint_pos': rng.uniform(-3, 3, (64, 3)),
                                       'action': rng.uniform(-3, 3, (64, 3))})
    old = save_policy(DiffusionPolicy(PolicyConfig(**{**TINY_POLICY, 'shape_meta': sim}),
                                      normalizer), tmp_path / 'sim_policy')
    with caplog.at_level('WARNING', logger='training.warm_start'):
        assert check_init_policy(old, ours) == old
    assert 'its data was recorded otherwise (action.sources[0].sim_time True -> None' \
        in caplog.text, caplog.text
