"""Episode storage in the Diffusion Policy paper's zarr layout.

Layout (zarr format 2, readable by the paper's code)::

    <root>/data/<key>          arrays whose first axis is time, chunked along time only
    <root>/meta/episode_ends   int64, exclusive end step of each episode

A buffer is backed either by a zarr group (local path or fsspec URL, for reading and
appending on disk) or by numpy arrays in memory (for fast random access while training).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlparse

import numcodecs
import numpy as np
import zarr
from tqdm.auto import tqdm
from zarr.core.sync import sync

from dp_ros.errors import UserError, one_line

# The compressor of the paper's published Push-T store (ReplayBuffer 'disk' preset).
DEFAULT_COMPRESSOR = numcodecs.Blosc(cname='zstd', clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
# The paper sizes time chunks to about 2 MB.
TARGET_CHUNK_BYTES = 2_000_000
# Arrays larger than this get a progress bar when read whole.
_PROGRESS_MIN_BYTES = 64 * 2**20

PathOrUrl = str | Path


class NotAReplayBufferError(UserError, ValueError):
    """The store exists but does not hold the data/ + meta/episode_ends layout."""


def store_location(path_or_url: PathOrUrl) -> str:
    """Local path for plain paths and file:// URLs, the URL itself for other fsspec schemes.

    file:// goes to zarr's LocalStore: fsspec's local filesystem does not create parent
    directories when zarr writes keys, and the local store is faster anyway.
    """
    text = str(path_or_url)
    if '://' not in text:
        return str(Path(text).expanduser())
    parsed = urlparse(text)
    if parsed.scheme == 'file':
        if parsed.netloc not in ('', 'localhost'):
            raise ValueError(f'file:// URL with a remote host is not supported: {text!r}')
        return unquote(parsed.path)
    return text


def is_zarr_store(path: str | Path) -> bool:
    """Whether a local folder holds a zarr group at its root (format 2's .zgroup, format 3's
    zarr.json): a store, whatever it holds."""
    p = Path(path)
    return (p / '.zgroup').is_file() or (p / 'zarr.json').is_file()


def time_chunk_length(step_shape: tuple[int, ...], dtype: np.dtype,
                      target_bytes: int = TARGET_CHUNK_BYTES) -> int:
    """Steps per chunk so that a chunk holds about target_bytes (chunking along time only)."""
    step_bytes = max(1, int(np.prod(step_shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    return max(1, math.ceil(target_bytes / step_bytes))


def read_array(array: Any, *, convert: Callable[[np.ndarray], np.ndarray] | None = None,
               desc: str | None = None, progress: bool | None = None,
               block_steps: int | None = None,
               ranges: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """Read a (zarr or numpy) array into memory in time blocks, converting each block.

    Block-wise reading keeps the peak memory at the converted result plus one block, which
    matters when float32 images are turned into uint8 (2.8 GB -> 0.7 GB for Push-T).
    ranges: read only these (start, stop) steps, one after the other (some episodes:
    EpisodeIndex.step_ranges); None: all of them.
    """
    total = int(array.shape[0])
    if block_steps is None:
        block_steps = _block_steps(int(getattr(array, 'chunks', (total,))[0] or 1), array)
    block_steps = max(1, block_steps)
    ranges = [(0, total)] if ranges is None else [(int(a), int(b)) for a, b in ranges]
    n = sum(b - a for a, b in ranges)
    if progress is None:
        progress = n * _step_bytes(array) >= _PROGRESS_MIN_BYTES
    out: np.ndarray | None = None
    pos = 0
    with tqdm(total=n, desc=desc or 'reading', unit='step', disable=not progress,
              leave=False) as bar:
        for first, last in ranges:
            # blocks aligned with the whole-array read: each chunk is decompressed once
            for start in range(first - first % block_steps, last, block_steps):
                lo, hi = max(start, first), min(last, start + block_steps)
                block = np.asarray(array[lo:hi])
                if convert is not None:
                    block = convert(block)
                if out is None:
                    out = np.empty((n,) + block.shape[1:], dtype=block.dtype)
                out[pos:pos + hi - lo] = block
                pos += hi - lo
                bar.update(hi - lo)
    if out is None:  # empty array: still honour the converted dtype
        empty = np.zeros((0,) + tuple(array.shape[1:]), dtype=array.dtype)
        out = convert(empty) if convert is not None else empty
    return out


def _step_bytes(array: Any) -> int:
    return max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * np.dtype(array.dtype).itemsize)


def _block_steps(chunk: int, array: Any) -> int:
    """Whole chunks of about 8 MB per read or write: zarr codes several concurrently."""
    return chunk * max(1, 8_000_000 // max(1, chunk * _step_bytes(array)))


def _worth_a_bar(array: Any) -> bool:
    return int(array.shape[0]) * _step_bytes(array) >= _PROGRESS_MIN_BYTES


class EpisodeIndex:
    """Episode boundaries of a dataset (cumulative ends, the paper's meta/episode_ends);
    shared by the zarr ReplayBuffer and the LeRobot store, which set _episode_ends."""

    _episode_ends: np.ndarray

    @property
    def episode_ends(self) -> np.ndarray:
        return self._episode_ends

    @property
    def n_episodes(self) -> int:
        return len(self._episode_ends)

    @property
    def n_steps(self) -> int:
        return int(self._episode_ends[-1]) if len(self._episode_ends) else 0

    @property
    def episode_lengths(self) -> np.ndarray:
        return np.diff(self._episode_ends, prepend=0)

    def step_ranges(self, episodes: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
        """The (start, stop) steps of the sorted `episodes`, neighbours merged into one range:
        what read_array(ranges=...) reads for them."""
        ends = self._episode_ends
        out: list[tuple[int, int]] = []
        for e in episodes:
            start, stop = (int(ends[e - 1]) if e > 0 else 0), int(ends[e])
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], stop)
            elif stop > start:
                out.append((start, stop))
        return out

    def episode_slice(self, idx: int) -> slice:
        n = self.n_episodes
        if not -n <= idx < n:
            raise IndexError(f'episode index {idx} out of range for {n} episodes')
        idx %= n
        start = int(self._episode_ends[idx - 1]) if idx > 0 else 0
        return slice(start, int(self._episode_ends[idx]))


class ReplayBuffer(EpisodeIndex):
    """Episodes of time-aligned arrays; see the module docstring for the storage layout."""

    def __init__(self, data: dict[str, Any], episode_ends: np.ndarray,
                 group: zarr.Group | None = None, location: str = '<memory>') -> None:
        """Use open/create/copy_to_memory/from_arrays; this only wires checked parts."""
        self._data = data
        self._episode_ends = np.asarray(episode_ends, dtype=np.int64)
        self._group = group
        self.location = location
        self._bases: dict[str, np.ndarray] = {}  # spare-capacity arrays of in-memory appends

    # ---------------------------------------------------------------- constructors
    @classmethod
    def open(cls, path_or_url: PathOrUrl, mode: str = 'r') -> ReplayBuffer:
        """Open an existing store; mode 'r' (read-only) or 'r+'/'a' (append episodes)."""
        if mode not in ('r', 'r+', 'a'):
            raise ValueError(f"mode must be 'r', 'r+' or 'a' for an existing store, got {mode!r}")
        location = store_location(path_or_url)
        try:
            group = zarr.open_group(location, mode='r' if mode == 'r' else 'r+')
        except (FileNotFoundError, zarr.errors.NodeNotFoundError) as exc:
            raise FileNotFoundError(
                f'no zarr replay buffer at {path_or_url}: {exc}') from exc
        data, episode_ends = _validated_layout(group, str(path_or_url))
        return cls(data, episode_ends, group=group, location=str(path_or_url))

    @classmethod
    def create(cls, path_or_url: PathOrUrl, *, overwrite: bool = False) -> ReplayBuffer:
        """Create an empty store in the paper's layout (zarr format 2)."""
        location = store_location(path_or_url)
        try:
            group = zarr.open_group(location, mode='w' if overwrite else 'w-', zarr_format=2)
        except FileExistsError as exc:
            raise FileExistsError(
                f'{path_or_url} already exists; pass overwrite=True to replace it') from exc
        group.require_group('data')
        meta = group.require_group('meta')
        meta.create_array('episode_ends', shape=(0,), dtype=np.int64, chunks=(1024,),
                          compressors=DEFAULT_COMPRESSOR)
        return cls({}, np.zeros(0, dtype=np.int64), group=group, location=str(path_or_url))

    @classmethod
    def create_in_memory(cls) -> ReplayBuffer:
        """An empty numpy-backed buffer (build episodes, then save_to)."""
        return cls({}, np.zeros(0, dtype=np.int64))

    @classmethod
    def from_arrays(cls, data: Mapping[str, np.ndarray],
                    episode_ends: np.ndarray) -> ReplayBuffer:
        """A numpy-backed buffer around existing arrays (not copied), layout checked."""
        ends = np.asarray(episode_ends)
        _check_episode_ends(ends, '<memory>')
        n_steps = int(ends[-1]) if len(ends) else 0
        for key, value in data.items():
            check_key(key)
            if np.ndim(value) < 1 or len(value) != n_steps:
                raise ValueError(f'array {key!r} has shape {np.shape(value)}, '
                                 f'expected {n_steps} steps (episode_ends[-1])')
        return cls({k: np.asarray(v) for k, v in data.items()}, ends.astype(np.int64))

    @classmethod
    def copy_to_memory(cls, path_or_url: PathOrUrl, keys: list[str] | None = None,
                       progress: bool | None = None) -> ReplayBuffer:
        """Load a store (or some of its keys) into numpy arrays for fast training access."""
        source = cls.open(path_or_url, mode='r')
        keys = list(source.keys()) if keys is None else list(keys)
        missing = [k for k in keys if k not in source.data]
        if missing:
            raise KeyError(f'{path_or_url} has no data/{missing[0]} '
                           f'(available: {sorted(source.data)})')
        data = {k: read_array(source.data[k], desc=f'loading {k}', progress=progress)
                for k in keys}
        return cls(data, source.episode_ends.copy(), location=f'{path_or_url} (in memory)')

    # ---------------------------------------------------------------- properties
    @property
    def data(self) -> Mapping[str, Any]:
        """key -> array (zarr.Array for store-backed buffers, np.ndarray in memory)."""
        return MappingProxyType(self._data)

    @property
    def backend(self) -> str:
        return 'numpy' if self._group is None else 'zarr'

    def keys(self) -> list[str]:
        return list(self._data)

    def attrs(self, key: str) -> dict[str, Any]:
        """What data/key records beside its values (camera_crop, names); {} in memory."""
        return dict(getattr(self._data[key], 'attrs', {}))

    def root_attrs(self) -> dict[str, Any]:
        """What the store records beside its arrays (a recording rate: fps or
        control_period_s, when a writer set one); {} in memory."""
        return {} if self._group is None else dict(self._group.attrs)

    def set_root_attrs(self, **values: Any) -> None:
        """Record values beside the arrays (bag2zarr's control_period_s)."""
        if self._group is None:
            raise ValueError('an in-memory replay buffer records no attributes')
        self._group.attrs.update(values)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        shapes = ', '.join(f'{k}: {tuple(v.shape)} {v.dtype}' for k, v in self._data.items())
        return (f'ReplayBuffer({self.location}, {self.backend}, {self.n_episodes} episodes, '
                f'{self.n_steps} steps, {{{shapes}}})')

    # ---------------------------------------------------------------- access
    def get_episode(self, idx: int, keys: list[str] | None = None) -> dict[str, np.ndarray]:
        """One episode's arrays (views for in-memory buffers: copy before modifying)."""
        sl = self.episode_slice(idx)
        keys = self.keys() if keys is None else keys
        return {k: np.asarray(self._data[k][sl]) for k in keys}

    # ---------------------------------------------------------------- writing
    def add_episode(self, episode: Mapping[str, np.ndarray],
                    chunk_length: int | None = None) -> None:
        """Append one episode; keys appear on the first add and must stay the same after.

        chunk_length sets the time chunk of arrays created by this call (default about
        2 MB per chunk, as the paper's writer).
        """
        if self._group is not None and self._group.read_only:
            raise PermissionError(f"{self.location} is open read-only; use "
                                  f"ReplayBuffer.open(..., mode='r+') to append episodes")
        arrays = {check_key(k): np.asarray(v) for k, v in episode.items()}
        length = episode_steps(arrays, 'episode')
        if self._data:
            expected, given = set(self._data), set(arrays)
            if expected != given:
                raise ValueError(f'episode keys {sorted(given)} differ from the buffer keys '
                                 f'{sorted(expected)} (missing {sorted(expected - given)}, '
                                 f'extra {sorted(given - expected)})')
            for key, value in arrays.items():
                have = self._data[key]
                if value.shape[1:] != tuple(have.shape[1:]):
                    raise ValueError(f'episode array {key!r} has step shape {value.shape[1:]}, '
                                     f'buffer has {tuple(have.shape[1:])}')
                if not np.can_cast(value.dtype, have.dtype, casting='same_kind'):
                    raise ValueError(f'episode array {key!r} has dtype {value.dtype}, '
                                     f'buffer has {have.dtype}')
        elif chunk_length is not None and chunk_length < 1:
            raise ValueError(f'chunk_length must be >= 1, got {chunk_length}')

        old_n = self.n_steps
        new_n = old_n + length
        for key, value in arrays.items():
            if self._group is None:
                self._data[key], self._bases[key] = _append_in_memory(
                    self._data.get(key), self._bases.get(key), value, new_n)
                continue
            if key not in self._data:
                cl = chunk_length or time_chunk_length(value.shape[1:], value.dtype)
                self._data[key] = self._group['data'].create_array(
                    key, shape=(0,) + value.shape[1:], dtype=value.dtype,
                    chunks=(cl,) + value.shape[1:], compressors=DEFAULT_COMPRESSOR)
            arr = self._data[key]
            arr.resize((new_n,) + tuple(arr.shape[1:]))
            arr[old_n:new_n] = value
        self._episode_ends = np.append(self._episode_ends, np.int64(new_n))
        if self._group is not None:
            ends = self._group['meta/episode_ends']
            ends.resize((self.n_episodes,))
            ends[-1] = new_n

    def write_array(self, key: str, shape: tuple[int, ...], dtype: Any,
                    blocks: Iterable[np.ndarray], *, progress: bool = False) -> None:
        """Create data/key of `shape` in this (store-backed) buffer and fill it from `blocks`,
        consecutive time slices (an episode each, say) that cover it: written as save_to
        writes an array (the same chunks, each compressed once), while only about one write
        block is held in memory, not the array. set_episode_ends finishes the store."""
        if self._group is None:
            raise ValueError('write_array writes into a store; an in-memory buffer takes '
                             'add_episode')
        check_key(key)
        step_shape = tuple(shape[1:])
        cl = time_chunk_length(step_shape, np.dtype(dtype))
        dst = self._group['data'].create_array(key, shape=tuple(shape), dtype=dtype,
                                               chunks=(cl,) + step_shape,
                                               compressors=DEFAULT_COMPRESSOR)
        n, block = int(shape[0]), _block_steps(cl, dst)
        pending: list[np.ndarray] = []
        held = start = 0
        with tqdm(total=n, desc=f'writing {key}', unit='step', disable=not progress,
                  leave=False) as bar:
            for values in blocks:
                pending.append(np.asarray(values))
                held += len(values)
                while held >= block or (held and start + held == n):
                    data = pending[0] if len(pending) == 1 else np.concatenate(pending)
                    stop = start + min(held, block)
                    if stop > n:
                        raise ValueError(f'data/{key}: the blocks hold more than {n} steps')
                    dst[start:stop] = data[:stop - start]
                    pending = [data[stop - start:]] if stop - start < len(data) else []
                    held -= stop - start
                    bar.update(stop - start)
                    start = stop
        if start + held != n:
            raise ValueError(f'data/{key}: the blocks hold {start + held} steps, not {n}')
        self._data[key] = dst

    def set_episode_ends(self, episode_ends: np.ndarray) -> None:
        """The store's meta/episode_ends, once write_array has written every array in full."""
        ends = np.asarray(episode_ends, dtype=np.int64)
        _check_episode_ends(ends, self.location)
        check_no_empty_episodes(ends, self.location)
        n_steps = int(ends[-1]) if len(ends) else 0
        for key, value in self._data.items():
            if value.shape[0] != n_steps:
                raise ValueError(f'array {key!r} has shape {tuple(value.shape)}, '
                                 f'expected {n_steps} steps (episode_ends[-1])')
        meta = self._group['meta/episode_ends']
        meta.resize((len(ends),))
        if len(ends):
            meta[:] = ends
        self._episode_ends = ends

    def _reads_from(self, path_or_url: PathOrUrl) -> bool:
        """Whether `path_or_url` is the store this buffer's arrays are read from (one path
        through links, '..' or a file:// URL alike; a remote URL: the same text)."""
        if self._group is None:
            return False
        root = getattr(self._group.store, 'root', None)  # a LocalStore's folder
        target = store_location(path_or_url)
        if root is None or '://' in target:
            return target == store_location(self.location)
        try:
            return Path(target).resolve() == Path(root).resolve()
        except (OSError, RuntimeError):  # a link loop (RuntimeError before Python 3.13):
            return False  # not this buffer's folder, which resolved

    def save_to(self, path_or_url: PathOrUrl, *, overwrite: bool = False,
                chunk_lengths: Mapping[str, int] | None = None,
                progress: bool | None = None) -> None:
        """Write this buffer as a new store in the paper's layout (blosc/zstd, time chunks).

        Store-backed arrays keep their time chunk unless chunk_lengths names one.
        progress: None shows a bar for large arrays only, False never.
        """
        chunk_lengths = dict(chunk_lengths or {})
        if self._reads_from(path_or_url):  # create() would empty it before it is read
            raise ValueError(f'save_to {path_or_url}: that is the store this buffer reads '
                             'from; save to another path (and move it over this one after)')
        check_no_empty_episodes(self._episode_ends, f'save_to {path_or_url}')
        out = ReplayBuffer.create(path_or_url, overwrite=overwrite)
        data_group = out._group['data']
        for key, src in self._data.items():
            step_shape = tuple(src.shape[1:])
            cl = chunk_lengths.get(key)
            if cl is None:
                src_chunks = getattr(src, 'chunks', None)
                cl = src_chunks[0] if src_chunks else time_chunk_length(step_shape, src.dtype)
            dst = data_group.create_array(key, shape=tuple(src.shape), dtype=src.dtype,
                                          chunks=(cl,) + step_shape,
                                          compressors=DEFAULT_COMPRESSOR)
            n = src.shape[0]
            block = _block_steps(cl, src)
            show = _worth_a_bar(src) if progress is None else progress
            with tqdm(total=n, desc=f'writing {key}', unit='step', disable=not show,
                      leave=False) as bar:
                for start in range(0, n, block):
                    stop = min(n, start + block)
                    dst[start:stop] = np.asarray(src[start:stop])
                    bar.update(stop - start)
        ends = out._group['meta/episode_ends']
        ends.resize((self.n_episodes,))
        if self.n_episodes:
            ends[:] = self._episode_ends


def _append_in_memory(have: np.ndarray | None, base: np.ndarray | None, value: np.ndarray,
                      new_n: int) -> tuple[np.ndarray, np.ndarray]:
    """(have + value, its backing array): appends into spare capacity, amortised O(1).

    base is the array this buffer allocated earlier (None if it never did); arrays handed
    in by callers are never written past their end.
    """
    old_n = 0 if have is None else len(have)
    if have is None or base is None or have.base is not base or len(base) < new_n:
        template = value if have is None else have
        grown = np.empty((max(new_n, 2 * old_n),) + template.shape[1:], dtype=template.dtype)
        if have is not None:
            grown[:old_n] = have
        base = grown
    base[old_n:new_n] = value
    return base[:new_n], base


def check_key(key: Any) -> str:
    """`key` when zarr stores it as the one array data/<key>: a non-empty name without '/'
    (zarr takes 'a/b' as a nested group, a store that then does not open), not '.' or '..'
    and without a NUL byte. ValueError naming it otherwise."""
    if not isinstance(key, str) or not key or '/' in key or '\0' in key or not key.strip('.'):
        raise ValueError(f'array key {key!r} cannot name a data/ array of the store: a key is '
                         "a non-empty name without '/' (not '.' or '..')")
    return key


def _check_episode_ends(ends: np.ndarray, where: str) -> None:
    if ends.ndim != 1 or not np.issubdtype(ends.dtype, np.integer):
        raise NotAReplayBufferError(
            f'{where}: meta/episode_ends must be a 1-D integer array, '
            f'got shape {ends.shape} dtype {ends.dtype}')
    if len(ends) and (ends[0] < 0 or np.any(np.diff(ends) < 0)):
        raise NotAReplayBufferError(
            f'{where}: meta/episode_ends must be non-negative and non-decreasing, '
            f'got {ends[:10]}...')


def episode_steps(episode: Mapping[str, Any], where: str,
                  error: type[Exception] = ValueError) -> int:
    """An episode's step count: its arrays share one time axis of at least one step (a
    writer lays them out by one array's length)."""
    if not episode:
        raise error(f'{where} has no arrays')
    lengths = {k: (len(v) if np.ndim(v) else None) for k, v in episode.items()}
    if None in lengths.values() or len(set(lengths.values())) != 1:
        raise error(f'{where}: its arrays must share their first (time) axis, got lengths '
                    f'{lengths}')
    steps = next(iter(lengths.values()))
    if steps == 0:
        raise error(f'{where} has zero steps; a store holds episodes of at least one step')
    return steps


def check_no_empty_episodes(ends: np.ndarray, where: str, error: type[Exception] = ValueError,
                            remedy: str = 'a store holds episodes of at least one step') -> None:
    """Refuse an episode of no steps (episode_ends repeating a value): open refuses more
    episodes than steps, a LeRobot episode has at least one frame, and dropping one would
    renumber the episodes after it (their tasks with them)."""
    lengths = np.diff(np.asarray(ends, dtype=np.int64), prepend=0)
    empty = np.flatnonzero(lengths <= 0)
    if len(empty):
        e = int(empty[0])
        raise error(f'{where}: episode {e} is empty (its end in episode_ends, {int(ends[e])}, '
                    f'is where it starts; {len(empty)} of {len(lengths)} episodes): {remedy}')


# what zarr raises for array metadata it cannot read: a .zarray cut short (JSONDecodeError), a
# compressor this machine lacks (numcodecs' UnknownCodecError), a dtype it will not read
# (object + pickle: 'No Zarr data type found'), a field missing or of the wrong type
_UNREADABLE_METADATA = (ValueError, TypeError, KeyError)


def _member(group: zarr.Group, path: str, where: str) -> Any:
    """group[path] (None: absent), or a NotAReplayBufferError naming it when zarr cannot read
    its metadata."""
    try:
        return group[path]
    except KeyError:  # zarr's NodeNotFoundError is one
        return None
    except _UNREADABLE_METADATA as exc:
        raise NotAReplayBufferError(
            f'{where}: {path} has metadata zarr cannot read ({type(exc).__name__}: '
            f'{one_line(exc)[:200]})') from None


def _data_arrays(group: zarr.Group, where: str) -> dict[str, Any]:
    """The arrays of data/, or a NotAReplayBufferError naming the first zarr cannot read:
    listing them reads every array's metadata, so a failure is traced to its array here."""
    data = group['data']
    try:
        return dict(data.arrays())
    except _UNREADABLE_METADATA:
        pass
    store_path = data.store_path

    async def names() -> list[str]:
        return [k async for k in store_path.store.list_dir(f'{store_path.path}/')]

    for name in sorted(sync(names())):
        if not name.startswith('.'):
            _member(group, f'data/{name}', where)
    raise NotAReplayBufferError(f'{where}: data/ holds metadata zarr cannot read')


def _stored_chunks(array: zarr.Array) -> int:
    """How many chunk (or shard) keys of an array its store holds: the values it can have
    beyond its fill value, whatever its metadata's shape claims."""
    store_path = array.store_path

    async def count() -> int:
        n = 0
        async for key in store_path.store.list_prefix(f'{store_path.path}/'):
            name = key.rsplit('/', 1)[-1]
            n += not name.startswith('.') and name != 'zarr.json'
        return n

    return sync(count())


# a store that lists no key (an HTTP store without directory listing) is asked for its chunk
# keys one by one, at most this many
MAX_CHUNKS_ASKED = 100_000


def _backed_length(array: zarr.Array) -> tuple[int, int, int]:
    """(how many leading values of a 1-D array its stored chunks can hold, chunks found, values
    per chunk): the chunk keys listed, or, where the store lists none (HTTP without a
    directory listing), each chunk key asked for in turn up to the first missing one, so that
    a claimed length is never taken without the chunks behind it."""
    step = int((getattr(array, 'shards', None) or array.chunks)[0])
    listed = _stored_chunks(array)
    if listed:
        return listed * step, listed, step
    store_path = array.store_path
    needed = min(-(-int(array.shape[0]) // step), MAX_CHUNKS_ASKED)
    found = 0
    for i in range(needed):
        key = f'{store_path.path}/{array.metadata.encode_chunk_key((i,))}'
        if not sync(store_path.store.exists(key)):
            break
        found += 1
    return found * step, found, step


def _validated_layout(group: zarr.Group, where: str) -> tuple[dict[str, Any], np.ndarray]:
    """The data arrays and episode ends of a group, or a NotAReplayBufferError saying why.

    The arrays' metadata are checked before any value is read: a .zarray claiming 10**15
    episode ends with no chunk behind it would otherwise be allocated (petabytes of the
    fill value) before any check; the data arrays' shapes are claims as unbacked, so the
    ends are bounded by the chunks actually stored too."""
    if not isinstance(_member(group, 'data', where), zarr.Group):
        raise NotAReplayBufferError(f'{where} is not a replay buffer: missing group data/')
    ends_array = _member(group, 'meta/episode_ends', where)
    if ends_array is None:
        raise NotAReplayBufferError(
            f'{where} is not a replay buffer: missing array meta/episode_ends')
    data = _data_arrays(group, where)
    if not isinstance(ends_array, zarr.Array) or ends_array.ndim != 1 \
            or not np.issubdtype(ends_array.dtype, np.integer):
        raise NotAReplayBufferError(
            f'{where}: meta/episode_ends must be a 1-D integer array, got shape '
            f'{getattr(ends_array, "shape", None)} dtype {getattr(ends_array, "dtype", None)}')
    # an episode holds at least one step: more ends than steps is a length no writer made
    n_frames = max((int(arr.shape[0]) for arr in data.values() if arr.ndim), default=0)
    if ends_array.shape[0] > n_frames:
        raise NotAReplayBufferError(
            f'{where}: meta/episode_ends claims {ends_array.shape[0]} episodes but the data '
            f'arrays hold {n_frames} steps')
    backed, stored, step = _backed_length(ends_array)
    if ends_array.shape[0] > backed:
        raise NotAReplayBufferError(
            f'{where}: meta/episode_ends claims {ends_array.shape[0]} episodes but only '
            f'{stored} of its chunks ({step} values each) are stored')
    ends = np.asarray(ends_array[:])
    _check_episode_ends(ends, where)
    n_steps = int(ends[-1]) if len(ends) else 0
    for key, arr in data.items():
        if arr.ndim < 1 or arr.shape[0] != n_steps:
            raise NotAReplayBufferError(
                f'{where}: data/{key} has shape {arr.shape} but meta/episode_ends says '
                f'{n_steps} steps')
    return dict(sorted(data.items())), ends.astype(np.int64)


def recorded_control_period(source: object) -> tuple[float, str] | None:
    """(seconds per step, where that comes from) as the store records it: a LeRobotDataset's
    fps (meta/info.json), a zarr store's control_period_s or fps attribute; None: unrecorded.
    `source`: an open store (open_training_store)."""
    attrs = source.root_attrs()
    for key, to_period in (('control_period_s', float), ('fps', lambda v: 1.0 / float(v))):
        value = attrs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value) and value > 0:
            return to_period(value), f'{key} {value:g}'
    return None
