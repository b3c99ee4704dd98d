"""The measured state against the range the policy was trained on, for a hint when it is far.

A policy trained in degrees fed a ros2_control driver's radians, or a joint mapped to another
one of the same name, plans on states it never saw and publishes targets the controller reads
in other units, without any error. The normalizer maps each low-dim state dimension's training
range [min, max] to [-1, 1]; a value whose normalized size is above FAR_NORMALIZED (more than
one full training range beyond min or max) is far outside it. Radians near 0 inside a range in
degrees (-100..100) are not: for a LeRobot SO-100 dataset's '.pos' values, whose ranges are
wider than any joint's in radians, the node warns at start instead (unit_warning). It is a
hint, not proof (an arm may leave the demonstrations' range a little), so the node warns and
counts (state_far_outside_training), and still plans. Dimensions constant in training (range
below the normalizer's range_eps) are skipped, as are those the normalizer leaves as they are
(a quaternion's: their normalized value is the value).

Reads the stats of policy.json's 'normalizer' mapping (Normalizer.to_dict) without torch.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# normalized |x| above this: beyond [min, max] by more than the range (which spans 2)
FAR_NORMALIZED = 3.0
# the normalizer's RANGE_EPS, which every policy.json records as 'range_eps' (this module
# keeps torch out of the runtime layer, so dp_ros.policy.normalizer is not imported)
DEFAULT_RANGE_EPS = 1e-4


@dataclass(frozen=True)
class FarValue:
    """One state dimension far outside its training range."""

    name: str
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f'{self.name} {self.value:.4g} (trained {self.low:.4g}..{self.high:.4g})'


@dataclass(frozen=True)
class StateRange:
    """The training range of each state dimension (the low-dim keys' in order) and the
    normalizer's affine map of it."""

    keys: tuple[str, ...]
    sizes: tuple[int, ...]
    names: tuple[str, ...]  # one per state dimension
    low: np.ndarray
    high: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    checked: np.ndarray  # bool: dimensions with a range to judge by

    def far(self, state: np.ndarray) -> list[FarValue]:
        """The dimensions of `state` (all keys' values, concatenated) far outside their
        training range; NaN values are not judged."""
        x = np.asarray(state, dtype=np.float64).reshape(-1)
        if x.shape[0] != len(self.names):
            raise ValueError(f'state of {x.shape[0]} values, the training range has '
                             f'{len(self.names)}')
        return [FarValue(self.names[i], float(x[i]), float(self.low[i]), float(self.high[i]))
                for i in np.flatnonzero(self.far_dimensions(x[None]))]

    def far_dimensions(self, states: np.ndarray) -> np.ndarray:
        """Per dimension, whether a row of `states` (N, all keys' values) is far outside its
        training range (recorded data against a policy: `dp-ros open-loop`); NaN values are
        not judged."""
        with np.errstate(invalid='ignore'):
            far = np.abs(np.asarray(states, dtype=np.float64) * self.scale + self.offset) \
                > FAR_NORMALIZED
        return self.checked & far.any(axis=0)

    def far_newest(self, values: Mapping[str, Sequence[Any]]) -> list[FarValue]:
        """far() of an observation's newest state: `values` per checkpoint key, a list of
        samples each (ResolvedSetup.model_values)."""
        return self.far(np.concatenate([np.asarray(values[k][-1], dtype=np.float64).reshape(-1)
                                        for k in self.keys]))


def state_range(normalizer: Mapping[str, Any], keys: Sequence[str], sizes: Sequence[int],
                names: Sequence[str]) -> StateRange | None:
    """The StateRange of the low-dim `keys` (of `sizes` values, named `names` in order) from
    policy.json's normalizer mapping; None when a key lacks its stats (min, max, scale,
    offset) or they do not fit: nothing to judge by, no hint."""
    fields = normalizer.get('fields') if isinstance(normalizer, Mapping) else None
    if not isinstance(fields, Mapping) or len(names) != sum(sizes):
        return None
    parts: dict[str, list[np.ndarray]] = {s: [] for s in ('min', 'max', 'scale', 'offset')}
    for key, size in zip(keys, sizes, strict=True):
        entry = fields.get(key)
        if not isinstance(entry, Mapping) or entry.get('kind') != 'limits':
            return None
        for stat, found in parts.items():
            try:
                value = np.asarray(entry[stat], dtype=np.float64).reshape(-1)
            except (KeyError, TypeError, ValueError):
                return None
            if value.shape[0] != size:
                return None
            found.append(value)
    low, high, scale, offset = (np.concatenate(parts[s]) for s in parts)
    eps = float(normalizer.get('range_eps', DEFAULT_RANGE_EPS))
    identity = (scale == 1.0) & (offset == 0.0)  # left as they are (unless min is -1, max 1)
    checked = np.isfinite(low) & np.isfinite(high) & (high - low >= eps) & \
        (~identity | np.isclose(high - low, 2.0))
    return StateRange(tuple(keys), tuple(int(s) for s in sizes), tuple(names), low, high,
                      scale, offset, checked)


# a joint position range wider than two turns is no joint's in radians
RADIAN_SPAN = 4 * np.pi


def unit_warning(rng: StateRange | None, trained_names: Sequence[str] | None,
                 lerobot: bool) -> str | None:
    """The node's start warning for a policy trained on LeRobot '.pos' values whose ranges
    are wider than any joint's in radians (so100/koch followers record degrees or motor
    units, the gripper 0..100): a ros2_control driver's radians would feed it, and the
    far-outside hint cannot tell (radians near 0 lie inside a degree range). None otherwise."""
    if rng is None or not lerobot or not trained_names \
            or len(trained_names) != len(rng.names):
        return None
    wide = [f'{name} {lo:.4g}..{hi:.4g}' for name, lo, hi
            in zip(trained_names, rng.low, rng.high, strict=True)
            if name.endswith('.pos') and hi - lo > RADIAN_SPAN]
    if not wide:
        return None
    return (f"the policy was trained on LeRobot '.pos' values wider than a joint's in radians "
            f'({", ".join(wide)}): degrees or motor units (so100/koch followers; their gripper '
            '0..100). A ros2_control driver publishes radians, which the node passes on as they '
            'are: the policy would see, and command, other units, and the far-outside hint '
            'misses radians near 0 inside a degree range. Train on data in the driver\'s units, '
            'or drive the arm with a driver that publishes the training units')


def far_state_warning(far: Sequence[FarValue]) -> str:
    """The node's warning for an observation whose state is far outside the training range."""
    listed = ', '.join(str(v) for v in far)
    return (f'measured state far outside the range the policy was trained on (more than a '
            f'whole training range beyond it): {listed}; another unit (degrees vs radians)? '
            'another joint under this name? It plans on it all the same (logged once per '
            'enable; state_far_outside_training on /diagnostics)')
