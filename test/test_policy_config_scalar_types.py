"""PolicyConfig's scalar fields are of their annotated types (dp_ros/params.py's
check_scalar_types): the one rule of a policy.json's config and of a training config's
policy section (training/config.py wraps the same check into TrainConfigError).

An int field takes an integer, never a float (16.0 for horizon reached torch as a float size)
or a bool; a float field any number, an int too; a bool field true or false only (the string
'false' clipped); a str field a string.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from support import small_image_config

from dp_ros.params import check_scalar_types
from dp_ros.policy.config import PolicyConfig
from training.config import load_config
from training.errors import TrainConfigError


@pytest.mark.parametrize('field,value,message', [
    ('horizon', 16.0, 'config.horizon must be an integer, got 16.0'),
    ('num_inference_steps', True, 'config.num_inference_steps must be an integer, got True'),
    ('clip_sample', 'false', "config.clip_sample must be true or false, got 'false'"),
    ('resnet_width', '0.25', "config.resnet_width must be a number, got '0.25'"),
    ('beta_schedule', None, 'config.beta_schedule must be a string, got None'),
])
def test_a_scalar_of_another_type_is_a_value_error_naming_it(field: str, value, message: str):
    with pytest.raises(ValueError, match=message):
        small_image_config(**{field: value})
    with pytest.raises(ValueError, match=message):
        PolicyConfig.from_dict({field: value})


def test_an_int_is_a_number_for_a_float_field():
    """YAML and JSON give 1 for 1.0: resnet_width 1 is the paper's width."""
    assert PolicyConfig.from_dict({'resnet_width': 1}).resnet_width == 1


def test_the_training_policy_section_follows_the_same_rule():
    """The same check, named after the training config's section (one line, exit 2)."""
    with pytest.raises(TrainConfigError, match='policy.horizon must be an integer, got 16.0'):
        load_config(None, ['policy.horizon=16.0'])
    with pytest.raises(TrainConfigError,
                       match="policy.clip_sample must be true or false, got 'false'"):
        load_config(None, ["policy.clip_sample='false'"])


@dataclass
class _Fields:
    count: int | None = None
    scale: float = 1.0
    names: list[str] | None = None


def test_check_scalar_types_takes_null_for_an_optional_field_and_skips_the_rest():
    check_scalar_types('x', _Fields, {'count': None, 'scale': 2, 'names': 'not checked',
                                      'unknown': object()})
    with pytest.raises(ValueError, match=r'x.count must be an integer or null, got 2.5'):
        check_scalar_types('x', _Fields, {'count': 2.5})
