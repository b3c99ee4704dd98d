"""`dp-ros eval`: closed-loop Push-T evaluation of a policy artifact.

--via inprocess steps the simulator in this process (batched, training/closed_loop.py);
--via ros runs the sim bridge and the policy node as ROS 2 processes
(dp_ros.app.ros_eval.run_ros_eval). Both take the arguments and write the report of
dp_ros/app/eval_report.py, and give the same per-episode scores for the same seeds and
--sample-seed, up to float rounding: batched convolutions round otherwise than one episode's,
and over a long contact-rich episode that can move a score (seed 100001 scored 0.955 and
0.974 at batch 1 and 2 on one machine, the other way round with one thread on another: the
values depend on the CPU and the thread count); `--batch-size 1` is the ROS path's
arithmetic, and equals it on the same machine.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from dp_ros.app.eval_report import (
    build_eval_parser,
    check_eval_args,
    check_video_episodes,
    eval_config_dict,
    make_eval_report,
    skipped_note,
    video_path,
)
from dp_ros.atomic_dir import write_text
from sim_bridge.video import episode_label

log = logging.getLogger('dp_ros.eval')


def run_inprocess_eval(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from dp_ros.policy.checkpoint import load_policy, read_policy_metadata
    from training.closed_loop import run_closed_loop
    from training.video import write_episodes_video

    if args.threads:
        torch.set_num_threads(args.threads)
    meta = read_policy_metadata(args.checkpoint)
    dtype = getattr(torch, args.dtype)
    policy = load_policy(args.checkpoint, device=args.device,
                         dtype=None if dtype == torch.float32 else dtype)
    policy.use_torchscript(not args.eager)
    check_video_episodes(args.video_episodes, len(args.seeds))
    late = policy.config.late_start_warning(args.num_inference_steps, '--num-inference-steps')
    if late:
        print(f'dp-ros eval: warning: {late}', file=sys.stderr)
    res = run_closed_loop(policy, args.seeds, robot=args.robot, max_steps=args.max_steps,
                          sampler=args.sampler,
                          num_inference_steps=args.num_inference_steps,
                          sample_seed=args.sample_seed, batch_size=args.batch_size,
                          video_episodes=args.video_episodes, progress=not args.no_progress)
    extra: dict[str, Any] = {
        'episode_steps': res.steps, 'episode_success': res.success,
        'wall_time_s': res.seconds, 'finished_at': time.time(),
        **({'refused_targets': res.refused} if res.refused else {}),
        'policy': {'sampler': args.sampler or policy.config.sampler,
                   'num_inference_steps': args.num_inference_steps
                   or policy.config.num_inference_steps,
                   'provenance_step': meta.get('provenance', {}).get('step')},
    }
    if res.frames:
        path = video_path(args.output, args.video_format)
        try:  # the episodes have run: a video that cannot be written must not lose them
            written = write_episodes_video(  # each tile says its seed and score
                path, [res.frames[i] for i in args.video_episodes],
                labels=[episode_label(res.seeds[i], res.scores[i])
                        for i in args.video_episodes])
            extra['video'] = str(written[0])
        except (OSError, RuntimeError, ValueError) as exc:
            # an OSError of the writer names the video itself
            extra['video_error'] = (str(exc) if isinstance(exc, OSError) and exc.filename
                                    else f'{path}: {exc}')
            log.error('could not write the video %s (%s); the report is written', path, exc)
        extra['video_episodes'] = list(args.video_episodes)
    return make_eval_report(res.seeds, res.scores, eval_config_dict(args), extra)


def main(argv: list[str] | None = None) -> int:
    """Expected errors are raised as UserError: `dp-ros eval` (dp_ros/cli.py) prints them."""
    args = build_eval_parser().parse_args(argv)
    check_eval_args(args)  # before any file is written or process started
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s '
                        '%(message)s', stream=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.via == 'ros':
        from dp_ros.app.ros_eval import run_ros_eval
        report = run_ros_eval(args)
    else:
        report = run_inprocess_eval(args)
    write_text(args.output, json.dumps(report, indent=2) + '\n')  # swapped in whole
    print('\n'.join(summary_lines(report, args.output)))
    return 0


def summary_lines(report: dict[str, Any], output: Path) -> list[str]:
    """What `dp-ros eval` prints: a line per episode, the mean and where the report went,
    and where the video went (or why there is none), which the report alone would hide."""
    skipped = report.get('episode_slots_skipped') or [0] * report['n_episodes']  # realtime
    lines = [episode_label(ep['seed'], ep['score']) + skipped_note(slots)
             for ep, slots in zip(report['episodes'], skipped, strict=True)]
    unclean = sum(1 for slots in skipped if slots)
    lines.append(f"mean_score {report['mean_score']:.4f} over {report['n_episodes']} episodes "
                 f'-> {output}' + (f' ({unclean} of them skipped control periods: not a clean '
                                   'realtime score)' if unclean else ''))
    videos = report.get('videos') or ([report['video']] if report.get('video') else [])
    if videos:  # ros: one file per episode; inprocess: one tiled file
        lines.append('video -> ' + ', '.join(map(str, videos)))
    if report.get('video_error'):
        lines.append(f"video not written: {report['video_error']}")
    return lines


if __name__ == '__main__':
    from dp_ros.cli import run_subcommand

    sys.exit(run_subcommand('eval', sys.argv[1:]))
