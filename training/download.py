"""`dp-ros download-pusht`: fetch the paper's Push-T demonstrations and unpack them safely.

The archive is downloaded and unpacked inside a temporary directory next to the
destination and moved into place with one rename once it has been verified, so an
interrupted or failed run leaves nothing behind (the folders it made for --dest are removed
again when empty; what another command put there stays). A second download into the same
--dest while one runs is refused in one line (dp_ros.atomic_dir.output_lock).
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import shutil
import sys
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from tqdm.auto import tqdm

from dp_ros.atomic_dir import (
    first_existing,
    free_disk,
    output_lock,
    remove_all,
    remove_killed_staging,
    replace_dir,
    staging_dir,
)
from dp_ros.errors import UserError
from training.replay_buffer import ReplayBuffer

DEFAULT_URL = 'https://diffusion-policy.cs.columbia.edu/data/training/pusht.zip'
TOP_DIR = 'pusht'
STORE = f'{TOP_DIR}/pusht_cchi_v7_replay.zarr'
# where every default reader looks (training/config.py DEFAULT_ZARR, replay, arm-record):
# ../shared/datasets/pusht/pusht_cchi_v7_replay.zarr
DEFAULT_DEST = Path('../shared/datasets')
PUSHT_KEYS = ('img', 'state', 'action')  # what the shipped configs and the sim's replay read
_BLOCK = 1 << 20
# the folder a run fetches and unpacks in, inside --dest (atomic_dir.staging_dir's form), and
# what older versions named it (without the pid): a killed run's, removed by the next
_TMP_PREFIX = f'.{TOP_DIR}.tmp-'
_OLD_TMP_PREFIX = f'.{TOP_DIR}-download-'


class DownloadError(UserError, RuntimeError):
    """Anything that makes the download unusable; the message says what and where."""


def fetch(url: str, dest: Path, progress: bool = True, unpacked_beside: bool = False) -> str:
    """Copy url (https://, http://, file:// or a local path) to dest; return its sha256.
    `unpacked_beside`: the archive is unpacked beside itself before it is removed, so the
    free disk must hold it twice (the unpacking about as large again: its zarr chunks are
    compressed already), checked before the download, not after it."""
    digest = hashlib.sha256()
    parsed = urlparse(url)
    if parsed.scheme in ('', 'file'):
        if parsed.netloc not in ('', 'localhost'):  # was read as a local path, host dropped
            raise DownloadError(f'{url}: a file:// URL on another host ({parsed.netloc}) is not '
                                'supported; mount it and give the local path')
        path = Path(unquote(parsed.path) if parsed.scheme == 'file' else url).expanduser()
        if path.is_dir():
            raise DownloadError(f'{path} is a directory, not a zip archive: give the archive '
                                f"in it (--url {url.rstrip('/')}/pusht.zip, say)")
        if not path.is_file():
            raise DownloadError(f'no such file: {path}')
        source, total = path.open('rb'), path.stat().st_size
    else:
        try:
            response = urllib.request.urlopen(url, timeout=60)  # noqa: S310 (user-given URL)
        except OSError as exc:
            raise DownloadError(f'cannot download {url}: {exc}') from exc
        length = response.headers.get('Content-Length')
        source, total = response, int(length) if length and length.isdigit() else None
    if total is not None:
        try:
            check_space(2 * total if unpacked_beside else total, dest.parent,
                        f'downloading {url}' + (' and unpacking it beside itself'
                                                if unpacked_beside else ''))
        except DownloadError:
            source.close()
            raise
    with source, dest.open('wb') as out, tqdm(total=total, unit='B', unit_scale=True,
                                              unit_divisor=1024, desc=Path(parsed.path).name,
                                              disable=not progress) as bar:
        try:
            while block := source.read(_BLOCK):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
        except (OSError, http.client.HTTPException) as exc:  # IncompleteRead: cut off
            raise DownloadError(f'download of {url} failed: {exc}') from exc
    if total is not None and dest.stat().st_size != total:
        raise DownloadError(f'download of {url} is truncated: got {dest.stat().st_size} of '
                            f'{total} bytes')
    return digest.hexdigest()


def check_space(needed: int, where: Path, doing: str) -> None:
    """DownloadError before `doing` writes `needed` bytes where the file system holds
    fewer (a zip declares its members' sizes; a server its Content-Length): one line up
    front, not an OSError minutes in."""
    free = free_disk(where)
    if free is not None and needed > free:
        shown = first_existing(where)  # the --dest folder, not the temporary one inside it
        if shown.name.startswith(_TMP_PREFIX):
            shown = shown.parent
        raise DownloadError(f'{doing} needs {needed / 2**20:,.0f} MiB and {shown} has '
                            f'{free / 2**20:,.0f} MiB free: free some space or give another '
                            f'--dest')


def unpack(archive: Path, into: Path, progress: bool = True, name: str | None = None) -> Path:
    """Extract the archive's pusht/ tree into `into` after checking it; return into/pusht.
    `name`: what the errors call the archive (the URL or path the user gave; default its
    file name)."""
    name = name or archive.name
    if not zipfile.is_zipfile(archive):
        raise DownloadError(f'{name} is not a zip archive')
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                parts = PurePosixPath(info.filename).parts
                if info.filename.startswith('/') or '..' in parts:
                    raise DownloadError(f'unsafe path in {name}: {info.filename!r}')
            names = {m.filename.rstrip('/') for m in members}
            if not any(n == STORE or n.startswith(STORE + '/') for n in names):
                tops = sorted({n.split('/')[0] for n in names})
                raise DownloadError(f'{name} lacks {STORE}/ (top-level entries: {tops})')
            wanted = [m for m in members if m.filename.split('/')[0] == TOP_DIR]
            check_space(sum(m.file_size for m in wanted), into,
                        f'unpacking {name} ({len(wanted)} files)')
            for info in tqdm(wanted, desc='unpacking', unit='file', disable=not progress):
                zf.extract(info, into)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error,
            NotImplementedError) as exc:  # corrupt headers can claim unknown methods
        raise DownloadError(f'{name} is a corrupt zip archive: {exc}') from exc
    except DownloadError:  # a RuntimeError too: raised above, already saying what is wrong
        raise
    except RuntimeError as exc:  # zipfile's 'File <ZipInfo ...> is encrypted, password required'
        locked = 'encrypted' in str(exc) or 'password' in str(exc)
        raise DownloadError(f'cannot unpack {name}: ' + (
            'it is password-protected; give an archive without a password' if locked
            else str(exc))) from exc
    except OSError as exc:
        raise DownloadError(f'cannot unpack {name}: {exc}') from exc
    return into / TOP_DIR


def download_pusht(url: str, dest_dir: Path, sha256: str | None = None, force: bool = False,
                   progress: bool = True) -> Path:
    """Download and verify the dataset; return the path of the replay buffer store."""
    dest_dir = dest_dir.expanduser().resolve()
    final = dest_dir / TOP_DIR
    if final.exists() and not force:
        raise DownloadError(f'{final} already exists; pass --force to replace it')
    if dest_dir.exists() and not dest_dir.is_dir():
        raise DownloadError(f'--dest {dest_dir} is a file; give the directory that receives '
                            f'{TOP_DIR}/')
    # the folders the mkdir below makes, deepest first: what a failed run removes again
    created = [dest_dir, *dest_dir.parents][:len(dest_dir.relative_to(
        first_existing(dest_dir)).parts)]
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where a parent folder should be, no permission
        raise DownloadError(f'cannot create --dest {dest_dir}: {exc}') from None
    try:
        # a second download into this --dest would swap its copy over this one's
        with output_lock(final, 'dp-ros download-pusht'):
            return _download_into(url, final, sha256, force, progress)
    except BaseException:
        _remove_empty(created)  # another command's files put there meanwhile stay
        raise


def _remove_empty(folders: list[Path]) -> None:
    """Remove `folders` (deepest first) while they are empty: a failed run takes back the
    folders it made, never what another command put in them."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _download_into(url: str, final: Path, sha256: str | None, force: bool,
                   progress: bool) -> Path:
    """Fetch, unpack and verify in a temporary folder beside `final`, swapped in at the end;
    the temporary folder is removed whatever happens, and those of killed runs first (under
    output_lock)."""
    if final.exists() and not force:  # checked again: a run may have ended meanwhile
        raise DownloadError(f'{final} already exists; pass --force to replace it')
    remove_killed_staging(final)  # under output_lock(final): no live run's folder
    old = [p for p in final.parent.glob(f'{_OLD_TMP_PREFIX}*') if p.is_dir()]
    if old:
        print(f'removed {len(old)} staging folder(s) of a killed run in {final.parent} '
              f'({remove_all(old):,} bytes)', file=sys.stderr)
    tmp = staging_dir(final)  # a kill leaves it: the next download into --dest removes it
    try:
        archive = tmp / 'pusht.zip'
        digest = fetch(url, archive, progress=progress, unpacked_beside=True)
        if sha256 is not None and digest.lower() != sha256.lower():
            raise DownloadError(f'sha256 of {url} is {digest}, expected {sha256}')
        unpacked = unpack(archive, tmp / 'unpacked', progress=progress, name=url)
        archive.unlink()
        try:
            buffer = ReplayBuffer.open(unpacked / STORE.split('/', 1)[1], mode='r')
        except (OSError, ValueError, MemoryError) as exc:  # MemoryError: an absurd shape claim
            raise DownloadError(f'unpacked store does not open as a replay buffer: {exc}') from exc
        missing = [k for k in PUSHT_KEYS if k not in buffer.keys()]
        if missing or not buffer.n_episodes:
            raise DownloadError(f'{url} holds no Push-T demonstrations: its store has '
                                f'{buffer.n_episodes} episodes and keys {buffer.keys()} '
                                f'(lacking {missing}); the paper\'s has img, state, action')
        replace_dir(unpacked, final)  # an old copy (--force) stays until the new one is in
        print(f'{final / STORE.split("/", 1)[1]}: {buffer.n_episodes} episodes, '
              f'{buffer.n_steps} steps, keys {buffer.keys()}')
        return final / STORE.split('/', 1)[1]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='dp-ros download-pusht',
        description="Download the Diffusion Policy paper's Push-T demonstrations "
                    f'({STORE}), check that they open as a replay buffer with the Push-T keys '
                    f'({", ".join(PUSHT_KEYS)}; --sha256 pins the zip) and unpack them '
                    'atomically.')
    parser.add_argument('--url', default=DEFAULT_URL,
                        help='https://, file:// URL or local path of pusht.zip '
                             '(default: %(default)s)')
    parser.add_argument('--dest', type=Path, default=DEFAULT_DEST,
                        help='directory that receives pusht/ (default: %(default)s, where the '
                             'shipped configs, replay and arm-record read it)')
    parser.add_argument('--sha256', help='expected sha256 of the zip')
    parser.add_argument('--force', action='store_true', help='replace an existing DEST/pusht')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    args = parser.parse_args(argv)
    # a DownloadError is a UserError: `dp-ros download-pusht` prints it in one line, exit 2
    download_pusht(args.url, args.dest, sha256=args.sha256, force=args.force,
                   progress=not args.no_progress)
    return 0


if __name__ == '__main__':  # the command is `dp-ros download-pusht`, which prints a UserError
    sys.exit(main())
