"""Training curves from a run's JSONL log, as one PNG (headless matplotlib).

`dp-ros plot RUN [RUN ...] --out curves.png` chains runs that warm-start one another
(train.init_from) on one step axis, with a dashed line where each stage starts.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

PANELS = (  # (title, [(event, key)], log-scale y)
    ('loss', [('train', 'loss'), ('val', 'val_loss')], True),
    ('sampled-action MSE (normalized)', [('action_mse', 'train_action_mse_norm'),
                                         ('action_mse', 'val_action_mse_norm')], True),
    ('test mean_score', [('eval', 'test/mean_score')], False),
    ('learning rate', [('train', 'lr')], False),
)


def read_log(path: str | Path) -> list[dict]:
    """The JSONL records; a line cut short by a kill is skipped."""
    records = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def series(records: list[dict], event: str, key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one key; after a resume the latest record of a step wins."""
    by_step: dict[int, float] = {}
    for r in records:
        if r.get('event') == event and key in r and r[key] is not None:
            by_step[int(r['step'])] = float(r[key])
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def plot_training_curves(log_paths: str | Path | list[str | Path], out_path: str | Path) -> Path:
    """One log, or several stages in order: stage k's steps follow stage k-1's last step."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    paths = [log_paths] if isinstance(log_paths, (str, Path)) else list(log_paths)
    stages, offset = [], 0
    for path in paths:
        records = read_log(path)
        stages.append((offset, records))
        offset += max((int(r['step']) for r in records if 'step' in r), default=0)
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(8, 2.6 * len(PANELS)), sharex=True)
    for ax, (title, keys, log_y) in zip(axes, PANELS, strict=True):
        values: list[float] = []
        for event, key in keys:
            x: list[int] = []
            y: list[float] = []
            for start, records in stages:
                sx, sy = series(records, event, key)
                x += [start + s for s in sx]
                y += sy
            if x:
                ax.plot(x, y, marker='o' if len(x) < 30 else None, ms=3, label=key)
                values += y
        for start, _ in stages[1:]:
            ax.axvline(start, color='grey', ls='--', lw=1)
        drawn = bool(values)
        if drawn and log_y and min(values) > 0:
            ax.set_yscale('log')
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
    axes[-1].set_xlabel('optimizer step' + (' (dashed: next stage starts)' if len(stages) > 1
                                            else ''))
    fig.tight_layout()
    return save_figure(fig, out_path)


def save_figure(fig: Any, out_path: str | Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure as PNG atomically (a reader never sees half a file), close it."""
    import matplotlib.pyplot as plt

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f'.{out_path.stem}.tmp.png')
    try:
        fig.savefig(tmp, dpi=dpi, format='png')
        tmp.replace(out_path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return out_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='dp-ros plot', description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', type=Path,
                        help='run directories (or log.jsonl files), earliest stage first')
    parser.add_argument('--out', type=Path, required=True, help='PNG to write')
    args = parser.parse_args(argv)
    logs = [r / 'log.jsonl' if r.is_dir() else r for r in args.runs]
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        print(f'dp-ros plot: no training log at {", ".join(missing)}', file=sys.stderr)
        return 2
    print(plot_training_curves(logs, args.out))
    return 0
