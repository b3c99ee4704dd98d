"""Replace a directory by a finished one so that readers see the old or the new, never none.

Checkpoints, training state, converted datasets and downloads are written into a temporary
directory beside their target and swapped in at the end. On Linux the swap is one
renameat2(RENAME_EXCHANGE) call; elsewhere the old directory is moved aside first (a crash
between the two renames leaves it there under a hidden name, and nothing half-written).
A target that is a symlink is replaced as rename(2) replaces one (the link, not its
destination); writers of a user-named dataset resolve it first (real_target), so that a
dataset linked onto another disk is updated there and the link stays.
Single text files (reports, drafted configs) are swapped in the same way by write_text.
A swap does not stop two commands writing one output at once (the later swap would drop the
earlier's work): each writer holds output_lock for its whole run.
A process killed mid-write (SIGKILL, the OOM killer) leaves its hidden staging folder
(staging_dir) or a swap's put-aside old copy; a writer holding the lock removes those of its
own outputs when it starts (staging_leftovers, remove_all).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock (dp-ros runs on Linux)
    fcntl = None  # type: ignore[assignment]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
# beside a target: staging_dir's folders (`tmp-PID-` and mkdtemp's 8 characters, or
# staging_path's 8 hex digits; before the PID was in the name: without it, and bag2zarr's
# and convert's own `bag2zarr-PID-`, `convert-PID-`) and _swap_in's put-aside old copy
_LEFTOVER = re.compile(r'\.(?P<target>.+)\.(?:(?:tmp|bag2zarr|convert)-(?:(?P<pid>[0-9]+)-)?'
                       r'[a-z0-9_]{8}|old-[0-9a-f]{8})')


# a file name's most bytes (Linux, macOS); and what a hidden name beside a target adds to the
# target's name at most: '.', then '.tmp-<pid of up to 7 digits>-XXXXXXXX' (staging), the
# longest of the lock's, write_text's, the put-aside copy's and staging's suffixes
NAME_MAX = 255
_BESIDE_ROOM = 1 + len('.tmp-') + 7 + len('-') + 8


def beside(name: str) -> str:
    """`name` as the hidden names beside it (temporary files, staging copies, the lock) hold
    it: whole where the longest of them fits a file name, else its first bytes and a digest
    of the whole (a legal name of 235..255 bytes made them too long: ENAMETOOLONG at the
    end of a run). The same for one name every time: a killed write's copy is found again."""
    raw = os.fsencode(name)
    if len(raw) + _BESIDE_ROOM <= NAME_MAX:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:12]
    head = raw[:NAME_MAX - _BESIDE_ROOM - 1 - len(digest)]
    return f"{head.decode('utf-8', 'ignore')}~{digest}"  # a character cut in two: dropped


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, f'cannot swap {a} and {b}: {os.strerror(err)}')


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def real_target(path: str | Path) -> Path:
    """Where a write to `path` lands: a symlink's destination (data/store.zarr -> /big/...),
    so that the new content replaces the store there and the link stays a link; `path`
    itself when it is no symlink, or one into a folder that does not exist."""
    path = Path(path)
    if not path.is_symlink():
        return path
    real = Path(os.path.realpath(path))
    return real if real.parent.is_dir() else path


def replace_dir(new: Path, target: Path) -> None:
    """Put the finished directory `new` at `target` (same file system); the old one (a
    symlink: the link) is removed."""
    new, target = Path(new), Path(target)
    _swap_in(new, target)
    fsync_dir(target.parent)


def _swap_in(new: Path, target: Path) -> None:
    """Rename `new` to `target`, exchanging it with the old one when there is one."""
    if not (target.exists() or target.is_symlink()):
        os.rename(new, target)
    elif _exchange(new, target):
        _remove_old(new)
    else:
        old = target.with_name(f'.{beside(target.name)}.old-{uuid.uuid4().hex[:8]}')  # _LEFTOVER
        os.rename(target, old)
        try:
            os.rename(new, target)
        except BaseException:
            os.rename(old, target)
            raise
        _remove_old(old)


def _remove_old(path: Path) -> None:
    """Remove what a swap put aside: a symlink or a file is unlinked (rmtree refuses both; a
    link's destination is not ours to delete)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def staging_dir(target: Path) -> Path:
    """A new empty folder beside `target` (mode 0755, mkdtemp's 0700 opened up) to write it
    in before replace_dir swaps it in, named `.<target>.tmp-<pid>-XXXXXXXX`: what
    staging_leftovers finds after a kill (the pid: never while its writer lives)."""
    tmp = Path(tempfile.mkdtemp(prefix=f'.{beside(target.name)}.tmp-{os.getpid()}-',
                                dir=target.parent))
    os.chmod(tmp, 0o755)
    return tmp


def staging_path(target: Path) -> Path:
    """An unused name beside `target` for a copy made whole first (shutil.copytree makes
    the folder itself), of staging_dir's form."""
    return target.with_name(f'.{beside(target.name)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}')


def _running(pid: int) -> bool:
    """A process `pid` exists (ours included; another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # no pid that large
        return False
    return True


def staging_leftovers(folder: Path, targets: str) -> list[Path]:
    """What writes of the outputs in `folder` whose names fullmatch the regex `targets` left
    there when killed midway: staging_dir's and staging_path's copies, a swap's put-aside
    old copy. A copy whose name holds the pid of another running process is not one (a write
    of another dp-ros that does not lock, an older one); one of this process's pid is (a
    container's command is pid 1 at every run: a killed run's copy had it too; called at a
    write's start, this process has none of its own yet); one without a pid (an older
    dp-ros) has no such guard: call this only with the output's output_lock held."""
    if not folder.is_dir():
        return []
    name = re.compile(targets)
    return sorted(p for p in folder.iterdir()
                  if (m := _LEFTOVER.fullmatch(p.name)) and name.fullmatch(m['target'])
                  and not (m['pid'] and int(m['pid']) != os.getpid()
                           and _running(int(m['pid']))))


def remove_killed_staging(target: Path) -> int:
    """Remove the staging copies that writes of `target` killed midway (SIGKILL, the OOM
    killer) left beside it, each up to a whole copy of it, hidden by its dot, that nothing
    else removes; says so on stderr. Only with target's output_lock held. Returns how many."""
    found = staging_leftovers(target.parent, re.escape(beside(target.name)))
    if found:
        freed = remove_all(found)
        print(f'removed {len(found)} staging cop{"y" if len(found) == 1 else "ies"} of a killed '
              f'run beside {target} ({freed:,} bytes)', file=sys.stderr)
    return len(found)


def remove_all(paths: Iterable[Path]) -> int:
    """Remove these files and folders (a symlink: the link); the bytes freed."""
    freed = 0
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            freed += sum(f.lstat().st_size for f in path.rglob('*') if not f.is_dir())
        elif path.exists():
            freed += path.lstat().st_size
        _remove_old(path)
    return freed


def plain_file_mode(files: Iterable[Path], like: Path) -> None:
    """Give `files` the mode of `like`, a file written by a plain open() (the umask's,
    0644 usually): safetensors writes through an owner-only (0600) temporary file, which
    another user (the robot's, a colleague resuming a run) could not load."""
    mode = stat.S_IMODE(like.stat().st_mode)
    for f in files:
        os.chmod(f, mode)


@contextmanager
def naming(path: str | Path, *stand_ins: str | Path) -> Iterator[None]:
    """Within: an OSError that names no file (a write() or flush() onto a full disk: open()
    alone gives the name), or names one of `stand_ins` (a temporary file swapped in as
    `path`), is raised again naming `path` when it is a refused write (OUTPUT_ERRNOS), so
    that the one-line error says which output could not be written (output_error_line)."""
    from dp_ros.errors import OUTPUT_ERRNOS

    try:
        yield
    except OSError as exc:
        named = exc.filename is not None and str(exc.filename) not in map(str, stand_ins)
        if named or exc.errno not in OUTPUT_ERRNOS or exc.filename2 is not None:
            raise
        raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc


def write_text(path: str | Path, text: str) -> Path:
    """`text` into `path` (parent folders made), swapped in whole: a reader or a crash never
    sees half a report or config. A refused write names `path` (naming), not its temporary
    file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{beside(path.name)}.{uuid.uuid4().hex[:8]}.tmp')
    try:
        with naming(path, tmp):
            tmp.write_text(text, encoding='utf-8')
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def first_existing(folder: Path) -> Path:
    """`folder`, or the nearest of its parents that exists (what a makedirs starts from); a
    link to nothing (a disk not mounted) is where it stops: makedirs fails there too."""
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def free_disk(path: str | Path) -> int | None:
    """Bytes free on the file system `path` will be written to (its nearest existing
    folder: a folder not made yet); None where it cannot be read."""
    try:
        return shutil.disk_usage(first_existing(Path(path).absolute())).free
    except OSError:
        return None


def check_writable_file(path: str | Path, flag: str, example: str = 'report.json') -> None:
    """A file a command writes at the end of its run, checked before the run (minutes of
    evaluation lost to an output it could not write): not a directory, and its folder there
    or makable and writable. Raises UserError (one line, exit 2), naming `flag` (and, for a
    directory, `example` as a file name in it)."""
    from dp_ros.errors import UserError

    path = Path(path)
    with _path_refused(path, flag):
        if path.is_dir():
            raise UserError(f'{flag} {path} is a directory; give a file path, e.g. '
                            f'{path / example}')
        _check_makeable(path, first_existing(path.parent), flag, 'the file cannot be written')


def check_writable_dir(path: str | Path, flag: str) -> None:
    """A folder a command makes or writes into (node logs), checked before the run: a
    directory, or makable where its nearest existing folder is writable. UserError naming
    `flag` (a file there was a FileExistsError traceback from mkdir once nodes had started)."""
    from dp_ros.errors import UserError

    path = Path(path)
    with _path_refused(path, flag):
        if path.exists() and not path.is_dir():
            raise UserError(f'{flag} {path} is a file, not a folder: give another path')
        _check_makeable(path, first_existing(path), flag, 'the folder cannot be made')


@contextmanager
def _path_refused(path: Path, flag: str) -> Iterator[None]:
    """An OSError looking at `path` (a name longer than the file system allows: ENAMETOOLONG
    from is_dir itself, a traceback where one line was due; a parameter review) as the
    UserError naming `flag`."""
    from dp_ros.errors import UserError

    try:
        yield
    except OSError as exc:
        raise UserError(f'{flag} {path}: {exc.strerror or exc}') from None


def _check_makeable(path: Path, folder: Path, flag: str, what: str) -> None:
    """UserError naming `flag` unless `folder`, the nearest existing one on `path`'s way, is
    a writable directory (`what` cannot be done there otherwise)."""
    from dp_ros.errors import UserError

    if folder.is_symlink() and not folder.exists():
        raise UserError(f'{flag} {path}: {folder} is a link to {os.readlink(folder)}, which '
                        f'does not exist (a disk not mounted?), so {what} there')
    if not folder.is_dir():
        raise UserError(f'{flag} {path}: {folder} is not a directory, so {what} there')
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f'{flag} {path}: {folder} is not writable')


def _on_disk(path: Path) -> Path:
    """`path` absolute with its folders' symlinks resolved; a symlink itself is not followed
    (it is what a swap replaces, and a link the user named)."""
    path = path.absolute()
    return path.parent.resolve() / path.name if path.is_symlink() else path.resolve()


def check_output_apart(source: Path, output: Path, error: type[Exception]) -> None:
    """Raise `error` for an output whose replacement would touch the source: the source
    itself (also through a symlink), a folder inside it, or a folder holding it (an
    --overwrite swaps the whole folder out, the source with it): `dp-ros convert`'s dataset,
    `dp-ros bag2zarr`'s bags."""
    replaced = _on_disk(real_target(output))
    for place in dict.fromkeys([source.resolve(), _on_disk(source)]):
        if replaced == place:
            raise error(f'output {output} is the source {source}: the output must differ '
                        'from the source')
        if replaced in place.parents:
            raise error(f'output {output} holds the source {source}: replacing it would '
                        'delete the source; choose an output outside it')
        if place in replaced.parents:
            raise error(f'output {output} is inside the source {source}; choose an '
                        'output outside it')


@contextmanager
def output_lock(output: str | Path, command: str) -> Iterator[None]:
    """Within: this process alone writes `output` (a store, a dataset, a run directory; a
    symlink: at its destination), by an exclusive flock on `.<name>.lock` beside it, held
    until the block ends and then removed (a killed process leaves it, unlocked, for the
    next writer to take).
    A second writer is refused at once with UserError naming the output and the writer
    (`command`, e.g. 'dp-ros bag2zarr', and its process id, kept in the lock file): a staged
    output swapped in at the end would otherwise silently undo the other's work. Makes the
    output's folder; UserError when a file stands where a folder of it must be."""
    from dp_ros.errors import UserError

    target = _on_disk(real_target(output))
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f'{output}: {first_existing(folder)} is not a directory, so nothing '
                        'can be written there') from None
    lock = folder / f'.{beside(target.name)}.lock'
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    locked = False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # the holder before us removed the file on its way out: ours is a stale inode
                # (a third writer may hold the new file), so it counts as being written
                gone = not lock.exists() or os.stat(lock).st_ino != os.fstat(fd).st_ino
            except BlockingIOError:
                gone = None
            if gone is not False:
                holder = '' if gone else os.pread(fd, 200, 0).decode(errors='replace').strip()
                raise UserError(f'{output} is being written by another dp-ros command '
                                f'({holder or "lock " + str(lock)}): wait for it to end, or '
                                'choose another output')
            locked = True
            os.ftruncate(fd, 0)
            os.pwrite(fd, f'{command}, process {os.getpid()}'.encode(), 0)
        yield
    finally:
        if locked:  # removed while still held: no file is left beside the output
            with contextlib.suppress(OSError):
                lock.unlink()
        os.close(fd)
