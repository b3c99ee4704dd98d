"""`dp-ros eval`: closed-loop Push-T evaluation of a policy artifact.

--via inprocess steps the simulator in this process (batched, training/closed_loop.py);
--via ros runs the sim bridge and the policy node as ROS 2 processes
(dp_ros.ros.ros_eval.run_ros_eval, same arguments, same report). Both give the same
per-episode scores for the same seeds and --sample-seed.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

REPORT_FORMAT = 'dp_ros.eval'
REPORT_VERSION = 1
DTYPES = {'fp32': 'float32', 'bf16': 'bfloat16', 'fp16': 'float16'}


def parse_seeds(text: str) -> list[int]:
    """'100000:100050' (end exclusive), '1,2,5' or '7' -> a list of seeds."""
    text = text.strip()
    try:
        if ':' in text:
            start, stop = (int(x) for x in text.split(':', 1))
            seeds = list(range(start, stop))
        else:
            seeds = [int(x) for x in text.split(',') if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seeds {text!r}: expected 'start:stop' or a comma list of integers") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f'seeds {text!r} select no episode')
    return seeds


def parse_indices(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(',') if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'{text!r}: expected a comma list of episode indices') from None


def build_eval_parser() -> argparse.ArgumentParser:
    """The `dp-ros eval` arguments, shared by the in-process and the ROS evaluators."""
    p = argparse.ArgumentParser(prog='dp-ros eval', description=__doc__.splitlines()[0])
    p.add_argument('--checkpoint', type=Path, required=True, help='policy artifact directory')
    p.add_argument('--via', choices=('inprocess', 'ros'), default='inprocess')
    p.add_argument('--seeds', type=parse_seeds, default=parse_seeds('100000:100050'),
                   help="test seeds, 'start:stop' (stop exclusive) or 'a,b,c' "
                        '(default: the paper\'s 100000:100050)')
    p.add_argument('--max-steps', type=int, default=300, help='control steps per episode')
    p.add_argument('--sampler', choices=('ddpm', 'ddim'), help="default: the checkpoint's")
    p.add_argument('--num-inference-steps', type=int, help="default: the checkpoint's")
    p.add_argument('--sample-seed', type=int, default=0,
                   help='episode noise seed = sample_seed * 1000003 + env seed')
    p.add_argument('--batch-size', type=int, help='episodes stepped together (default: all)')
    p.add_argument('--video-episodes', type=parse_indices, default=[0],
                   help="indices into --seeds to film, e.g. '0,1'; '' for none")
    p.add_argument('--video-format', choices=('mp4', 'gif'), default='mp4')
    p.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu', 'cuda'")
    p.add_argument('--dtype', choices=tuple(DTYPES), default='fp32',
                   help='denoiser weights dtype (normalization stays fp32)')
    p.add_argument('--threads', type=int, help='torch.set_num_threads')
    p.add_argument('--eager', action='store_true',
                   help='sample with the eager UNet (default: TorchScript-frozen, as the node)')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--output', type=Path, required=True, help='report JSON path')
    return p


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
    return {'checkpoint': str(args.checkpoint), 'via': args.via, 'seeds': list(args.seeds),
            'max_steps': args.max_steps, 'sampler': args.sampler,
            'num_inference_steps': args.num_inference_steps, 'sample_seed': args.sample_seed,
            'batch_size': args.batch_size, 'device': args.device, 'dtype': args.dtype,
            'torchscript': not args.eager}


def video_path(output: Path, fmt: str) -> Path:
    return output.with_suffix(f'.{fmt}')


def run_inprocess_eval(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from dp_ros.policy.checkpoint import load_policy, read_policy_metadata
    from training.closed_loop import run_closed_loop
    from training.video import write_episodes_video

    if args.threads:
        torch.set_num_threads(args.threads)
    meta = read_policy_metadata(args.checkpoint)
    dtype = getattr(torch, DTYPES[args.dtype])
    policy = load_policy(args.checkpoint, device=args.device,
                         dtype=None if dtype == torch.float32 else dtype)
    policy.use_torchscript(not args.eager)
    bad = [i for i in args.video_episodes if not 0 <= i < len(args.seeds)]
    if bad:
        raise ValueError(f'--video-episodes {bad} out of range for {len(args.seeds)} seeds')
    res = run_closed_loop(policy, args.seeds, max_steps=args.max_steps, sampler=args.sampler,
                          num_inference_steps=args.num_inference_steps,
                          sample_seed=args.sample_seed, batch_size=args.batch_size,
                          video_episodes=args.video_episodes, progress=not args.no_progress)
    extra: dict[str, Any] = {
        'episode_steps': res.steps, 'episode_success': res.success,
        'wall_time_s': res.seconds, 'finished_at': time.time(),
        'policy': {'sampler': args.sampler or policy.config.sampler,
                   'num_inference_steps': args.num_inference_steps
                   or policy.config.num_inference_steps,
                   'provenance_step': meta.get('provenance', {}).get('step')},
    }
    if res.frames:
        path = video_path(args.output, args.video_format)
        written = write_episodes_video(path, [res.frames[i] for i in args.video_episodes])
        extra['video'] = str(written[0])
        extra['video_episodes'] = list(args.video_episodes)
    return make_eval_report(res.seeds, res.scores, eval_config_dict(args), extra)


def main(argv: list[str] | None = None) -> int:
    args = build_eval_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s '
                        '%(message)s', stream=sys.stderr)
    if args.max_steps < 1:
        print(f'dp-ros eval: --max-steps must be >= 1, got {args.max_steps}', file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.via == 'ros':
        from dp_ros.ros.ros_eval import run_ros_eval
        report = run_ros_eval(args)
    else:
        report = run_inprocess_eval(args)
    tmp = args.output.with_name(f'.{args.output.name}.tmp')
    tmp.write_text(json.dumps(report, indent=2) + '\n')
    tmp.replace(args.output)
    for ep in report['episodes']:
        print(f"seed {ep['seed']}: score {ep['score']:.4f}")
    print(f"mean_score {report['mean_score']:.4f} over {report['n_episodes']} episodes "
          f'-> {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
