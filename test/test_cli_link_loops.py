"""A path that is a symbolic link loop (`ln -s out out`, a link repointed at itself by a
script) given to a `dp-ros` command: one line naming the path, exit 2, no traceback
(dp_ros/cli.py's error rule). Before Python 3.13 pathlib's Path.resolve() says a loop with
a RuntimeError, which the rule took for a bug: replay --dataset, download-pusht --dest,
open-loop --output and dry-run-report --output ended in its traceback."""
from __future__ import annotations

import errno
import subprocess

import pytest
from support import SHIPPED_CHECKPOINT, checkout_env, module_cmd
from test_cli_output_errors import one_line_error

from dp_ros.errors import link_loop_line


@pytest.fixture
def loop(tmp_path):
    link = tmp_path / 'loop'
    link.symlink_to(link)
    return link


@pytest.mark.parametrize('command, args', [
    ('replay', ['--dataset', '{loop}']),
    ('download-pusht', ['--dest', '{loop}', '--no-progress']),
    ('open-loop', [str(SHIPPED_CHECKPOINT), '--dataset', '{zarr}', '--output', '{loop}']),
    ('dry-run-report', ['{tmp}', '--output', '{loop}']),
])
def test_a_link_loop_given_to_a_command_is_one_line(loop, tmp_path, pusht_zarr, command,
                                                    args):
    """Given as written, relative to the working folder (replay looks a relative dataset up
    there and beside the package; an absolute one it checks for existence first)."""
    args = [a.format(loop=loop.name, zarr=pusht_zarr, tmp=tmp_path) for a in args]
    proc = subprocess.run(module_cmd('dp_ros.cli', command, *args), env=checkout_env(),
                          text=True, capture_output=True, timeout=180, cwd=tmp_path)
    line = one_line_error(proc, command)
    assert line == f'dp-ros {command}: {loop}: a symbolic link loop (it leads back to itself ' \
                   'through links): remove or repoint the link, or give another path', line
    assert loop.is_symlink()  # left as it was


def test_the_loop_line_is_pathlibs_runtime_error_or_the_systems_eloop(loop):
    with pytest.raises(RuntimeError) as pathlib_says:  # Python 3.11 and 3.12
        try:
            loop.resolve()
        except OSError as exc:  # Python 3.13 on
            raise RuntimeError(f"Symlink loop from '{exc.filename}'") from None
    with pytest.raises(OSError) as system_says:
        loop.open()
    for exc in (pathlib_says.value, system_says.value):
        line = link_loop_line(exc)
        assert line is not None and line.startswith(f'{loop}: a symbolic link loop'), line
    assert system_says.value.errno == errno.ELOOP
    assert link_loop_line(OSError(errno.ELOOP, 'Too many levels of symbolic links')) \
        .startswith('a symbolic link loop')  # no path to name


@pytest.mark.parametrize('exc', [
    RuntimeError('something else'), RuntimeError("Symlink loop from 'a' and more"),
    ValueError("Symlink loop from 'a'"), OSError(errno.ENOENT, 'No such file', 'a'),
])
def test_other_errors_are_not_taken_for_a_loop(exc):
    """Anything else keeps its traceback (a bug) or its own line: a RuntimeError of another
    text, another kind with pathlib's text, another errno."""
    assert link_loop_line(exc) is None
