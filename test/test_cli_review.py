"""Review tests of dp_ros/cli.py run from this checkout (in-process main(argv), or
`python -m dp_ros.cli` with PYTHONPATH on it): the subcommand dispatch, the help, and the
error rule (one line on stderr, exit 2; Ctrl-C exit 130; a subcommand's own exit code kept)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from support import REPO_ROOT, default_sigint, nonempty_lines

from dp_ros import cli
from dp_ros.cli import SUBCOMMANDS


def test_an_unknown_subcommand_is_one_line_on_stderr_and_exit_2(capsys):
    """Nothing on stdout, the one line on stderr names the choices, exit code 2."""
    assert cli.main(['fly']) == 2
    out, err = capsys.readouterr()
    assert out == ''
    assert nonempty_lines(err) == [
        f"dp-ros: unknown subcommand 'fly' (choose from {', '.join(SUBCOMMANDS)})"]


def test_help_lists_every_subcommand_on_stdout_and_exits_0(capsys):
    """`dp-ros` alone and `dp-ros --help` print the subcommands on stdout, exit code 0."""
    for argv in ([], ['--help'], ['-h']):
        assert cli.main(argv) == 0
        out, err = capsys.readouterr()
        assert err == ''
        for name in SUBCOMMANDS:
            assert name in out, (argv, name)


def test_a_set_ament_prefix_path_is_kept_and_an_unset_one_is_the_prefix(monkeypatch, capsys):
    """A sourced ROS setup (AMENT_PREFIX_PATH set) wins; unset, it becomes sys.prefix."""
    monkeypatch.setenv('AMENT_PREFIX_PATH', '/opt/ros/somewhere')
    cli.main(['--help'])
    assert os.environ['AMENT_PREFIX_PATH'] == '/opt/ros/somewhere'
    monkeypatch.delenv('AMENT_PREFIX_PATH')
    cli.main(['--help'])
    assert os.environ['AMENT_PREFIX_PATH'] == sys.prefix
    capsys.readouterr()


def test_a_missing_file_from_a_subcommand_is_one_prefixed_line_and_exit_2(tmp_path, capsys):
    """`dp-ros inspect` of a missing store raises FileNotFoundError inside the subcommand: the
    cli turns it into `dp-ros inspect: <message>` on stderr, exit code 2, no traceback."""
    missing = tmp_path / 'absent.zarr'
    assert cli.main(['inspect', str(missing), '--no-progress']) == 2
    out, err = capsys.readouterr()
    lines = nonempty_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith('dp-ros inspect: ') and 'absent.zarr' in lines[0], lines
    assert 'Traceback' not in out + err


def test_a_user_error_from_a_subcommand_is_one_prefixed_line_without_traceback(tmp_path,
                                                                             capsys):
    """A UserError (download-pusht of a missing archive) is one line, prefixed, exit 2."""
    code = cli.main(['download-pusht', '--url', str(tmp_path / 'absent.zip'), '--dest',
                     str(tmp_path / 'data'), '--no-progress'])
    out, err = capsys.readouterr()
    assert code == 2
    lines = nonempty_lines(err)
    assert len(lines) == 1 and lines[0].startswith('dp-ros download-pusht: '), err
    assert 'absent.zip' in lines[0] and 'Traceback' not in err


def test_a_subcommands_own_exit_code_is_returned(tmp_path, capsys):
    """`dp-ros train` applies the rule in its own main() (returns 2, raises nothing): the cli
    passes that code on rather than 0."""
    code = cli.main(['train', '--config', str(tmp_path / 'absent.yaml'), '--output',
                     str(tmp_path / 'run')])
    err = capsys.readouterr().err
    assert code == 2, err
    assert 'absent.yaml' in err


def test_ctrl_c_in_a_subcommand_is_one_line_and_exit_130(tmp_path):
    """SIGINT while download-pusht waits on a server that never answers: exit code 130 and
    `dp-ros download-pusht: interrupted` as the last line, no traceback."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    server.settimeout(60)
    port = server.getsockname()[1]
    env = {**os.environ, 'PYTHONPATH': str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, '-m', 'dp_ros.cli', 'download-pusht', '--url',
         f'http://127.0.0.1:{port}/pusht.zip', '--dest', str(tmp_path / 'data'),
         '--no-progress'], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        conn, _ = server.accept()  # the request is under way: it now waits for an answer
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        conn.close()
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert 'Traceback' not in err, err
    assert nonempty_lines(err)[-1] == 'dp-ros download-pusht: interrupted', err
