"""What both `dp-ros eval` paths share: the arguments, seed parsing and the report format.

dp_ros/app/evaluate.py (in-process, and the command) and dp_ros/app/ros_eval.py (through
ROS) both import this module and not each other's internals, so the two paths cannot drift.
"""
from __future__ import annotations

import argparse
import math
from collections import Counter
from collections.abc import Sized
from pathlib import Path
from typing import Any

from dp_ros.atomic_dir import check_writable_dir, check_writable_file
from dp_ros.errors import UserError
from dp_ros.policy.hub import checkpoint_arg
from dp_ros.runtime.execution import EXECUTION_MODES
from sim_bridge.sim_node_config import MAX_SEED, MODES, ROBOTS, first_seed_outside

REPORT_FORMAT = 'dp_ros.eval'
# the most episodes one evaluation runs (the paper's protocol: 50; a million at the sim's
# fastest is days of CPU): a bound before a range of seeds is made a list
MAX_EPISODES = 1_000_000
REPORT_VERSION = 1
# --dtype of `dp-ros eval` and `dp-ros sim`: torch's names (the node's dtype parameter) and
# accelerate's short ones, one meaning each
DTYPE_ALIASES = {'float32': 'float32', 'bfloat16': 'bfloat16', 'float16': 'float16',
                 'fp32': 'float32', 'bf16': 'bfloat16', 'fp16': 'float16'}


def dtype_name(text: str) -> str:
    """argparse type of --dtype: 'bf16' -> 'bfloat16'; anything else refused by argparse."""
    try:
        return DTYPE_ALIASES[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"'{text}': use float32, bfloat16 or float16 (or fp32, bf16, fp16)") from None


def add_dtype_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--dtype', type=dtype_name, default='float32',
                        help='denoiser weights dtype: float32, bfloat16 or float16 (CUDA only); '
                             'fp32, bf16, fp16 too (normalization stays float32)')


def seed_list(text: str) -> list[int]:
    """'100000:100050' (end exclusive), '1,2,5' or '7' -> a list of seeds; ValueError for
    another form, one that selects none or more than MAX_EPISODES. The seeds of `dp-ros eval`
    and `dp-ros sim`."""
    text = text.strip()
    try:
        if ':' in text:
            start, stop = (int(x) for x in text.split(':', 1))
            selected = range(start, stop)
        else:
            selected = [int(x) for x in text.split(',') if x.strip()]
    except ValueError:
        raise ValueError(f"seeds {text!r}: expected 'start:stop' or a comma list of "
                         'integers') from None
    if not selected:
        raise ValueError(f'seeds {text!r} select no episode')
    return check_unique_seeds(list(check_episode_count(selected, text)))


def check_episode_count(seeds: Sized, text: str) -> Sized:
    """`seeds`, ValueError where they are more than MAX_EPISODES (before a range of them is
    made a list: 0:4294967296, the sim's whole range, was a MemoryError traceback)."""
    if len(seeds) > MAX_EPISODES:
        raise ValueError(f'seeds {text!r} select {len(seeds):,} episodes, more than one '
                         f'evaluation runs ({MAX_EPISODES:,}): split them over several runs')
    return seeds


def check_unique_seeds(seeds: list[int]) -> list[int]:
    """`seeds`, ValueError naming one given twice: the same seed and sample seed run the same
    episode, so a repeat counts one score twice in the mean."""
    repeated = sorted(s for s, n in Counter(seeds).items() if n > 1)
    if repeated:
        raise ValueError(f'seeds {repeated} given more than once: each would count twice in '
                         'the mean score')
    return seeds


def parse_seeds(text: str) -> list[int]:
    """argparse type of eval's --seeds: seed_list, each in the sim's range."""
    try:
        seeds = seed_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    outside = first_seed_outside(seeds)
    if outside is not None:  # the env's numpy seeding takes no other (a traceback mid-run)
        raise argparse.ArgumentTypeError(f'seeds {text!r}: {outside} is not in the sim\'s '
                                         f'range 0..{MAX_SEED}')
    return seeds


def parse_indices(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(',') if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'{text!r}: expected a comma list of episode indices') from None


def build_eval_parser() -> argparse.ArgumentParser:
    """The `dp-ros eval` arguments, shared by the in-process and the ROS evaluators."""
    p = argparse.ArgumentParser(prog='dp-ros eval', description='Closed-loop Push-T '
                                'evaluation of a policy (--via inprocess | ros): the '
                                "paper's protocol, a JSON report and a video.")
    p.add_argument('--checkpoint', type=checkpoint_arg, required=True,
                   help='policy artifact directory or hf://org/name[@revision]')
    p.add_argument('--via', choices=('inprocess', 'ros'), default='inprocess')
    p.add_argument('--robot', choices=ROBOTS, default='point',
                   help="the paper's point pusher, or the 3-joint arm twin (a policy trained "
                        'on arm data: camera and joint positions in, joint targets out)')
    p.add_argument('--mode', choices=MODES, default='lockstep',
                   help='--via ros: lockstep (sim time waits for each plan; scores equal '
                        'in-process per episode) or realtime (10 Hz wall clock: inference '
                        'latency costs, as on a robot)')
    p.add_argument('--execution-mode', choices=EXECUTION_MODES, default='replace',
                   help="--via ros: how the node's new chunk takes over from the running one")
    p.add_argument('--seeds', type=parse_seeds, default=parse_seeds('100000:100050'),
                   help="test seeds, 'start:stop' (stop exclusive) or 'a,b,c' "
                        '(default: the paper\'s 100000:100050)')
    p.add_argument('--max-steps', type=int, default=300, help='control steps per episode')
    p.add_argument('--sampler', choices=('ddpm', 'ddim'), help="default: the checkpoint's")
    p.add_argument('--num-inference-steps', type=int, help="default: the checkpoint's")
    p.add_argument('--sample-seed', type=int, default=0,
                   help='episode noise seed = sample_seed * 1000003 + env seed')
    p.add_argument('--batch-size', type=int, help='in process: episodes stepped together '
                   '(default: all); --via ros runs one at a time (only 1 is taken there)')
    p.add_argument('--video-episodes', type=parse_indices, default=[0],
                   help="indices into --seeds to film, e.g. '0,1'; '' for none")
    p.add_argument('--video-format', choices=('mp4', 'gif'), default='mp4')
    p.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu', 'cuda'")
    add_dtype_argument(p)
    p.add_argument('--threads', type=int, help='torch.set_num_threads')
    p.add_argument('--eager', action='store_true',
                   help='sample with the eager UNet (default: TorchScript-frozen, as the node)')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--output', type=Path, required=True, help='report JSON path')
    return p


def check_eval_args(args: argparse.Namespace) -> None:
    """The expected errors of both paths, found before anything is loaded or started.

    Raises UserError (one line and exit 2 through dp_ros/cli.py); a missing or malformed
    checkpoint is a CheckpointError, which is one. args.device becomes the resolved device
    ('auto' -> 'cuda' or 'cpu').
    """
    from dp_ros.policy.hub import resolve_policy_dir

    if args.max_steps < 1:
        raise UserError(f'--max-steps must be >= 1, got {args.max_steps}')
    if args.via != 'ros' and (args.mode != 'lockstep' or args.execution_mode != 'replace'):
        raise UserError('--mode realtime and --execution-mode other than replace need --via '
                        'ros (the in-process loop is lockstep and replaces chunks)')
    check_run_numbers({'--batch-size': args.batch_size, '--threads': args.threads,
                       '--num-inference-steps': args.num_inference_steps}, args.sample_seed)
    if args.via == 'ros' and args.batch_size not in (None, 1):  # 1: what it does anyway
        raise UserError(f'--batch-size {args.batch_size}: episodes are stepped together in '
                        'process; --via ros runs them one at a time through the nodes')
    check_video_episodes(args.video_episodes, len(args.seeds))
    check_writable_file(args.output, '--output')  # not after the episodes have run
    if args.via != 'ros' and args.video_episodes and \
            video_path(args.output, args.video_format).absolute() == args.output.absolute():
        raise UserError(f'--output {args.output}: the video would be written there too (its '
                        f'path is --output as .{args.video_format}); give the report a .json '
                        'name')
    if args.via == 'ros':  # the nodes' logs beside the report
        check_writable_dir(ros_log_dir(args.output), '--output (its node logs)')
    args.checkpoint_spec = str(args.checkpoint)
    args.checkpoint = resolve_policy_dir(args.checkpoint)  # a Hub spec: its cached snapshot
    config = checkpoint_config(args.checkpoint, args.num_inference_steps)
    if args.via == 'inprocess':  # over ROS: the node's own check (ros_eval, before it starts)
        from training.eval_env import check_eval_fits
        try:
            check_eval_fits(args.robot, config)
        except ValueError as exc:
            raise UserError(str(exc).replace('eval.robot', '--robot')) from None
    from dp_ros.runtime.inference_runner import resolve_device, resolve_dtype  # torch: last

    try:
        device = resolve_device(args.device)
        resolve_dtype(args.dtype, device)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    args.device = str(device)


def check_run_numbers(counts: dict[str, int | None], sample_seed: int) -> None:
    """The numbers of a run that the policy (in-process or the node) would refuse late: each
    of `counts` (flag -> value, None: the default) >= 1, and --sample-seed in the node's
    range, which also keeps the episode generator's seed in torch's int64 (a traceback after
    the load otherwise). `dp-ros eval` and `dp-ros sim` check with this."""
    from dp_ros.runtime.policy_node_config import MAX_SEED as MAX_SAMPLE_SEED

    for flag, value in counts.items():
        if value is not None and value < 1:
            raise UserError(f'{flag} must be >= 1, got {value}')
    if not 0 <= sample_seed <= MAX_SAMPLE_SEED:
        raise UserError(f'--sample-seed must be in 0..{MAX_SAMPLE_SEED} (2**40), got '
                        f'{sample_seed}')


def checkpoint_config(checkpoint: Path, num_inference_steps: int | None) -> Any:
    """The checkpoint's PolicyConfig, with --num-inference-steps (None: the checkpoint's)
    checked against it now, not at the first chunk (or the node's load). CheckpointError or
    UserError, both one line."""
    from dp_ros.policy.checkpoint import CheckpointError, read_policy_metadata
    from dp_ros.policy.config import PolicyConfig

    meta = read_policy_metadata(checkpoint)
    try:
        config = PolicyConfig.from_dict(meta['config'])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f'{checkpoint}: policy.json: {exc}') from None
    if num_inference_steps is not None:
        try:
            config.check_inference_steps(num_inference_steps, '--num-inference-steps')
        except ValueError as exc:
            raise UserError(f'{checkpoint}: {exc}') from None
    return config


def check_video_episodes(indices: list[int], n_seeds: int) -> None:
    bad = [i for i in indices if not 0 <= i < n_seeds]
    if bad:
        raise UserError(f'--video-episodes {bad} out of range for {n_seeds} seeds')
    repeated = sorted({i for i in indices if indices.count(i) > 1})
    if repeated:
        raise UserError(f'--video-episodes {repeated} given twice: each episode is filmed once')


def skipped_note(slots: int) -> str:
    """What a realtime episode's line adds when the sim skipped control periods (its result's
    slots_skipped): the score is not a clean one, and the user is told, not only the JSON."""
    return (f'; {slots} control period(s) skipped (not a clean realtime score)' if slots
            else '')


def make_eval_report(seeds: list[int], scores: list[float], config_dict: dict[str, Any],
                     extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The evaluation report both evaluators write: per-episode scores, their mean, the
    settings that produced them; `extra` keys (timings, video path...) are added on top."""
    if len(seeds) != len(scores):
        raise ValueError(f'{len(seeds)} seeds but {len(scores)} scores')
    scores = [float(s) for s in scores]
    report = {
        'format': REPORT_FORMAT, 'format_version': REPORT_VERSION,
        'mean_score': sum(scores) / len(scores) if scores else math.nan,
        'n_episodes': len(scores),
        'episodes': [{'seed': int(s), 'score': sc} for s, sc in zip(seeds, scores, strict=True)],
        'config': dict(config_dict),
    }
    for key, value in (extra or {}).items():
        if key in report:
            raise ValueError(f'extra key {key!r} would overwrite a report field')
        report[key] = value
    return report


def eval_config_dict(args: argparse.Namespace) -> dict[str, Any]:
    return {'checkpoint': getattr(args, 'checkpoint_spec', str(args.checkpoint)),
            'via': args.via, 'robot': args.robot, 'mode': args.mode,
            'execution_mode': args.execution_mode, 'seeds': list(args.seeds),
            'max_steps': args.max_steps, 'sampler': args.sampler,
            'num_inference_steps': args.num_inference_steps, 'sample_seed': args.sample_seed,
            'batch_size': args.batch_size, 'device': args.device, 'dtype': args.dtype,
            'threads': args.threads, 'torchscript': not args.eager}


def video_path(output: Path, fmt: str) -> Path:
    return output.with_suffix(f'.{fmt}')


def ros_log_dir(output: Path) -> Path:
    """Where `dp-ros eval --via ros` keeps the nodes' logs: beside the report."""
    return output.with_name(f'{output.stem}_ros_logs')
