"""Renamed config keys: an old key is still read, with a DeprecationWarning naming the new one.

Commands show these warnings (Python hides DeprecationWarning outside __main__), so a user
with an old config learns the new key from the command's own output.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class DeprecatedKeyWarning(DeprecationWarning):
    """A config used a key's old name."""


def rename_deprecated(mapping: Mapping[str, Any], renames: Mapping[str, str], where: str = '',
                      *, origin: str = '', error: type[Exception] = ValueError,
                      warn: bool = True, stacklevel: int = 2) -> dict[str, Any]:
    """A copy of `mapping` with old keys (renames: old -> new) under their new names.

    `where` prefixes the key names in messages ('train.'), `origin` names the file; both
    names given is an `error`. stacklevel: as warnings.warn's, counted from the caller.
    """
    prefix = f'{origin}: ' if origin else ''
    out = dict(mapping)
    for old, new in renames.items():
        if old not in out:
            continue
        if new in out:
            raise error(f'{prefix}{where}{old} and {where}{new} both given: {old} is the old '
                        f'name of {new}, keep only {where}{new}')
        if warn:
            warnings.warn(f"{prefix}'{where}{old}' is the old name of '{where}{new}'; rename it "
                          'in the config', DeprecatedKeyWarning, stacklevel=stacklevel + 1)
        out[new] = out.pop(old)
    return out


@contextmanager
def deprecated_keys_shown() -> Iterator[None]:
    """Show DeprecatedKeyWarning (on stderr) inside the block, whatever the filters say."""
    with warnings.catch_warnings():
        warnings.simplefilter('always', DeprecatedKeyWarning)
        yield
