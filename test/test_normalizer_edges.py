"""Edges of dp_ros/policy/normalizer.py: empty, 1-D and constant data, the identity
dimensions' bounds, the statistics recorded in policy.json, dtype and 0-d inputs, dotted
keys, and the from_dict checks on a malformed or foreign normalizer entry.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dp_ros.policy.normalizer import RANGE_EPS, Normalizer


def _entry(**changes: object) -> dict:
    """A valid one-key normalizer dict with `changes` applied to its field."""
    field = {'kind': 'limits', 'scale': [2.0, 0.5], 'offset': [-1.0, 0.0]}
    field.update(changes)
    return {'version': 1, 'fields': {'action': field}}


@pytest.mark.parametrize('value', [np.zeros((0, 2)), np.zeros((0,)), np.float32(1.0)])
def test_empty_or_scalar_data_is_refused_with_the_shape(value: np.ndarray):
    """No rows to fit is a ValueError naming the shape, not a torch error."""
    with pytest.raises(ValueError, match='need a non-empty'):
        Normalizer.from_data({'action': value})


def test_one_dimensional_data_is_one_value_per_row():
    """(N,) data is N samples of one dimension, not one sample of N."""
    norm = Normalizer.from_data({'gripper': np.array([0.0, 4.0, 2.0])})
    assert norm.dim('gripper') == 1
    got = norm.normalize('gripper', torch.tensor([[0.0], [2.0], [4.0]]))
    assert got.flatten().tolist() == [-1.0, 0.0, 1.0]


def test_identity_dimensions_must_be_inside_the_data():
    """The last dimension may be kept; one past it or a negative one is refused."""
    data = np.array([[0.0, -0.5, 10.0], [2.0, 0.5, 30.0]])
    norm = Normalizer.from_data({'action': data}, identity={'action': [2]})
    assert norm.normalize('action', torch.tensor([[1.0, 0.0, 7.0]]))[0, 2] == 7.0
    for bad in ([3], [-1]):
        with pytest.raises(ValueError, match='identity dimensions'):
            Normalizer.from_data({'action': data}, identity={'action': bad})


def test_identity_dimensions_get_offset_zero():
    """A kept dimension is not shifted either (its range is not [-1, 1]-centred data)."""
    data = np.array([[0.0, 0.2], [2.0, 0.8]])
    norm = Normalizer.from_data({'action': data}, identity={'action': [1]})
    assert norm.to_dict()['fields']['action']['offset'][1] == 0.0
    assert norm.normalize('action', torch.tensor([[1.0, 0.3]]))[0, 1] == pytest.approx(0.3)


def test_recorded_statistics_are_min_max_mean_and_unbiased_std():
    """policy.json's stats: per dimension min, max, mean and torch's (unbiased) std."""
    data = np.array([[0.0, 10.0], [1.0, 10.0], [5.0, 13.0]])
    field = Normalizer.from_data({'action': data}).to_dict()['fields']['action']
    assert field['min'] == [0.0, 10.0] and field['max'] == [5.0, 13.0]
    assert field['mean'] == pytest.approx([2.0, 11.0])
    assert field['std'] == pytest.approx([np.std(data[:, 0], ddof=1), np.std(data[:, 1], ddof=1)])


def test_constant_dimension_is_shifted_to_zero_with_scale_one():
    """A dimension whose range is below range_eps: scale 1, offset -min (the paper's)."""
    data = np.array([[3.0, 0.0], [3.0, 2.0]])
    field = Normalizer.from_data({'action': data}).to_dict()['fields']['action']
    assert field['scale'][0] == 1.0 and field['offset'][0] == -3.0
    norm = Normalizer.from_data({'action': data})
    assert norm.normalize('action', torch.tensor([[4.0, 1.0]])).tolist() == [[1.0, 0.0]]


def test_a_span_of_exactly_range_eps_is_fitted():
    """range_eps is the smallest span that is scaled; below it a dimension is only shifted."""
    eps = float(torch.tensor(RANGE_EPS, dtype=torch.float32))
    data = np.array([[0.0, 0.0], [eps, eps / 2]], dtype=np.float32)
    scale = Normalizer.from_data({'action': data}).to_dict()['fields']['action']['scale']
    assert scale[0] == pytest.approx(2.0 / eps, rel=1e-6)
    assert scale[1] == 1.0


@pytest.mark.parametrize('dtype', [torch.float64, torch.bfloat16, torch.int64])
def test_normalize_and_unnormalize_return_fp32(dtype: torch.dtype):
    """Whatever the input dtype, both directions compute and return fp32."""
    norm = Normalizer.from_data({'action': np.array([[0.0, 0.0], [4.0, 8.0]])})
    x = torch.tensor([[2.0, 4.0]]).to(dtype)
    assert norm.normalize('action', x).dtype == torch.float32
    assert norm.unnormalize('action', x).dtype == torch.float32


def test_unnormalize_inverts_an_offset_dimension():
    """unnormalize is (x - offset) / scale: [-1, 1] maps back to [min, max]."""
    norm = Normalizer.from_data({'action': np.array([[100.0, -3.0], [300.0, 5.0]])})
    got = norm.unnormalize('action', torch.tensor([[-1.0, 1.0], [0.0, 0.0]]))
    assert torch.allclose(got, torch.tensor([[100.0, 5.0], [200.0, 1.0]]))


def test_a_zero_dimensional_input_is_a_value_error():
    """A scalar has no last dimension to check: the same ValueError as a wrong one."""
    norm = Normalizer.from_data({'action': np.array([[0.0], [1.0]])})
    with pytest.raises(ValueError, match='last dimension must be 1'):
        norm.normalize('action', torch.tensor(0.5))


def test_image_keys_map_0_1_to_minus_1_1():
    """An image key is the fixed [0, 1] -> [-1, 1] map, in both directions."""
    norm = Normalizer.from_data({}, image_keys=['cam'])
    x = torch.tensor([0.0, 0.25, 1.0])
    assert norm.normalize('cam', x).tolist() == [-1.0, -0.5, 1.0]
    assert norm.unnormalize('cam', torch.tensor([-1.0, 0.0])).tolist() == [0.0, 0.5]


def test_dotted_keys_are_usable_and_round_trip():
    """LeRobot's 'observation.state' names work as keys (buffer names cannot hold dots)."""
    norm = Normalizer.from_data({'observation.state': np.array([[0.0], [2.0]])})
    again = Normalizer.from_dict(norm.to_dict())
    assert again.keys == ['observation.state']
    assert again.normalize('observation.state', torch.tensor([[2.0]])).item() == 1.0


def test_moving_to_bf16_keeps_the_buffers_fp32():
    """A dtype cast of the module leaves the statistics fp32."""
    norm = Normalizer.from_data({'action': np.array([[0.0], [511.0]])}, image_keys=['cam'])
    norm.to(torch.bfloat16)
    assert {b.dtype for b in norm.buffers()} == {torch.float32}
    got = norm.unnormalize('action', torch.tensor([[0.999]])).item()
    assert got == pytest.approx(510.7445, rel=1e-6)


def test_from_dict_round_trips_every_statistic():
    """min, max, mean and std all survive to_dict -> from_dict."""
    norm = Normalizer.from_data({'action': np.array([[0.0, 1.0], [2.0, 5.0], [4.0, 6.0]])})
    again = Normalizer.from_dict(norm.to_dict()).to_dict()['fields']['action']
    want = norm.to_dict()['fields']['action']
    for stat in ('min', 'max', 'mean', 'std'):
        assert again[stat] == want[stat]


@pytest.mark.parametrize('d,match', [
    ({**_entry(), 'version': 2}, 'format version 2'),
    (_entry(kind='zscore'), "unknown kind 'zscore'"),
    (_entry(scale=[[2.0, 0.5]], offset=[[-1.0, 0.0]]), 'equal-length lists'),
    (_entry(scale=[2.0]), 'equal-length lists'),
    (_entry(scale=[2.0, 0.0]), 'zero scale'),
])
def test_from_dict_refuses_malformed_entries(d: dict, match: str):
    """A foreign version, an unknown kind, a non-list or mismatched scale, any zero scale."""
    with pytest.raises(ValueError, match=match):
        Normalizer.from_dict(d)


def test_non_finite_message_names_signs_and_per_dimension_counts():
    """+inf is 'inf', -inf '-inf'; counts are per dimension over rows."""
    data = np.zeros((4, 3))
    data[0, 1] = np.inf
    data[2, 1] = np.inf
    data[3, 2] = -np.inf
    with pytest.raises(ValueError) as err:
        Normalizer.from_data({'action': data})
    message = str(err.value)
    assert '(-inf/inf)' in message
    assert '2 in dimension 1' in message and '1 in dimension 2' in message
    assert 'of 4 rows' in message
    with pytest.raises(ValueError, match=r'\(inf\): 1 in dimension 0'):
        Normalizer.from_data({'action': np.array([[np.inf], [0.0]])})


@pytest.mark.parametrize('drop', [['scale'], ['offset'], ['scale', 'offset']])
def test_an_entry_lacking_scale_or_offset_is_refused_naming_them(drop: list[str]):
    """A hand-edited policy.json without a field's scale or offset says which field lacks
    which (it was a bare KeyError: "policy.json: 'offset'")."""
    d = _entry()
    for key in drop:
        del d['fields']['action'][key]
    with pytest.raises(ValueError, match=r"normalizer field 'action' lacks 'scale'|"
                                         r"normalizer field 'action' lacks 'offset'") as info:
        Normalizer.from_dict(d)
    assert all(repr(k) in str(info.value) for k in drop)


def test_a_normalizer_without_fields_is_refused_by_name():
    with pytest.raises(ValueError, match="normalizer lacks 'fields'"):
        Normalizer.from_dict({'version': 1})
