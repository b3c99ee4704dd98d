"""Does the open-loop error choose the checkpoint the closed loop would?

    .venv/bin/python bench/bench_open_loop_selection.py RUN/checkpoints/step_* \
        [--sample-seeds 0 1 2] [--output bench/results/open_loop_selection.json] \
        [--plot docs/media/open_loop_selection.png]

A robot without a simulator chooses among a run's snapshots (train.snapshot_every) by what it
can measure offline. This bench scores those measures against a closed loop, on Push-T where
one exists: each policy must carry the closed-loop score of its own weights (a run with
train.eval_every equal to train.snapshot_every: each snapshot's policy.json records its
training evaluation's test/mean_score, 50 paper seeds).

Offline measures, per policy:
- open_loop_rmse_norm: `dp-ros open-loop` on the held-out episodes, the same episodes and
  sampling noise for every policy, averaged over --sample-seeds (its spread is reported);
- val_action_mse_norm and val_loss: what the training logged at that step (log.jsonl of the
  run the policy came from), when it did.

Reported: each measure's rank (Spearman) and linear (Pearson) correlation with the closed-loop
score (sign flipped: lower error should mean higher score, so +1 is a perfect predictor), and
the checkpoint each measure would pick with the closed-loop score it has (regret: the best
score minus that one), beside the last snapshot's. The plot is the comparison plot of
`dp-ros open-loop` for the first sample seed (error against training step, the closed-loop
score on a second axis).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def ranks(values: list[float]) -> np.ndarray:
    """Ranks 0..n-1, ties given their mean rank."""
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind='stable')
    r = np.empty(len(v))
    r[order] = np.arange(len(v))
    for x in np.unique(v):
        tie = v == x
        r[tie] = r[tie].mean()
    return r


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def logged_at(run_dir: Path, step: int) -> dict[str, float]:
    """val_action_mse_norm, val_loss and train_action_mse_norm (the gap to the held-out one
    shows overfitting) the run logged at step (empty where it did not)."""
    log = run_dir / 'log.jsonl'
    out: dict[str, float] = {}
    if not log.exists():
        return out
    for line in log.read_text().splitlines():
        r = json.loads(line)
        if r.get('step') != step:
            continue
        for key in ('val_action_mse_norm', 'val_loss', 'train_action_mse_norm'):
            if r.get(key) is not None:
                out[key] = float(r[key])
    return out


def predictor_summary(name: str, error: list[float], scores: list[float],
                      labels: list[str]) -> dict:
    """How well `error` (lower = better) orders the closed-loop scores, and what it picks."""
    e, s = np.asarray(error), np.asarray(scores)
    pick = int(np.argmin(e))
    return {
        'measure': name,
        'spearman': pearson(ranks(-e), ranks(s)),
        'pearson': pearson(-e, s),
        'pick': labels[pick], 'pick_score': float(s[pick]),
        'regret': float(s.max() - s[pick]),
    }


def main(argv: list[str] | None = None) -> int:
    from dp_ros.atomic_dir import write_text
    from training.open_loop import main as open_loop
    from training.open_loop import read_entries

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('policies', nargs='+', type=Path)
    p.add_argument('--sample-seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--episodes', help='default: the held-out split')
    p.add_argument('--output', type=Path,
                   default=REPO / 'bench' / 'results' / 'open_loop_selection.json')
    p.add_argument('--plot', type=Path, help='default: --output as .png')
    args = p.parse_args(argv)
    if len(args.policies) < 3:
        p.error('give at least 3 policies (the snapshots of a run)')
    entries = read_entries([str(d) for d in args.policies])  # the snapshots in step order
    args.policies = [Path(e.path) for e in entries]
    scores = [e.closed_loop_score for e in entries]
    missing = [str(d) for d, s in zip(args.policies, scores, strict=True) if s is None]
    if missing:
        p.error(f'no closed-loop score in policy.json of {", ".join(missing)} (a run with '
                'train.eval_every equal to train.snapshot_every records one per snapshot)')

    t0 = time.time()
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, seed in enumerate(args.sample_seeds):
            out = Path(tmp) / f'seed{seed}.json'
            cmd = [*map(str, args.policies), '--output', str(out), '--sample-seed', str(seed),
                   '--no-progress', *(['--episodes', args.episodes] if args.episodes else []),
                   *([] if i == 0 else ['--no-plot'])]
            if open_loop(cmd) != 0:
                return 1
            reports.append(json.loads(out.read_text()))
            if i == 0:
                plot = args.plot or args.output.with_suffix('.png')
                plot.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out.with_suffix('.png'), plot)

    first = reports[0]
    rmse = np.array([[q['metrics']['rmse_norm'] for q in r['policies']] for r in reports])
    first_step = np.array([[q['metrics']['by_chunk_step']['rmse_norm'][0]
                            for q in r['policies']] for r in reports])
    rows, labels = [], []
    for k, (d, entry) in enumerate(zip(args.policies, entries, strict=True)):
        run_dir, step = entry.meta.get('provenance', {}).get('run_dir'), entry.step
        logged = logged_at(Path(run_dir), step) if run_dir else {}
        labels.append(str(d))
        rows.append({'policy': str(d), 'step': step, 'closed_loop_score': scores[k],
                     'open_loop_rmse_norm': float(rmse[:, k].mean()),
                     'open_loop_rmse_norm_by_seed': rmse[:, k].tolist(),
                     'open_loop_first_action_rmse_norm': float(first_step[:, k].mean()),
                     **logged})
    measures = [predictor_summary('open_loop_rmse_norm',
                                  [r['open_loop_rmse_norm'] for r in rows], scores, labels),
                predictor_summary('open_loop_first_action_rmse_norm',
                                  [r['open_loop_first_action_rmse_norm'] for r in rows],
                                  scores, labels)]
    for key in ('val_action_mse_norm', 'val_loss'):
        if all(key in r for r in rows):
            measures.append(predictor_summary(key, [r[key] for r in rows], scores, labels))
    best = int(np.argmax(scores))
    result = {
        'bench': 'open_loop_selection', 'command': 'python bench/bench_open_loop_selection.py '
        + ' '.join(sys.argv[1:] if argv is None else argv),
        'dataset': first['dataset'], 'episodes_chosen': first['episodes_chosen'],
        'episodes': first['episodes'], 'sample_seeds': args.sample_seeds,
        'n_chunks_per_policy': first['policies'][0]['metrics']['n_chunks'],
        'hold_rmse_norm': first['policies'][0]['metrics']['hold_rmse_norm'],
        'policies': rows, 'measures': measures,
        'best_closed_loop': {'policy': labels[best], 'score': float(scores[best])},
        'last_policy': {'policy': labels[-1], 'score': float(scores[-1]),
                        'regret': float(max(scores) - scores[-1])},
        'open_loop_seed_spread_max': float((rmse.max(0) - rmse.min(0)).max()),
        'wall_s': round(time.time() - t0, 1), 'machine': platform.node(),
        'cpu_count': os.cpu_count(), 'load_average_after': [round(x, 2) for x in os.getloadavg()],
    }
    write_text(args.output, json.dumps(result, indent=1) + '\n')
    print(f"{'policy':<40}{'step':>7}{'score':>8}{'ol_rmse':>9}{'val_mse':>9}{'trn_mse':>9}"
          f"{'val_loss':>9}")
    nan = float('nan')
    for r in rows:
        print(f"{r['policy'][-40:]:<40}{r['step']:>7}{r['closed_loop_score']:>8.3f}"
              f"{r['open_loop_rmse_norm']:>9.4f}{r.get('val_action_mse_norm', nan):>9.4f}"
              f"{r.get('train_action_mse_norm', nan):>9.4f}{r.get('val_loss', nan):>9.4f}")
    for m in measures:
        rho = 'n/a' if m['spearman'] is None else f"{m['spearman']:+.2f}"
        print(f"{m['measure']:<34} spearman {rho}, picks {m['pick']} "
              f"(score {m['pick_score']:.3f}, regret {m['regret']:.3f})")
    print(f"best closed loop: {labels[best]} ({scores[best]:.3f}); last: {scores[-1]:.3f}")
    print(f'-> {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
