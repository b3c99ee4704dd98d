"""A training key that slices the velocity columns out of a bag2zarr state (positions then
velocities, state[2:4]) loses its recorded sources, but its names still say the field
('j1.velocity'): the node refuses to read positions for it naming state_fields (it warned only
'make sure they are the same joints' and fed rad where the policy learned rad/s), and
`dp-ros inspect --draft-params` drafts the velocity field."""
from __future__ import annotations

import pytest
import yaml
from bag_support import (
    JOINT_STATES,
    POSITIONS_THEN_VELOCITIES_KEYS,
    write_positions_then_velocities,
)
from support import make_tiny_checkpoint

from dp_ros.bags.recorder import BagRecorder
from dp_ros.params import config_from_dict as node_config_from_dict
from dp_ros.policy.checkpoint import read_policy_metadata
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.dataset_meta import dataset_shape_meta
from training.inspect_policy import draft_params, summarize_policy


def _store(tmp_path):
    """Camera + joint states with positions (i, -i) and velocities (100 + i, -100 - i),
    converted to a 'state' of positions then velocities."""
    with BagRecorder(tmp_path / 'bag') as rec:
        write_positions_then_velocities(rec)
    config = {'control_period_s': 0.1, 'image_dtype': 'uint8',
              'keys': POSITIONS_THEN_VELOCITIES_KEYS}
    bag2zarr.convert([tmp_path / 'bag'], config_from_dict(config), tmp_path / 'out.zarr',
                     progress=False)
    return tmp_path / 'out.zarr'


def test_node_refuses_positions_for_a_policy_trained_on_sliced_velocities(tmp_path):
    """state[2:4] (the velocities) into the checkpoint, then a node left at state_field
    position: refused naming the field, as it is when the whole key is used."""
    store = _store(tmp_path)
    state = dataset_shape_meta(store, rgb_keys={'img': 'img'},
                               low_dim_keys={'agent_pos': 'state[2:4]'})['obs']['agent_pos']
    assert state['names'] == ['j1.velocity', 'j2.velocity']
    shape_meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'}, 'agent_pos': state},
                  'action': {'shape': [2]}}
    metadata = {'config': pusht_image_config(shape_meta=shape_meta).to_dict(),
                'control_period_s': 0.1}
    node = PolicyNodeConfig(checkpoint='/policy', device='cpu', state_joint_names=['j1', 'j2'],
                            action_joint_names=['j1', 'j2'], joint_state_topic=JOINT_STATES)
    with pytest.raises(ValueError, match=r"state_fields: \['velocity', 'velocity'\]"):
        resolve_setup(node, metadata)
    node.state_field = 'velocity'
    assert resolve_setup(node, metadata).warnings == []


def test_the_draft_reads_the_field_the_names_say(tmp_path):
    """A checkpoint whose state names say velocity and records no sources: the drafted node
    parameters read j1, j2 from velocity, and the node accepts them without a warning."""
    shape_meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                          'agent_pos': {'shape': [2], 'type': 'low_dim',
                                        'names': ['j1.velocity', 'j2.velocity']}},
                  'action': {'shape': [2]}}
    policy = make_tiny_checkpoint(tmp_path / 'policy', shape_meta=shape_meta)
    text = draft_params(summarize_policy(policy))
    params = yaml.safe_load(text)['/**/dp_policy']['ros__parameters']
    assert params['state_joint_names'] == ['j1', 'j2']
    assert params['state_field'] == 'velocity'
    cfg = node_config_from_dict(PolicyNodeConfig, dict(params, device='cpu'))
    assert resolve_setup(cfg, read_policy_metadata(policy)).warnings == []
