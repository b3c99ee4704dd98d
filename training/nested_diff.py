"""Where two nested configs differ, leaf by leaf: what a resume and a warm start compare."""
from __future__ import annotations

from typing import Any

Change = tuple[str, Any, Any]  # (dotted key, the saved value, this run's)


def diff_values(a: Any, b: Any, prefix: str = '', ordered: tuple[str, ...] = ()
                ) -> list[Change]:
    """(dotted key, a's value, b's value) of each leaf where two nested dicts differ. A
    mapping named in `ordered` whose keys come in another order differs in them (the lists
    of its keys): the policy concatenates the features of its cameras and low-dim keys in
    their order."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a \
            and all(isinstance(x, dict) for x in (*a, *b)):  # a key's sources: per source
        return [c for i, (x, y) in enumerate(zip(a, b, strict=True))
                for c in diff_values(x, y, f"{prefix.rstrip('.')}[{i}].", ordered)]
    if isinstance(a, dict) and isinstance(b, dict):
        if prefix.rstrip('.') in ordered and [k for k in a if k in b] != [k for k in b if k in a]:
            return [(prefix.rstrip('.'), list(a), list(b))]
        out = []
        for k in sorted(set(a) | set(b)):
            out += diff_values(a.get(k), b.get(k), f'{prefix}{k}.', ordered)
        return out
    return [] if a == b else [(prefix.rstrip('.'), a, b)]


def in_field(key: str, field: str) -> bool:
    """Whether a diff_values key lies in a field of that name, at any depth (its list items
    too: 'obs.scene.sources[0].rate_hz' is in 'sources')."""
    return any(part.split('[')[0] == field for part in key.split('.'))
