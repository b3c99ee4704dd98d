"""Review of training/deprecated_keys.py (renamed config keys): every rename of a mapping is
applied, the caller's mapping is left alone, the messages without a file name and with both
names given, and where the warning points (stacklevel counted from the caller)."""
from __future__ import annotations

import inspect
import warnings

import pytest

from training.deprecated_keys import DeprecatedKeyWarning, rename_deprecated


def test_every_old_key_is_renamed_even_after_one_that_is_absent():
    """renames is a mapping of several keys: an absent old name does not end the renaming."""
    renames = {'gone': 'kept', 'old_a': 'new_a', 'old_b': 'new_b'}
    with pytest.warns(DeprecatedKeyWarning) as caught:
        out = rename_deprecated({'old_a': 1, 'old_b': 2, 'x': 3}, renames)
    assert out == {'x': 3, 'new_a': 1, 'new_b': 2}
    assert len(caught) == 2


def test_the_callers_mapping_is_not_changed():
    """A copy is returned: a config section held elsewhere (a saved train state) keeps its
    old key."""
    section = {'control_period': 0.1, 'lr': 1e-4}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        out = rename_deprecated(section, {'control_period': 'control_period_s'}, 'train.')
    assert out == {'control_period_s': 0.1, 'lr': 1e-4}
    assert section == {'control_period': 0.1, 'lr': 1e-4}


def test_messages_without_a_file_name_begin_with_the_key():
    """No origin: no file prefix (no stray ': ') before the key's name."""
    with pytest.warns(DeprecatedKeyWarning) as caught:
        rename_deprecated({'old': 1}, {'old': 'new'}, 'train.')
    assert str(caught[0].message) == ("'train.old' is the old name of 'train.new'; rename it "
                                      'in the config')
    with pytest.raises(ValueError) as refused:
        rename_deprecated({'old': 1, 'new': 2}, {'old': 'new'}, 'train.')
    assert str(refused.value) == ('train.old and train.new both given: old is the old name of '
                                  'new, keep only train.new')


def load_old_config(stacklevel: int | None = None) -> dict:
    """A loader the way training/config.py calls rename_deprecated."""
    kwargs = {} if stacklevel is None else {'stacklevel': stacklevel}
    return rename_deprecated({'old': 1}, {'old': 'new'}, **kwargs)  # line of stacklevel 1


def test_the_warning_points_at_the_loaders_caller_by_default():
    """stacklevel as warnings.warn's counted from the caller: the default 2 names the line
    that called the loader (the user's), 1 the loader's own call."""
    here = inspect.currentframe().f_lineno
    with pytest.warns(DeprecatedKeyWarning) as default:
        load_old_config()  # here + 2
    with pytest.warns(DeprecatedKeyWarning) as one:
        load_old_config(stacklevel=1)
    assert default[0].filename == __file__ and default[0].lineno == here + 2
    loader_line = inspect.getsourcelines(load_old_config)[1] + 3
    assert one[0].filename == __file__ and one[0].lineno == loader_line
