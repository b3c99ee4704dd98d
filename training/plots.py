"""Training curves from the run's JSONL log, as one PNG (headless matplotlib)."""
from __future__ import annotations

import json
from pathlib import Path

PANELS = (  # (title, [(event, key)], log-scale y)
    ('loss', [('train', 'loss'), ('val', 'val_loss')], True),
    ('train action MSE (normalized)', [('action_mse', 'train_action_mse_norm')], True),
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


def plot_training_curves(log_path: str | Path, out_path: str | Path) -> Path:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(8, 2.6 * len(PANELS)), sharex=True)
    for ax, (title, keys, log_y) in zip(axes, PANELS, strict=True):
        values: list[float] = []
        for event, key in keys:
            x, y = series(records, event, key)
            if x:
                ax.plot(x, y, marker='o' if len(x) < 30 else None, ms=3, label=key)
                values += y
        drawn = bool(values)
        if drawn and log_y and min(values) > 0:
            ax.set_yscale('log')
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
    axes[-1].set_xlabel('optimizer step')
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f'.{out_path.stem}.tmp.png')
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(out_path)
    return out_path
