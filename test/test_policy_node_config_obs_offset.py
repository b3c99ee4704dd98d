"""An observation bag2zarr sampled at grid time + `offset` (its recorded sources' offset_s):
the node samples every input at the observation time, so it would feed values other than
those the policy learned from (a state 50 ms older) without a word. Training refuses such a
key now; a checkpoint trained before that is refused at the node's setup, naming key and
offset."""
from __future__ import annotations

import pytest

from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup

TOPIC = '/joint_states'


def _metadata(offset_s: float) -> dict:
    state = {'shape': [1], 'type': 'low_dim', 'names': ['j1'],
             'sources': [{'kind': 'joint_state', 'topic': TOPIC, 'width': 1,
                          'field': 'position', 'offset_s': offset_s}]}
    shape_meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'}, 'agent_pos': state},
                  'action': {'shape': [1]}}
    return {'config': pusht_image_config(shape_meta=shape_meta).to_dict(),
            'control_period_s': 0.1}


def _node() -> PolicyNodeConfig:
    return PolicyNodeConfig(checkpoint='/policy', device='cpu', state_joint_names=['j1'],
                            action_joint_names=['j1'], joint_state_topic=TOPIC)


@pytest.mark.parametrize('offset_s', [0.05, -0.05])
def test_an_observation_sampled_at_an_offset_is_refused(offset_s):
    with pytest.raises(ValueError, match=f"obs 'agent_pos'.*{TOPIC}.*offset_s {offset_s}") \
            as info:
        resolve_setup(_node(), _metadata(offset_s))
    assert '\n' not in str(info.value)


def test_an_offset_of_zero_is_the_node_s_own_rule():
    assert resolve_setup(_node(), _metadata(0.0)).state_keys == ['agent_pos']
