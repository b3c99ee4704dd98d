"""Replace a directory by a finished one so that readers see the old or the new, never none.

Checkpoints, training state, converted datasets and downloads are written into a temporary
directory beside their target and swapped in at the end. On Linux the swap is one
renameat2(RENAME_EXCHANGE) call; elsewhere the old directory is moved aside first (a crash
between the two renames leaves it there under a hidden name, and nothing half-written).
Single text files (reports, drafted configs) are swapped in the same way by write_text.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import sys
import uuid
from pathlib import Path

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


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


def replace_dir(new: Path, target: Path) -> None:
    """Put the finished directory `new` at `target` (same file system); the old one is removed."""
    new, target = Path(new), Path(target)
    if not (target.exists() or target.is_symlink()):
        os.rename(new, target)
    elif _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # now the old directory
    else:
        old = target.with_name(f'.{target.name}.old-{uuid.uuid4().hex[:8]}')
        os.rename(target, old)
        try:
            os.rename(new, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(target.parent)


def write_text(path: str | Path, text: str) -> Path:
    """`text` into `path` (parent folders made), swapped in whole: a reader or a crash never
    sees half a report or config."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.{uuid.uuid4().hex[:8]}.tmp')
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
