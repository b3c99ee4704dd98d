"""Writing converted episodes into a zarr replay buffer, all at once or not at all.

Episodes are written into a temporary store beside the output (a copy of it when
appending), which replaces the output by an atomic rename at the very end: an error or
Ctrl-C before that leaves the output as it was.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dp_ros.atomic_dir import (
    naming,
    real_target,
    remove_killed_staging,
    replace_dir,
    staging_path,
)
from dp_ros.bags.reader import BagError
from dp_ros.errors import refused_copy
from training.replay_buffer import (
    DEFAULT_COMPRESSOR,
    ReplayBuffer,
    episode_steps,
    is_zarr_store,
    time_chunk_length,
)

_PROGRESS_MIN_BYTES = 64 * 2**20  # a smaller store is written without a progress bar
Step = tuple[tuple[int, ...], np.dtype]  # an episode array's step shape and dtype


def check_overwritable(output: Path, error: type[Exception]) -> None:
    """`--overwrite` replaces a dataset, never anything else: an existing output that is
    neither a zarr store nor a LeRobot dataset (nor an empty folder) is refused naming it,
    as the swap would delete what it holds (a file, another project's folder)."""
    output = real_target(output)
    if not (output.exists() or output.is_symlink()):
        return
    if output.is_dir():
        from training.lerobot_format import is_lerobot_dataset

        if is_zarr_store(output) or is_lerobot_dataset(output) or not any(output.iterdir()):
            return
        what = 'a folder that holds no dataset'
    else:
        what = 'a file, not a dataset'
    raise error(f'--overwrite: {output} is {what}; --overwrite replaces only a zarr store or a '
                'LeRobot dataset (it would delete what is there): give another output')


@contextmanager
def staged_store(output: Path, overwrite: bool) -> Iterator[tuple[Path, bool]]:
    """(temporary store path, appending): the caller fills it; it replaces output on success.

    The temporary store lives beside the output (same file system, so the swap is a rename)
    and is removed whatever happens before the swap; the copies killed writes left are
    removed first (call it with output_lock(output) held). An output that is a symlink (to a store
    on another disk) is staged beside, and replaced at, its destination: the link stays.
    """
    output = real_target(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_killed_staging(output)  # the caller holds output_lock(output)
    tmp = staging_path(output)  # a kill leaves it: the next write of output removes it
    if overwrite:
        check_overwritable(output, BagError)
    appending = output.exists() and not overwrite
    try:
        if appending:
            ReplayBuffer.open(output, mode='r')  # refuse anything that is not a replay buffer
            try:  # each folder's links refused as the copy lists it: one walk of the store
                shutil.copytree(output, tmp, symlinks=True, ignore=links_refused(output))
            except shutil.Error as exc:  # one entry per file: a traceback listing every chunk
                refused = refused_copy(exc)
                if refused is None:
                    raise
                raise BagError(f'cannot append to {output}: {refused.strerror} while copying '
                               'it (an append writes into a copy beside it, so the store '
                               f'needs its size free again); {output} is as it was') from None
        with naming(output, tmp):  # a zarr chunk's write() error names no file
            yield tmp, appending
        replace_dir(tmp, output)
    finally:
        remove_tree(tmp)


def links_refused(store: Path) -> Callable[[str, list[str]], list[str]]:
    """copytree's `ignore` for a copy of `store` that ignores nothing and raises BagError
    where a member is a symbolic link (an array moved to another disk and linked back): the
    staged copy would hold the link, not a copy, so the append would write through it into
    the store itself before the swap, and a failure would leave the store's array longer
    than its episodes say."""
    def refuse(folder: str, names: list[str]) -> list[str]:
        for name in names:
            member = Path(folder) / name
            if member.is_symlink():
                raise BagError(
                    f'cannot append to {store}: {member.relative_to(store)} is a symbolic link '
                    f'(to {os.readlink(member)}), which an append would write through before '
                    'it is done; copy what it links to into the store, or write a new store '
                    f'(a link to the whole store is fine); {store} is as it was')
        return []
    return refuse


def _fast_chunk_writes():
    """zarr writes every chunk without first checking whether it holds only the fill value
    (a full extra pass over the data: a fifth of the write time of a Push-T store). Reading
    gives the same arrays either way: a chunk that is absent reads as the fill value."""
    import zarr

    return zarr.config.set({'array.write_empty_chunks': True})


def drain_zarr_io(timeout: float = 30.0) -> None:
    """Wait until zarr's I/O loop has finished what it was doing: Ctrl-C stops the main
    thread's wait for a chunk write, not the write itself, which would otherwise put files
    back into a staging folder just removed."""
    import asyncio
    import concurrent.futures

    sync = sys.modules.get('zarr.core.sync')  # not loaded: nothing written through zarr
    loop = None if sync is None else sync.loop[0]
    if loop is None or loop.is_closed() or not loop.is_running():
        return

    async def others() -> None:
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
    try:
        asyncio.run_coroutine_threadsafe(others(), loop).result(timeout + 1.0)
    except (concurrent.futures.TimeoutError, RuntimeError):  # a stuck write, a closed loop
        pass


def remove_tree(path: Path, attempts: int = 20) -> None:
    """Remove a temporary store once zarr's pending writes into it ended (drain_zarr_io), a
    few times over if a write still lands."""
    if not path.exists():
        return
    drain_zarr_io()
    for _ in range(attempts):
        if not path.exists():
            return
        shutil.rmtree(path, ignore_errors=True)
        time.sleep(0.05)


class EpisodeWriter:
    """Episodes into the (staged) store at `path`, held in memory until flushed.

    A fresh store is written in one pass (ReplayBuffer.save_to: every chunk compressed once,
    about twice as fast as appending episode by episode, which rewrites the chunk an episode
    ends in); appends, and batches beyond the memory limit, go episode by episode. Appended
    episodes take the existing store's dtypes; keys and step shapes must agree with it (in a
    new store: with its first episode's), else a BagError says which key and how to fix it.
    """

    def __init__(self, path: Path, appending: bool, output: Path, limit_bytes: int,
                 progress: bool = True, dtypes: Mapping[str, np.dtype] | None = None) -> None:
        """dtypes: what a fresh store holds per key (episodes may bring images as uint8
        frames: converted chunk by chunk as they are compressed); default: as given."""
        self.path = path
        self.output = output  # named in errors: the user's path, not the temporary one
        self.limit_bytes = limit_bytes
        self.progress = progress
        self.fresh_dtypes = {k: np.dtype(v) for k, v in (dtypes or {}).items()}
        self.store = ReplayBuffer.open(path, mode='r+') if appending else None
        # a store without episodes takes the first episode's step shapes and dtypes
        self.first: dict[str, Step] | None = (
            None if self.store is not None and self.store.n_episodes else {})
        self.first_source = ''
        self.pending: list[dict[str, np.ndarray]] = []
        self.pending_bytes = 0
        self.episodes_added = 0
        self.steps_added = 0

    @property
    def dtypes(self) -> dict[str, np.dtype] | None:
        """The store's dtypes once it has arrays (what new episodes are converted to)."""
        if self.store is None:
            return None
        return {k: np.dtype(v.dtype) for k, v in self.store.data.items()}

    def check_keys(self, keys: Iterable[str]) -> None:
        """Appending needs the keys the store already has."""
        if self.store is None or self.store.n_episodes == 0:
            return
        have, want = set(self.store.keys()), set(keys)
        if have != want:
            raise BagError(f'cannot append to {self.output}: it holds keys {sorted(have)}, the '
                           f'config makes {sorted(want)}')

    def add(self, episode: dict[str, np.ndarray], source: str | None = None) -> None:
        """Queue one episode; `source` (its bag) is named when its shapes do not fit."""
        where = f'episode {self.episodes_added + 1}' + (f' (bag {source})' if source else '')
        steps = episode_steps(episode, where, BagError)
        if self.first is not None:
            self._match_first(episode, source, where)
        if self.store is not None:
            episode = self._match_store(episode)
        self.pending.append(episode)
        self.pending_bytes += sum(v.nbytes for v in episode.values())
        self.episodes_added += 1
        self.steps_added += steps
        if self.pending_bytes >= self.limit_bytes:
            self.flush()

    def flush(self) -> ReplayBuffer | None:
        """Write what is pending; returns the store (None while nothing was written)."""
        episodes, self.pending, self.pending_bytes = self.pending, [], 0
        if not episodes:
            return self.store
        if self.store is None:
            write_fresh_store(self.path, episodes, self.fresh_dtypes, progress=self.progress)
            episodes.clear()
            self.store = ReplayBuffer.open(self.path, mode='r+')
            return self.store
        with _fast_chunk_writes():
            for episode in episodes:
                self.store.add_episode(episode)
        return self.store

    def _match_first(self, episode: dict[str, np.ndarray], source: str | None,
                     where: str) -> None:
        """Every episode of a new store has the first one's step shapes and dtypes: the bags
        may differ (a camera recorded at two resolutions), and the writer could not stack
        them (a bare numpy error from a writer thread)."""
        given = {k: (tuple(v.shape[1:]), v.dtype) for k, v in episode.items()}
        if not self.first:
            self.first, self.first_source = given, f' (bag {source})' if source else ''
            return
        first = f'the first episode{self.first_source}'
        if set(given) != set(self.first):
            raise BagError(f'{where} has keys {sorted(given)}, {first} {sorted(self.first)}')
        for key, step in given.items():
            if step != self.first[key]:
                want = self.first[key]
                raise BagError(f'data/{key}: {where} has steps of {_step_text(step, want)}, '
                               f'{first} of {_step_text(want, step)}; '
                               + _step_remedy(key, step, want))

    def _match_store(self, episode: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Episodes take the existing store's dtypes; shapes must agree."""
        if self.store.n_episodes == 0:
            return {k: v.astype(self.fresh_dtypes.get(k, v.dtype), copy=False)
                    for k, v in episode.items()}
        out = {}
        for key, value in episode.items():
            arr = self.store.data[key]
            if tuple(arr.shape[1:]) != value.shape[1:]:
                raise BagError(f'cannot append to {self.output}: data/{key} has step shape '
                               f'{tuple(arr.shape[1:])}, the bags give {value.shape[1:]}')
            out[key] = value.astype(arr.dtype, copy=False)
        return out


def _step_text(step: Step, other: Step) -> str:
    """'shape (6, 10, 3)', with the dtype when that is what differs."""
    return f'shape {step[0]}' + (f' {step[1]}' if step[1] != other[1] else '')


def _step_remedy(key: str, step: Step, want: Step) -> str:
    """Frames of two sizes (bags recorded at two camera resolutions) are brought to one by
    the image source's shape; other keys' widths come from the config alone."""
    if len(step[0]) == 3 and step[0] != want[0]:
        return (f"the bags' images differ in size; give key {key!r} a `shape: [height, "
                'width]` in the config, which resizes every frame to it')
    return 'all episodes of a store need one step shape and dtype'


def write_fresh_store(path: Path, episodes: Sequence[dict[str, np.ndarray]],
                      dtypes: Mapping[str, np.dtype] | None = None,
                      workers: int | None = None, progress: bool = False) -> None:
    """A new replay buffer at `path` (a local directory) holding `episodes`, in the layout
    ReplayBuffer.save_to writes (zarr format 2, time chunks of about 2 MB, blosc/zstd).

    Each chunk is assembled from the episodes' arrays (converted to `dtypes`: uint8 frames
    become float32 here, a chunk at a time, never the whole set at once), compressed on a
    thread pool (blosc releases the GIL) and written as the file zarr would write for it;
    no concatenated copy of the data is made. About twice as fast as save_to on two cores.
    """
    import zarr

    dtypes = dict(dtypes or {})
    if not episodes:
        raise BagError(f'{path}: no episodes to write')
    steps = [episode_steps(e, f'{path}: episode {i}', BagError) for i, e in enumerate(episodes)]
    ends = np.cumsum(steps, dtype=np.int64)
    n = int(ends[-1])
    ReplayBuffer.create(path)
    group = zarr.open_group(str(path), mode='r+', zarr_format=2)
    jobs = []
    for key in episodes[0]:
        parts = [e[key] for e in episodes]
        step_shape = tuple(parts[0].shape[1:])
        dtype = np.dtype(dtypes.get(key, parts[0].dtype))
        chunk = time_chunk_length(step_shape, dtype)
        array = group['data'].create_array(key, shape=(n,) + step_shape, dtype=dtype,
                                           chunks=(chunk,) + step_shape,
                                           compressors=DEFAULT_COMPRESSOR)
        folder = Path(str(path)) / 'data' / key
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])])
        zeros = (0,) * len(step_shape)
        for index, start in enumerate(range(0, n, chunk)):
            name = array.metadata.encode_chunk_key((index, *zeros))
            jobs.append((folder / name, parts, offsets, start, min(n, start + chunk), chunk,
                         dtype))
    workers = workers or min(4, os.cpu_count() or 1)
    total = sum(np.dtype(j[6]).itemsize * (j[4] - j[3]) * int(np.prod(j[1][0].shape[1:]))
                for j in jobs)
    pool = ThreadPoolExecutor(workers, thread_name_prefix='zarr_chunks')
    try:
        with tqdm(total=len(jobs), desc=f'writing {path.name}', unit='chunk', leave=False,
                  disable=not progress or total < _PROGRESS_MIN_BYTES) as bar:
            for _ in pool.map(_write_chunk, jobs):
                bar.update()
    finally:  # Ctrl-C: the chunks not started are not written
        pool.shutdown(wait=True, cancel_futures=True)
    meta = group['meta/episode_ends']
    meta.resize((len(ends),))
    if len(ends):
        meta[:] = ends


def _write_chunk(job: tuple) -> None:
    """One time chunk [start, stop) of a key: gathered, converted, compressed, written.

    zarr format 2 stores an edge chunk at full size, the steps past the end holding the
    fill value (0)."""
    file, parts, offsets, start, stop, length, dtype = job
    block = np.zeros((length,) + parts[0].shape[1:], dtype=dtype)
    i = int(np.searchsorted(offsets, start, side='right')) - 1
    pos = start
    while pos < stop:
        lo = pos - int(offsets[i])
        hi = min(len(parts[i]), stop - int(offsets[i]))
        block[pos - start:pos - start + hi - lo] = parts[i][lo:hi]
        pos += hi - lo
        i += 1
    file.write_bytes(DEFAULT_COMPRESSOR.encode(block))
