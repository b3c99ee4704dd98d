"""Which episodes a command works on: one spelling for every `--episodes` option."""
from __future__ import annotations

from dp_ros.errors import UserError


class EpisodeSpecError(UserError, ValueError):
    """An --episodes value that selects nothing valid; the message names the valid range."""


def parse_episodes(spec: str | None, n: int | None = None) -> list[int] | None:
    """'0:206' (end exclusive), '3', '1,5,9' -> indices; None or '' -> None (all).

    With n, the dataset's episode count, either end of a range may be left out (':' is all of
    them), a range stops at n, and every index is checked (EpisodeSpecError, a ValueError
    and a UserError, naming the valid range).
    """
    if not spec:
        return None
    try:
        if ':' in spec:
            a, b = spec.split(':', 1)
            if n is None and not b:
                raise EpisodeSpecError(f'episodes {spec!r}: a range needs its end')
            stop = int(b) if b else n
            indices = list(range(int(a) if a else 0, stop if n is None else min(stop, n)))
        else:
            indices = [int(v) for v in spec.split(',') if v.strip()]
    except EpisodeSpecError:
        raise
    except ValueError:
        raise EpisodeSpecError(f"episodes {spec!r}: expected 'A:B', 'N' or 'N,M,...'") from None
    if n is not None and (not indices or any(not 0 <= i < n for i in indices)):
        raise EpisodeSpecError(f'episodes {spec!r}: the dataset has episodes 0..{n - 1}')
    return list(dict.fromkeys(indices))  # '3,3' once: commands record or predict each once
