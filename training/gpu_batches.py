"""Training batches built on the training device from arrays that live there.

On a GPU the DataLoader path is the bottleneck (issue 15: 12 workers fed the 7.7M policy
about 650 samples/s): every window is gathered, converted and collated on the host, then
copied over. Push-T fits in device memory many times over (0.7 GB of uint8 images), so the
arrays are copied to the device once and each batch is a few gathers there. The windows are
those of training/sampler.py (SequenceSampler.indices with key_first_k, edge padding by
clamped row indices) and the values those of PushTImageDataset.__getitem__ after collation,
bit for bit (test/test_gpu_batches.py); random crops stay in the model (its generator).

Imports neither zarr nor the sampler, so the GPU bench can build batches from synthetic
arrays on a machine without them.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from training.sampler import checked_first_k

ACTION = 'action'


class DeviceBatches:
    """{'obs': {name: (B, k, ...)}, 'action': (B, L, A)} float32 batches, built on `device`.

    arrays: name -> (N, ...) per-step arrays: images (N, H, W, C) uint8 for rgb_keys,
    float32 for the low-dim keys and the action. indices: (windows, 4) rows of
    (buffer_start, buffer_end, sample_start, sample_end) as create_indices makes them.
    key_first_k: keys of which only the window's first k steps are returned.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray | torch.Tensor], indices: np.ndarray,
                 sequence_length: int, rgb_keys: Sequence[str], low_dim_keys: Sequence[str],
                 device: torch.device | str, key_first_k: Mapping[str, int] | None = None
                 ) -> None:
        self.device = torch.device(device)
        self.rgb_keys, self.low_dim_keys = list(rgb_keys), list(low_dim_keys)
        self.sequence_length = int(sequence_length)
        # the dataset's rule (1 <= k <= the window): 0 gave empty windows, k past the window
        # repeated edge rows, batches that were not the dataset's
        self.key_first_k = checked_first_k(key_first_k, (*rgb_keys, *low_dim_keys, ACTION),
                                           self.sequence_length)
        self.data = {k: _on_device(arrays[k], self.device)
                     for k in (*self.rgb_keys, *self.low_dim_keys, ACTION)}
        for key in self.rgb_keys:
            if self.data[key].dtype != torch.uint8 or self.data[key].ndim != 4:
                raise ValueError(f'image array {key!r} must be (N, H, W, C) uint8, got '
                                 f'{tuple(self.data[key].shape)} {self.data[key].dtype}')
        self.indices = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.device)
        # a device tensor, not a Python scalar: CUDA divides by a host scalar as a multiply
        # by its reciprocal, which can differ in the last bit from the dataset's division
        self._255 = torch.full((), 255.0, device=self.device)

    @classmethod
    def from_dataset(cls, dataset: Any, device: torch.device | str) -> DeviceBatches:
        """The training windows of a PushTImageDataset (its sampler's rows and arrays)."""
        sampler = dataset.sampler
        return cls(dataset.replay_buffer.data, sampler.indices, sampler.sequence_length,
                   dataset.rgb_keys, dataset.low_dim_keys, device, sampler.key_first_k)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def _rows(self, windows: torch.Tensor, steps: int) -> torch.Tensor:
        """(B, steps) buffer rows of the windows' first `steps` positions: position i reads
        row buffer_start + clip(i - sample_start, 0, buffer_end - buffer_start - 1)."""
        start, end, sample_start = windows[:, 0:1], windows[:, 1:2], windows[:, 2:3]
        pos = torch.arange(steps, device=self.device)[None, :] - sample_start
        return start + torch.minimum(pos.clamp(min=0), end - start - 1)

    def batch(self, indices: Sequence[int] | torch.Tensor) -> dict[str, Any]:
        """The windows `indices` (into the dataset), as the collated DataLoader batch."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        if self.device.type == 'cuda' and idx.device.type == 'cpu':
            # from pinned memory without waiting: a pageable copy waits for the stream, so
            # each step's batch would wait for the last step's optimizer and EMA kernels
            idx = idx.pin_memory().to(self.device, non_blocking=True)
        else:
            idx = idx.to(self.device)
        windows = self.indices[idx]
        full = self.sequence_length
        obs = {}
        for key in self.rgb_keys:
            images = self.data[key][self._rows(windows, self.key_first_k.get(key, full))]
            images = images.permute(0, 1, 4, 2, 3).contiguous()  # B T C H W, still uint8
            obs[key] = images.to(torch.float32).div_(self._255)
        for key in self.low_dim_keys:
            obs[key] = self.data[key][self._rows(windows, self.key_first_k.get(key, full))]
        action = self.data[ACTION][self._rows(windows, self.key_first_k.get(ACTION, full))]
        return {'obs': obs, ACTION: action}


def iterate_device_batches(builder: DeviceBatches, batches: Any, epoch: int, start: int
                           ) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """As training.batches.iterate_batches: (epoch, index_in_epoch, batch) forever from
    (epoch, start), in the order of batches.epoch(e) (an EpochBatches)."""
    while True:
        for i, indices in enumerate(batches.epoch(epoch)[start:]):
            yield epoch, start + i, builder.batch(indices)
        epoch, start = epoch + 1, 0


def _on_device(array: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if torch.is_tensor(array):
        return array.to(device)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = array.astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)
