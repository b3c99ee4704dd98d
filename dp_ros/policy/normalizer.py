"""Per-key affine normalization, as the paper's LinearNormalizer ('limits' mode, [-1, 1]).

Actions and low-dim observations: per-dimension min/max -> [-1, 1] (dimensions whose range is
below range_eps are only shifted to 0), but for dimensions named as identity (a pose's
quaternion or rotation matrix entries: in [-1, 1] already, and the paper's code leaves
rotations as they are). Images: [0, 1] -> [-1, 1]. Statistics are fp32 and
stay fp32 when the policy is cast to bf16/fp16: an action of ~500 px in bf16 would be
off by up to 2 px. They are serialised as JSON lists inside policy.json, not as weights.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from dp_ros.errors import UserError
from dp_ros.params import is_number
from dp_ros.policy.config import name_clash, normalizer_key_name

OUTPUT_MIN = -1.0
OUTPUT_MAX = 1.0
RANGE_EPS = 1e-4
FORMAT_VERSION = 1


class Normalizer(nn.Module):
    """Holds scale/offset per key; x_norm = x * scale + offset over the last dimension."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: dict[str, str] = {}  # key -> 'limits' | 'image'
        self.stats: dict[str, dict[str, list[float]]] = {}  # input stats for 'limits' keys

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_data(cls, data: Mapping[str, np.ndarray], image_keys: Iterable[str] = (),
                  identity: Mapping[str, Sequence[int]] | None = None) -> Normalizer:
        """Fit 'limits' stats on arrays of shape (N, D) (or (..., D)); add fixed image keys.
        identity: per key, the dimensions left as they are (scale 1, offset 0; their stats
        are still the data's)."""
        norm = cls()
        for key, value in data.items():
            x = torch.as_tensor(np.asarray(value), dtype=torch.float32)
            if x.ndim < 1 or x.numel() == 0:
                raise ValueError(f'normalizer data {key!r}: need a non-empty (N, D) array, '
                                 f'got shape {tuple(x.shape)}')
            x = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x.reshape(-1, 1)
            _check_finite(key, x)
            x_min, x_max = x.min(dim=0).values, x.max(dim=0).values
            scale, offset = _limits_scale_offset(x_min, x_max)
            keep = list((identity or {}).get(key, ()))
            if keep:
                if max(keep) >= x.shape[1] or min(keep) < 0:
                    raise ValueError(f'normalizer data {key!r}: identity dimensions {keep} '
                                     f'outside its {x.shape[1]}')
                scale[keep], offset[keep] = 1.0, 0.0
            stats = {'min': x_min, 'max': x_max, 'mean': x.mean(dim=0), 'std': x.std(dim=0)}
            norm._set(key, 'limits', scale, offset, {k: v.tolist() for k, v in stats.items()})
        for key in image_keys:
            norm.add_image_key(key)
        return norm

    def add_image_key(self, key: str) -> None:
        """Images arrive as floats in [0, 1]; the encoder wants [-1, 1]."""
        cpu = torch.device('cpu')  # explicit: stays real under a torch.device('meta') context
        self._set(key, 'image', torch.tensor([2.0], device=cpu),
                  torch.tensor([-1.0], device=cpu), {})

    def _set(self, key: str, kind: str, scale: torch.Tensor, offset: torch.Tensor,
             stats: dict[str, list[float]]) -> None:
        clash = name_clash([*(k for k in self.kinds if k != key), key], normalizer_key_name)
        if clash is not None:  # one buffer for both: the second would overwrite the first
            raise ValueError(f'normalizer keys {clash[0]!r} and {key!r} would share one entry '
                             f"({normalizer_key_name(key)!r}: '.' is written '_'): rename one")
        device = next((b.device for b in self.buffers()), torch.device('cpu'))
        self.register_buffer(_name(key, 'scale'), scale.float().to(device), persistent=False)
        self.register_buffer(_name(key, 'offset'), offset.float().to(device), persistent=False)
        self.kinds[key] = kind
        if stats:
            self.stats[key] = stats

    # ------------------------------------------------------------------ use
    @property
    def keys(self) -> list[str]:
        return list(self.kinds)

    def __contains__(self, key: object) -> bool:
        return key in self.kinds

    def dim(self, key: str) -> int:
        return int(self._params(key)[0].shape[0])

    def normalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        """Raw units -> [-1, 1]; computed and returned in fp32."""
        scale, offset = self._params(key)
        x = torch.as_tensor(x)
        self._check_dim(key, x, scale)
        return x.to(device=scale.device, dtype=torch.float32) * scale + offset

    def unnormalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> raw units; computed and returned in fp32."""
        scale, offset = self._params(key)
        x = torch.as_tensor(x)
        self._check_dim(key, x, scale)
        return (x.to(device=scale.device, dtype=torch.float32) - offset) / scale

    def _params(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        if key not in self.kinds:
            raise KeyError(f'normalizer has no key {key!r}; it has {self.keys}')
        return getattr(self, _name(key, 'scale')), getattr(self, _name(key, 'offset'))

    def _check_dim(self, key: str, x: torch.Tensor, scale: torch.Tensor) -> None:
        if self.kinds[key] == 'limits' and (x.ndim == 0 or x.shape[-1] != scale.shape[0]):
            raise ValueError(f'normalizer {key!r}: last dimension must be {scale.shape[0]}, '
                             f'got shape {tuple(x.shape)}')

    def _apply(self, fn, recurse=True):  # noqa: ANN001 (torch's signature)
        # follow device moves but never dtype casts: stats stay fp32 (no submodules/parameters)
        for name, buf in self._buffers.items():
            if buf is not None:
                moved = fn(buf)
                self._buffers[name] = moved if moved.dtype == buf.dtype else buf.to(moved.device)
        return self

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        fields = {}
        for key, kind in self.kinds.items():
            scale, offset = self._params(key)
            entry: dict = {'kind': kind, 'scale': scale.cpu().tolist(),
                           'offset': offset.cpu().tolist()}
            entry.update(self.stats.get(key, {}))
            fields[key] = entry
        return {'version': FORMAT_VERSION, 'mode': 'limits', 'output_min': OUTPUT_MIN,
                'output_max': OUTPUT_MAX, 'range_eps': RANGE_EPS, 'fields': fields}

    @classmethod
    def from_dict(cls, d: Mapping) -> Normalizer:
        """The normalizer of to_dict's mapping (policy.json's 'normalizer'); ValueError for
        one that is malformed, or whose scale or offset is not finite (JSON reads NaN and
        Infinity, which made NaN or 0 actions; save_policy refuses to write them)."""
        if not isinstance(d, Mapping):
            raise ValueError(f'normalizer must be a mapping, got {type(d).__name__}')
        if type(d.get('version')) is not int or d['version'] != FORMAT_VERSION:  # not true
            raise ValueError(f"normalizer format version {d.get('version')!r} is not "
                             f'{FORMAT_VERSION}')
        if 'fields' not in d:
            raise ValueError("normalizer lacks 'fields'")
        fields = d['fields']
        if not isinstance(fields, Mapping):
            raise ValueError(f"normalizer 'fields' must be a mapping, got "
                             f'{type(fields).__name__}')
        norm = cls()
        for key, entry in fields.items():
            if not isinstance(entry, Mapping):
                raise ValueError(f'normalizer field {key!r} must be a mapping, got '
                                 f'{type(entry).__name__}')
            kind = entry.get('kind')
            if kind not in ('limits', 'image'):
                raise ValueError(f'normalizer field {key!r}: unknown kind {kind!r}')
            missing = [k for k in ('scale', 'offset') if k not in entry]
            if missing:
                raise ValueError(f'normalizer field {key!r} lacks ' +
                                 ' and '.join(repr(k) for k in missing))
            scale = torch.tensor(entry['scale'], dtype=torch.float32)
            offset = torch.tensor(entry['offset'], dtype=torch.float32)
            if scale.ndim != 1 or scale.shape != offset.shape:
                raise ValueError(f'normalizer field {key!r}: scale {list(scale.shape)} and offset '
                                 f'{list(offset.shape)} must be equal-length lists')
            if not torch.all(scale != 0):
                raise ValueError(f'normalizer field {key!r}: zero scale {entry["scale"]}')
            # unnormalize divides by scale: a subnormal one (1e-40) gives inf actions
            if not (torch.isfinite(scale).all() and torch.isfinite(offset).all()
                    and torch.isfinite(1 / scale).all()):
                raise ValueError(f'normalizer field {key!r}: scale {entry["scale"]} and offset '
                                 f'{entry["offset"]} must be finite, with a finite 1 / scale')
            stats = {s: _statistic(entry[s], key, s)
                     for s in ('min', 'max', 'mean', 'std') if s in entry}
            norm._set(key, kind, scale, offset, stats)
        return norm

    def extra_repr(self) -> str:
        return ', '.join(f'{k}: {v}' for k, v in self.kinds.items())


def _statistic(values: object, key: str, name: str) -> list:
    """A saved statistic of field `key` (min, max, mean, std: shown, written back at the
    next save, never used to normalize): a list of numbers, else ValueError naming both
    (null was "'NoneType' object is not iterable", a string kept as its letters). Its
    length is the scale's, which the policy's check names (the field's dimension)."""
    if not isinstance(values, list) or not all(is_number(v) for v in values):
        raise ValueError(f'normalizer field {key!r}: its {name!r} must be a list of numbers '
                         f'(one per dimension), got {values!r:.80}')
    return list(values)


class NonFiniteDataError(UserError, ValueError):
    """Data with NaN or inf values to fit on (training names the dataset and episodes)."""


def _check_finite(key: str, x: torch.Tensor) -> None:
    """NaN or inf in the data would become NaN statistics, and a policy that trains on NaN
    losses: refused here with the key and the dimensions, as the dataset error they are."""
    bad = ~torch.isfinite(x)
    if not bad.any():
        return
    per_dim = bad.sum(dim=0)
    dims = [int(d) for d in torch.nonzero(per_dim).flatten()]
    kinds = sorted({'nan' if v != v else ('inf' if v > 0 else '-inf') for v in x[bad].tolist()})
    counts = ', '.join(f'{int(per_dim[d])} in dimension {d}' for d in dims)
    raise NonFiniteDataError(f'normalizer data {key!r}: non-finite values ({"/".join(kinds)}): '
                       f'{counts}, of {x.shape[0]} rows; the statistics and the training '
                       'loss would be NaN')


def _limits_scale_offset(x_min: torch.Tensor, x_max: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's _fit(mode='limits', fit_offset=True)."""
    span = x_max - x_min
    ignore = span < RANGE_EPS
    span = torch.where(ignore, torch.full_like(span, OUTPUT_MAX - OUTPUT_MIN), span)
    scale = (OUTPUT_MAX - OUTPUT_MIN) / span
    offset = OUTPUT_MIN - scale * x_min
    offset = torch.where(ignore, (OUTPUT_MAX + OUTPUT_MIN) / 2 - x_min, offset)
    return scale, offset


def _name(key: str, what: str) -> str:
    return f'{what}__{normalizer_key_name(key)}'
