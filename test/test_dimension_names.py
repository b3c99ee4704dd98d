"""Joint names travel with the data (bag2zarr -> dataset -> checkpoint) and the policy node
checks its joint parameters against them: a permutation is refused, other names warned of."""
from __future__ import annotations

import pytest

from dp_ros.dimension_names import check_names, compare_names, names_of
from dp_ros.params import config_from_dict
from dp_ros.policy.config import PolicyConfig, pusht_image_config, pusht_shape_meta
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup


def test_check_names():
    assert check_names(None, 3, 'x') is None
    assert check_names(('a', 'b'), 2, 'x') == ['a', 'b']
    for bad in (['a'], ['a', 'a'], ['a', ''], 'ab', [1, 2]):
        with pytest.raises(ValueError, match='x: names'):
            check_names(bad, 2, 'x')


def test_foreign_names_are_taken_only_when_they_fit():
    assert names_of(['a', 'b'], 2) == ['a', 'b']
    assert names_of({'motors': ['a', 'b']}, 2) == ['a', 'b']  # LeRobot's older form
    assert names_of(['a', 'b'], 3) is None and names_of({'x': ['a'], 'y': ['b']}, 2) is None
    assert names_of(None, 2) is None and names_of([['a', 'b']], 2) is None


def test_compare_names():
    assert compare_names(None, ['a', 'b'], 'p') is None  # nothing recorded: nothing to check
    assert compare_names(['a', 'b'], ['a', 'b'], 'p') is None
    with pytest.raises(ValueError, match=r"parameter p \['b', 'a'\] lists the joints .* "
                                         r"another order \(\['a', 'b'\]\)"):
        compare_names(['a', 'b'], ['b', 'a'], 'p')
    warning = compare_names(['a', 'b'], ['left_a', 'left_b'], 'p')
    assert "parameter p ['left_a', 'left_b'] is not the joints" in warning


def test_policy_config_checks_names_where_they_are_defined():
    meta = pusht_shape_meta()
    meta['obs']['agent_pos']['names'] = ['x', 'y']
    meta['action']['names'] = ['x', 'y']
    assert PolicyConfig(shape_meta=meta).dimension_names('action') == ['x', 'y']
    assert PolicyConfig(shape_meta=pusht_shape_meta()).dimension_names('agent_pos') is None
    meta['action']['names'] = ['x', 'y', 'z']
    with pytest.raises(ValueError, match=r"action: names \['x', 'y', 'z'\] must be 2"):
        PolicyConfig(shape_meta=meta)


def metadata_with_names(state: list[str], action: list[str]) -> dict:
    meta = pusht_shape_meta()
    meta['obs']['agent_pos']['names'] = state
    meta['action']['names'] = action
    return {'config': pusht_image_config(shape_meta=meta).to_dict(), 'control_period_s': 0.1}


def node_cfg(**values) -> PolicyNodeConfig:
    return config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu', **values})


def test_the_node_refuses_the_trained_joints_in_another_order_and_warns_of_other_names():
    trained = metadata_with_names(['agent_x', 'agent_y'], ['agent_x', 'agent_y'])
    assert resolve_setup(node_cfg(), trained).warnings == []
    with pytest.raises(ValueError, match='parameter state_joint_names'):
        resolve_setup(node_cfg(state_joint_names=['agent_y', 'agent_x']), trained)
    with pytest.raises(ValueError, match='parameter action_joint_names'):
        resolve_setup(node_cfg(action_joint_names=['agent_y', 'agent_x']), trained)
    setup = resolve_setup(node_cfg(state_joint_names=['x', 'y'], action_joint_names=['x', 'y']),
                          trained)
    assert [w.split()[1] for w in setup.warnings] == ['state_joint_names', 'action_joint_names']
    # a checkpoint whose data recorded no names (the paper's zarr): any names, no warning
    untrained = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1}
    assert resolve_setup(node_cfg(state_joint_names=['b', 'a']), untrained).warnings == []


def test_a_warm_start_from_a_checkpoint_without_names_is_not_a_difference():
    from training.warm_start import names_only_where_recorded

    ours = pusht_shape_meta()
    ours['obs']['agent_pos']['names'] = ours['action']['names'] = ['x', 'y']
    assert names_only_where_recorded(ours, pusht_shape_meta()) == pusht_shape_meta()
    theirs = pusht_shape_meta()
    theirs['action']['names'] = ['a', 'b']  # recorded there and other: a difference, kept
    assert names_only_where_recorded(ours, theirs)['action']['names'] == ['x', 'y']
    assert ours['obs']['agent_pos']['names'] == ['x', 'y']  # not modified in place
