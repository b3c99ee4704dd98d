"""The `dp-ros` command: one entry point, each subcommand lives in the module that does the work.

Subcommand modules are imported lazily so that `dp-ros --help` stays fast and a machine
without torch can still run the ROS-only subcommands.

The error rule of every subcommand (dp_ros/errors.py): an expected error (a UserError, or a
file or directory that is missing or of the wrong kind) is one line on stderr,
`dp-ros <subcommand>: <message>`, and exit code 2, without a traceback, and so is a
third-party package this machine lacks (named with what installs it), and so is an output the
machine refuses (disk full, read-only, no permission, file too large: errors.OUTPUT_ERRNOS),
and so is a path that is a symbolic link loop (errors.link_loop_line).
Ctrl-C exits 130; SIGTERM unwinds the same way (its cleanup runs: no staging copies left)
and exits 143 (128 + the signal).
Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from dp_ros.errors import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    EXPECTED_ERRORS,
    interrupted_exit_code,
    link_loop_line,
    missing_package,
    missing_package_line,
    one_line,
    output_error_line,
    sigterm_as_interrupt,
)

# name -> (module, one-line help). Each module exposes main(argv: list[str] | None) -> int.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    'sim': ('dp_ros.app.sim_launcher', 'Push-T sim + policy node over ROS 2: score, video'),
    'train': ('training.train', 'train a diffusion policy from a YAML config'),
    'plot': ('training.plots', 'training curves of one run, of chained warm-start stages, or '
                               'of runs compared'),
    'eval': ('dp_ros.app.evaluate', 'closed-loop Push-T evaluation (--via inprocess | ros)'),
    'open-loop': ('training.open_loop', "a policy's action chunks against recorded episodes "
                  '(held-out demonstrations, no robot): per-joint error, plot'),
    'dry-run-report': ('training.dry_run_report', "a policy node's dry run against the "
                       "operator's commands or the measured joints, from bags: per-joint "
                       'error, lag, plot'),
    'bag2zarr': ('training.bag2zarr', 'ROS 2 bags (mcap or sqlite3) -> zarr training set'),
    'inspect': ('training.inspect_dataset', 'a dataset (zarr, LeRobot) checked, with plot and '
                'video; bags: topics, rates, a draft bag2zarr config; a policy: what it '
                'expects, draft node parameters'),
    'replay': ('sim_bridge.replay', 'replay dataset episodes through the sim bridge topics'),
    'arm-record': ('dp_ros.app.arm_record', "record the paper's demonstrations through the arm "
                   'twin over ROS into bags'),
    'download-pusht': ('training.download', "download and unpack the paper's Push-T data"),
    'convert': ('training.lerobot_convert', 'zarr replay buffer <-> LeRobotDataset v3.0'),
    'push': ('dp_ros.app.push', 'upload a policy directory with a model card to the HF Hub'),
    'node': ('dp_ros.app.node_control', "a policy node's ~/enable, ~/reset or lifecycle "
             'transition, without a ROS install'),
}


def run_subcommand(name: str, argv: list[str]) -> int:
    """Run one subcommand's main(argv) under the error rule; its exit code."""
    with sigterm_as_interrupt() as terminated:
        try:
            module = importlib.import_module(SUBCOMMANDS[name][0])
            code = int(module.main(argv) or 0)
        except ModuleNotFoundError as exc:  # a dependency this machine lacks: not a bug
            package = missing_package(exc)
            if package is None:
                raise
            print(missing_package_line(f'dp-ros {name}', package, exc), file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print(f'dp-ros {name}: interrupted', file=sys.stderr)
            quiet_asyncio()
            return interrupted_exit_code(terminated)
        except EXPECTED_ERRORS as exc:
            print(f'dp-ros {name}: {one_line(exc) or type(exc).__name__}', file=sys.stderr)
            return EXIT_USER_ERROR
        except Exception as exc:
            line = output_error_line(exc) or link_loop_line(exc)
            if line is None:  # a bug: its traceback
                raise
            print(f'dp-ros {name}: {line}', file=sys.stderr)
            return EXIT_USER_ERROR
    # a subcommand that caught the interrupt itself (and cleaned up) reports Ctrl-C's code
    return interrupted_exit_code(terminated) if code == EXIT_INTERRUPTED else code


def quiet_asyncio() -> None:
    """After an interrupt's one line: no 'Task was destroyed but it is pending!' or 'Task
    exception was never retrieved' from the asyncio logger as the process exits (a zarr read
    or write the interrupt cut short, its I/O loop closed at exit)."""
    logging.getLogger('asyncio').setLevel(logging.CRITICAL)


# s between progress-bar lines when stderr is a file or a CI log (not a terminal)
LOG_PROGRESS_INTERVAL_S = 60


def quiet_progress_off_terminal() -> None:
    """Progress bars written to a file or a CI log (`> log 2>&1`, nohup) update at most once
    a minute, not a line per refresh (a 50-episode sim: ~15,000 lines). tqdm reads
    TQDM_MININTERVAL as its default when it is imported (tqdm.utils.envwrap), so this runs
    before any subcommand module; child processes inherit it; a value the user set wins."""
    stream = sys.stderr
    if stream is None or not stream.isatty():
        os.environ.setdefault('TQDM_MININTERVAL', str(LOG_PROGRESS_INTERVAL_S))


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the process's own command line (a caller's environment left alone)
        quiet_progress_off_terminal()
    argv = list(sys.argv[1:] if argv is None else argv)
    # pip-only installs: the environment's prefix holds share/ament_index (the ROS wheels and
    # dp_ros itself); a sourced ROS setup sets AMENT_PREFIX_PATH and wins.
    if not os.environ.get('AMENT_PREFIX_PATH'):
        os.environ['AMENT_PREFIX_PATH'] = sys.prefix
    if not argv or argv[0] in ('-h', '--help'):
        parser = argparse.ArgumentParser(prog='dp-ros', description=__doc__.splitlines()[0])
        sub = parser.add_subparsers(title='subcommands', metavar='SUBCOMMAND')
        for name, (_, help_text) in SUBCOMMANDS.items():
            sub.add_parser(name, help=help_text)
        parser.print_help()
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"dp-ros: unknown subcommand '{name}' (choose from {', '.join(SUBCOMMANDS)})",
              file=sys.stderr)
        return EXIT_USER_ERROR
    return run_subcommand(name, rest)


if __name__ == '__main__':
    sys.exit(main())
