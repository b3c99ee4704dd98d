"""The paper's protocol in-process and over ROS with the same checkpoint, seeds and sample seed.

Usage: python bench/bench_eval_parity.py [--checkpoint checkpoints/pusht_default]
           [--seeds 100000:100050] [--threads 2]
Runs `dp-ros eval --via inprocess --batch-size 1` (one episode at a time, so the floats are
those of the node, which plans one episode at a time) and `dp-ros eval --via ros` (sim
bridge + policy node in lockstep), then compares per-episode scores. Writes
bench/results/eval_parity.json (scores, wall times, differences) and keeps both eval reports
beside it (eval_parity_inprocess.json, eval_parity_ros.json), with the machine's
fingerprint of the policy's arithmetic (dp_ros/policy/fingerprint.py): the scores replay to
the bit only where it matches (test/test_shipped_policy.py checks them there).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dp_ros.app import evaluate  # noqa: E402
from dp_ros.policy.fingerprint import checkpoint_fingerprint  # noqa: E402

RESULTS = REPO / 'bench' / 'results' / 'eval_parity.json'


def run(via: str, args: argparse.Namespace, out: Path) -> tuple[dict, float]:
    argv = ['--checkpoint', str(args.checkpoint), '--via', via, '--seeds', args.seeds,
            '--sample-seed', str(args.sample_seed), '--output', str(out), '--no-progress',
            '--video-episodes', '', '--threads', str(args.threads),
            '--max-steps', str(args.max_steps)]
    if via == 'inprocess':
        argv += ['--batch-size', '1']
    start = time.perf_counter()
    if evaluate.main(argv) != 0:
        raise SystemExit(f'dp-ros eval --via {via} failed')
    return json.loads(out.read_text()), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--checkpoint', type=Path, default=REPO / 'checkpoints' / 'pusht_default')
    p.add_argument('--seeds', default='100000:100050')
    p.add_argument('--sample-seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--max-steps', type=int, default=300)
    p.add_argument('--out', type=Path, default=RESULTS)
    args = p.parse_args(argv)
    reports = {via: args.out.with_name(f'{args.out.stem}_{via}.json')
               for via in ('inprocess', 'ros')}
    inproc, t_in = run('inprocess', args, reports['inprocess'])
    ros, t_ros = run('ros', args, reports['ros'])
    a = [e['score'] for e in inproc['episodes']]
    b = [e['score'] for e in ros['episodes']]
    diffs = [abs(x - y) for x, y in zip(a, b, strict=True)]
    report = {
        'checkpoint': str(args.checkpoint), 'seeds': args.seeds, 'sample_seed': args.sample_seed,
        'max_steps': args.max_steps,
        'inprocess': {'mean_score': inproc['mean_score'], 'scores': a, 'wall_s': round(t_in, 1)},
        'ros': {'mean_score': ros['mean_score'], 'scores': b, 'wall_s': round(t_ros, 1)},
        'identical_episodes': sum(d == 0.0 for d in diffs), 'n_episodes': len(diffs),
        'max_abs_score_difference': max(diffs),
        'load_average_after': [round(x, 2) for x in os.getloadavg()],
        # the in-process run's arithmetic (TorchScript, fp32, --threads) on this machine
        'machine': {'chunk_fingerprint': checkpoint_fingerprint(args.checkpoint, args.threads),
                    'threads': args.threads},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + '\n')
    print(json.dumps({k: v for k, v in report.items() if k not in ('inprocess', 'ros')}))
    print(f"mean_score in-process {inproc['mean_score']:.4f}, over ROS {ros['mean_score']:.4f}"
          f' -> {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
