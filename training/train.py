"""`dp-ros train` (also `python -m training.train`, and under torchrun or accelerate launch):
the command line. It loads the config and checks the run's inputs (training/run_check.py)
before torch loads, so that a wrong path, key or policy is one line in half a second; the
loop itself is training/trainer.py. A run stopped by a signal (its train state saved) exits
128 + the signal's number, not 0: a script's next step does not take it as finished.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from dp_ros.atomic_dir import output_lock
from dp_ros.errors import EXIT_INTERRUPTED
from training.config import TrainConfig, load_config_data
from training.deprecated_keys import deprecated_keys_shown
from training.errors import EXPECTED_ERRORS, TrainConfigError, error_exit
from training.run_check import check_run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='dp-ros train', description='Train a diffusion policy from a YAML config.',
        epilog='Overrides: section.key=value (YAML values), e.g. train.max_steps=1000 '
               'policy.down_dims=[64,128,256] data.zarr_path=/data/pusht.zarr')
    parser.add_argument('--config', type=Path, help='training config YAML (default: built-in '
                        "defaults, the paper's model)")
    parser.add_argument('--output', type=Path, required=True, help='run directory')
    parser.add_argument('--max-steps', type=int, help='shorthand for train.max_steps=N')
    parser.add_argument('--resume', default='auto',
                        help="auto (continue <output>/train_state if present), never, or a "
                             'train_state directory / run directory to start from')
    parser.add_argument('overrides', nargs='*', metavar='KEY=VALUE')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)  # overrides on both sides of an option
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s '
                        '%(message)s', stream=sys.stderr)
    overrides = list(args.overrides)
    if args.max_steps is not None:
        overrides.append(f'train.max_steps={args.max_steps}')
    try:
        with deprecated_keys_shown():
            given = load_config_data(args.config, overrides)
            cfg = TrainConfig.from_dict(given)
        check_output_path(args.output)
        checked = check_run(cfg, args.output, args.resume, given)  # before torch loads
        # a second train on this run folder would move the live run's files aside: refused
        # (rank 0 holds the lock for all ranks of a torchrun)
        with (output_lock(args.output, 'dp-ros train')
              if int(os.environ.get('RANK', '0')) == 0 else contextlib.nullcontext()):
            from training.trainer import Trainer
            summary = Trainer(cfg, args.output, args.resume, checked).run()
    except EXPECTED_ERRORS as err:
        # the rule of dp_ros/cli.py, also under torchrun and `python -m training.train`: a bad
        # config, dataset, init_from or train state is one line and exit code 2
        return error_exit('dp-ros train', err)
    if summary['interrupted'] is not None:  # saved, resumable, but not done: `&&` stops
        return interrupted_exit_code(summary['interrupted'])
    if int(os.environ.get('RANK', '0')) == 0:
        print(json.dumps(summary))
    return 0


def check_output_path(output: Path) -> None:
    """TrainConfigError for an --output that is a symlink to nothing (a disk not mounted, a
    folder not made yet): the run folder cannot be made there."""
    if output.is_symlink() and not output.exists():
        raise TrainConfigError(f'--output {output} is a symlink to {os.readlink(output)}, '
                               'which does not exist: make that folder first, or give another '
                               'run directory')


def interrupted_exit_code(stop: str) -> int:
    """128 + the signal's number, the shell's convention (SIGINT 130, SIGTERM 143); a stop
    another rank received: EXIT_INTERRUPTED."""
    try:
        return 128 + int(signal.Signals[stop])
    except KeyError:
        return EXIT_INTERRUPTED


if __name__ == '__main__':
    sys.exit(main())
