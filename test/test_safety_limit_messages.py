"""The one-line refusal of a non-positive max_step_delta / max_velocity gives the values as
the user wrote them (found by exploratory testing: numpy reprs, np.float64(0.1), ...)."""
from __future__ import annotations

import pytest

from dp_ros.runtime.safety import combine_limits


@pytest.mark.parametrize('name', ['max_step_delta', 'max_velocity'])
def test_a_non_positive_limit_is_named_with_plain_numbers(name):
    with pytest.raises(ValueError) as info:
        combine_limits(3, 0.1, **{name: [0.1, -0.1, 0.1]})
    text = str(info.value)
    assert name in text
    assert 'np.float64' not in text, text
    assert '[0.1, -0.1, 0.1]' in text, text
