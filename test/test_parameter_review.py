"""Parameters a randomized review of the node's configuration found handled wrongly: each is
refused at start in one line naming the parameter, or works.

- A step limit infinite for some joints only (max_step_delta [inf, 1], max_velocity
  [1, inf], a URDF without velocity on a gripper) published NaN targets for those joints
  when a chunk's first point was due exactly as it landed (a paused sim clock): the first
  point's share of the limit was 0 * inf.
- A URDF's explicit infinite position limit (lower="inf") passed the start checks (inf <=
  inf) and walked the joint toward infinity.
- A path parameter longer than the file system allows (ENAMETOOLONG) escaped as a traceback.
- A checkpoint refused for what it holds did not name the parameter.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT

from dp_ros.atomic_dir import check_writable_dir, check_writable_file
from dp_ros.errors import UserError
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, load_setup
from dp_ros.runtime.safety import JointLimits, SafetyEnvelope, urdf_limits

LONG = '/tmp/' + 'x' * 300


@pytest.mark.parametrize('share_ns', [0, 1, DT // 2])
def test_a_joint_without_a_step_limit_gets_its_target_whatever_the_first_share(share_ns):
    envelope = SafetyEnvelope(JointLimits(max_step=np.array([np.inf, 1.0])), DT)
    out = envelope.apply(np.array([DT, 2 * DT]), np.array([[5.0, 5.0], [6.0, 6.0]]),
                         reference=np.zeros(2), first_segment_ns=share_ns)
    assert np.all(np.isfinite(out)), out
    np.testing.assert_allclose(out[:, 0], [5.0, 6.0])  # unlimited: the policy's targets
    assert out[0, 1] == pytest.approx(share_ns / DT) and out[1, 1] == out[0, 1] + 1.0


@pytest.mark.parametrize('attr', ['lower="inf" upper="inf"', 'lower="-1" upper="-inf"',
                                  'lower="1e400"'])
def test_an_infinite_urdf_position_limit_is_refused_naming_the_joint(tmp_path, attr):
    urdf = tmp_path / 'r.urdf'
    urdf.write_text(f'<robot name="r"><joint name="wrist" type="revolute"><limit {attr} '
                    'velocity="1"/></joint></robot>')
    with pytest.raises(ValueError, match="parameter urdf_path: joint 'wrist' has an "
                                         'infinite limit'):
        urdf_limits(urdf, ['wrist'])


@pytest.mark.parametrize('attr', ['lower="-inf" upper="1"', 'lower="-1" upper="1e400"'])
def test_an_infinite_urdf_limit_on_its_own_side_is_no_bound(tmp_path, attr):
    urdf = tmp_path / 'r.urdf'
    urdf.write_text(f'<robot name="r"><joint name="wrist" type="revolute"><limit {attr} '
                    'velocity="1"/></joint></robot>')
    lower, upper, _, _ = urdf_limits(urdf, ['wrist'])
    assert np.isinf(lower[0]) or np.isinf(upper[0])


def test_a_urdf_velocity_left_out_or_infinite_is_no_bound(tmp_path):
    urdf = tmp_path / 'r.urdf'
    urdf.write_text('<robot name="r"><joint name="a" type="revolute"><limit lower="-1" '
                    'upper="1"/></joint><joint name="b" type="revolute"><limit lower="-1" '
                    'upper="1" velocity="inf"/></joint></robot>')
    assert np.isinf(urdf_limits(urdf, ['a', 'b'])[2]).all()


def test_a_path_longer_than_the_file_system_allows_is_refused_in_one_line(tmp_path):
    for check in (check_writable_file, check_writable_dir):
        with pytest.raises(UserError, match='parameter x /tmp/x+: File name too long'):
            check(LONG, 'parameter x')
    with pytest.raises(ValueError, match="parameter checkpoint: '/tmp/x+': File name too "
                                         'long'):
        load_setup(PolicyNodeConfig(checkpoint=LONG, device='cpu'))


def test_a_checkpoint_refused_for_what_it_holds_names_the_parameter(tmp_path):
    with pytest.raises(ValueError, match=f'parameter checkpoint: {tmp_path}/policy.json not '
                                         'found'):
        load_setup(PolicyNodeConfig(checkpoint=str(tmp_path), device='cpu'))
    with pytest.raises(ValueError, match="parameter checkpoint: 'hf://org' is not of the form"):
        load_setup(PolicyNodeConfig(checkpoint='hf://org', device='cpu'))
    (tmp_path / 'policy.json').write_bytes(b'\xff\xfe{}')  # a binary file in its place
    with pytest.raises(ValueError, match=f'parameter checkpoint: {tmp_path}/policy.json is '
                                         'not UTF-8 text'):
        load_setup(PolicyNodeConfig(checkpoint=str(tmp_path), device='cpu'))


def test_a_policy_json_edited_after_the_save_is_refused_before_nodes_start(tmp_path):
    """dp-ros sim / eval --via ros check the checkpoint before starting processes; an edited
    policy.json passed there and was refused in the node's log only (a closing review)."""
    import json

    from support import make_tiny_checkpoint

    from dp_ros.app.sim_launcher import resolve_checkpoint
    from dp_ros.policy.checkpoint import CheckpointError

    policy = make_tiny_checkpoint(tmp_path / 'p')
    meta = json.loads((policy / 'policy.json').read_text())
    meta['config']['horizon'] = 24
    (policy / 'policy.json').write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match='horizon: 24 .saved: 16.'):
        resolve_checkpoint(policy)
    meta['config']['num_inference_steps'] = 0  # policy.json's own fault, named as its
    (policy / 'policy.json').write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=f'^{policy}/policy.json: '):
        resolve_checkpoint(policy)
