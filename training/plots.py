"""Training curves from a run's JSONL log, as one figure (PNG; PDF, SVG or JPEG by its suffix).

`dp-ros plot RUN [RUN ...] --out curves.png` chains runs that warm-start one another
(train.init_from) on one step axis, with a dashed line where each stage starts (at the step
of the previous stage's checkpoint it started from: a step_* snapshot, best or latest);
`--compare` draws the runs over one another instead, each from its own step 0 (two recipes,
two action spaces), a colour per run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from dp_ros.atomic_dir import check_writable_file, naming
from dp_ros.errors import UserError
from dp_ros.params import is_number

PANELS = (  # (title, [(event, key)], log-scale y)
    ('loss', [('train', 'loss'), ('val', 'val_loss')], True),
    ('sampled-action MSE (normalized)', [('action_mse', 'train_action_mse_norm'),
                                         ('action_mse', 'val_action_mse_norm')], True),
    ('test mean_score', [('eval', 'test/mean_score')], False),
    ('learning rate', [('train', 'lr')], False),
)
PLOTTED = {(event, key) for _, keys, _ in PANELS for event, key in keys}  # what is drawn
# training.run_dir.CONFIG_FILE, not imported: run_dir imports run_log, which imports this module
RUN_CONFIG = 'config.yaml'


def read_log(path: str | Path) -> list[dict]:
    """The JSONL records; a line cut short by a kill is skipped. A file that is not a
    training log (not text, a line that is JSON but no record, a record without a step or
    whose step is no number, a drawn value that is neither a number nor null) is a
    UserError: one line naming the line, exit 2. A drawn value that is a string or a list is
    refused rather than left out: the trainer never writes one, so the file was written by
    something else or damaged, and a curve with silent gaps would hide that."""
    def not_a_log(why: str) -> UserError:
        return UserError(f'{path} is not a training log ({why}): give a run directory or its '
                         'log.jsonl')

    try:
        text = Path(path).read_text(encoding='utf-8')
    except UnicodeDecodeError:
        raise not_a_log('not UTF-8 text') from None
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            raise not_a_log(f'line {n} is JSON but not a record {{...}}')
        if 'step' not in record:
            raise not_a_log(f'line {n}: a record without a step')
        step = record['step']
        if not is_number(step) or not math.isfinite(step):  # json.loads reads NaN, Infinity
            raise not_a_log(f'line {n}: step {step!r} is not a number')
        for key, value in record.items():  # a NaN loss is a number; null: none that step
            if (record.get('event'), key) in PLOTTED and value is not None \
                    and not is_number(value):
                raise not_a_log(f'line {n}: {key} {value!r} is not a number')
        records.append(record)
    return records


def series(records: list[dict], event: str, key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one key; after a resume the latest record of a step wins."""
    by_step: dict[int, float] = {}
    for r in records:
        if r.get('event') == event and key in r and r[key] is not None:
            by_step[int(r['step'])] = float(r[key])
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


class Line(NamedTuple):
    """One line of a panel."""
    label: str
    steps: list[int]
    values: list[float]
    run: int  # which run (compared), 0 when chained
    key: int  # which of the panel's keys (train/val)


def run_name(log_path: Path) -> str:
    """A run's label: its directory's name for a run's log.jsonl (normalized: `dp-ros plot .`
    inside the run gives log.jsonl, whose parent's name is empty, `plot ..` '..'), else the
    file's stem."""
    if log_path.name != 'log.jsonl':
        return log_path.stem
    return Path(os.path.normpath(log_path.absolute())).parent.name  # '..' too, links kept


def warm_start_step(run_dir: Path, previous_dir: Path) -> int | None:
    """The step of the previous stage's checkpoint a run warm-started from (its config.yaml's
    train.init_from, inside previous_dir: a step_* snapshot, best or latest; the step its
    policy.json records); None when that is not known (no config or init_from, a checkpoint
    of another run, files gone): the stage then follows the previous one's last step."""
    import yaml

    from training.warm_start import init_checkpoint

    try:
        config = yaml.safe_load((run_dir / RUN_CONFIG).read_text(encoding='utf-8'))
        init = init_checkpoint(_from_previous(Path(config['train']['init_from']).expanduser(),
                                              previous_dir))
        if not init.resolve().is_relative_to(previous_dir.resolve()):
            return None
        step = json.loads((init / 'policy.json').read_text(encoding='utf-8'))['provenance']['step']
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return None
    return int(step) if is_number(step) and step >= 0 else None


def _from_previous(init_from: Path, previous_dir: Path) -> Path:
    """A relative train.init_from (relative to where that training ran, not to where plot
    runs) read inside previous_dir: the part after previous_dir's own name there
    (s1/checkpoints/step_50 -> <previous_dir>/checkpoints/step_50), when that exists;
    else init_from as it is."""
    if init_from.is_absolute():
        return init_from
    parts = init_from.parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == previous_dir.name and previous_dir.joinpath(*parts[i + 1:]).exists():
            return previous_dir.joinpath(*parts[i + 1:])
    return init_from


def stage_starts(runs: list[tuple[str, list[dict]]],
                 warm_steps: list[int | None] | None = None) -> list[int]:
    """Where each run starts when chained: at the previous run's start plus the step it
    warm-started from (warm_steps[k], warm_start_step), else plus its last step."""
    starts, offset = [], 0
    warm_steps = warm_steps or [None] * len(runs)
    for k, (_, records) in enumerate(runs):
        if k and warm_steps[k] is not None:
            offset = starts[-1] + warm_steps[k]
        starts.append(offset)
        offset += max((int(r['step']) for r in records), default=0)
    return starts


def panel_lines(runs: list[tuple[str, list[dict]]], compare: bool = False,
                warm_steps: list[int | None] | None = None) -> list[list[Line]]:
    """Per panel of PANELS, the lines to draw. Chained (compare=False): one line per key,
    run k's steps following run k-1's (stage_starts), the line broken (a NaN) where a stage
    starts before the previous one's last step; compared: one line per run and key, each run
    from its own step 0, labelled with the run's name."""
    panels: list[list[Line]] = []
    starts = [0] * len(runs) if compare else stage_starts(runs, warm_steps)
    ends = [start + max((int(r['step']) for r in records), default=0)
            for start, (_, records) in zip(starts, runs, strict=True)]
    branches = [k > 0 and starts[k] < ends[k - 1] for k in range(len(runs))]
    for _, keys, _ in PANELS:
        lines: list[Line] = []
        for k, (event, key) in enumerate(keys):
            parts = [(name, start, *series(records, event, key))
                     for (name, records), start in zip(runs, starts, strict=True)]
            if compare:
                lines += [Line(f'{name}: {key}', [start + s for s in x], y, run, k)
                          for run, (name, start, x, y) in enumerate(parts)]
                continue
            steps: list[int] = []
            values: list[float] = []
            for (_, start, x, y), branch in zip(parts, branches, strict=True):
                if branch and steps and x:  # a stage from an earlier step: no line back
                    steps.append(start)
                    values.append(math.nan)
                steps += [start + s for s in x]
                values += y
            lines.append(Line(key, steps, values, 0, k))
        panels.append([line for line in lines if line.steps])
    return panels


class NonFinite(NamedTuple):
    """Where a run's loss (a key of the loss panel) first became NaN or inf."""
    label: str  # 'loss not finite (nan) from step N', the run's name first when compared
    step: int  # on the figure's step axis
    run: int  # which run (compared), else the stage


def first_nonfinite(runs: list[tuple[str, list[dict]]], compare: bool = False,
                    warm_steps: list[int | None] | None = None) -> list[NonFinite]:
    """Per run (stage), the first step at which a loss-panel key was logged NaN or inf
    (the trainer logs the value, json writes NaN/Infinity, then it stops): the curve just
    ends there, which reads like a run cut short, so the figure marks it."""
    starts = [0] * len(runs) if compare else stage_starts(runs, warm_steps)
    (keys,) = [keys for title, keys, _ in PANELS if title == 'loss']
    found = []
    for run, ((name, records), start) in enumerate(zip(runs, starts, strict=True)):
        bad = [(step, key, value) for event, key in keys
               for step, value in zip(*series(records, event, key), strict=True)
               if not math.isfinite(value)]
        if bad:
            step, key, value = min(bad)
            label = f'{key} not finite ({value}) from step {step}'
            found.append(NonFinite(f'{name}: {label}' if compare or len(runs) > 1 else label,
                                   start + step, run))
    return found


def y_scale(values: list[float], log_y: bool) -> str:
    """'log' for a log-scale panel whose drawn values are all above 0, else 'linear': a log
    axis cannot show 0 or less (an MSE of exactly 0, a negative score). NaN and inf are not
    drawn, so they do not decide, wherever they fall in the list."""
    drawn = [v for v in values if math.isfinite(v)]
    return 'log' if log_y and drawn and min(drawn) > 0 else 'linear'


def figure_title(names: list[str], compare: bool) -> str:
    """Which runs a figure shows (a PNG passed around loses its file name): the run, the
    stages in order, or the compared runs; wrapped to stay inside the figure's width."""
    import textwrap

    if compare:
        text = 'compared: ' + ', '.join(names)
    else:
        text = ('run ' if len(names) == 1 else 'stages ') + ' -> '.join(names)
    return textwrap.fill(text, 90)


def plot_training_curves(log_paths: str | Path | list[str | Path], out_path: str | Path,
                         compare: bool = False, names: list[str] | None = None,
                         say: Callable[[str], None] | None = None) -> Path:
    """One log, several stages in order (stage k's steps follow stage k-1's last step), or
    with compare=True several runs over one another (names: their labels; default the run
    directories' names). A loss that became NaN or inf is a dotted red line at its first
    step on every panel, labelled in the loss panel's legend, and passed to `say` (the
    command prints it)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    one = isinstance(log_paths, (str, Path))
    paths = [Path(log_paths)] if one else [Path(p) for p in log_paths]
    names = names or [run_name(p) for p in paths]
    runs = [(name, read_log(path)) for name, path in zip(names, paths, strict=True)]
    warm_steps = None if compare else [None] + [  # each stage's start, from its config.yaml
        warm_start_step(path.parent, previous.parent)
        for previous, path in zip(paths[:-1], paths[1:], strict=True)]
    starts = stage_starts(runs, warm_steps)
    nonfinite = first_nonfinite(runs, compare, warm_steps)
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(8, 2.6 * len(PANELS)), sharex=True)
    for ax, (title, _, log_y), lines in zip(axes, PANELS,
                                            panel_lines(runs, compare, warm_steps),
                                            strict=True):
        for line in lines:
            # compared: a colour per run, a panel's second key (val beside train) dashed
            style = {'color': f'C{line.run}', 'ls': ('-', '--')[line.key % 2]} if compare else {}
            ax.plot(line.steps, line.values, marker='o' if len(line.steps) < 30 else None,
                    ms=3, label=line.label, **style)
        if not compare:
            for start in starts[1:]:
                ax.axvline(start, color='grey', ls='--', lw=1)
        for mark in nonfinite:  # labelled once, in the loss panel (PANELS[0])
            ax.axvline(mark.step, color=f'C{mark.run}' if compare else 'red', ls=':', lw=1.5,
                       label=mark.label if ax is axes[0] else None)
        values = [v for line in lines for v in line.values]
        ax.set_yscale(y_scale(values, log_y))
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if values or (nonfinite and ax is axes[0]):
            ax.legend(fontsize=8)
    chained = not compare and len(runs) > 1
    axes[-1].set_xlabel('optimizer step' + (' (dashed: next stage starts)' if chained else ''))
    fig.suptitle(figure_title(names, compare), fontsize=11)
    fig.tight_layout()
    if say:
        for mark in nonfinite:
            say(mark.label)
    return save_figure(fig, out_path)


FIGURE_FORMATS = ('.png', '.pdf', '.svg', '.jpg', '.jpeg')  # matplotlib's (jpg: Pillow)


def figure_format(out_path: str | Path) -> str:
    """The format a figure file's suffix names ('png' without one); ValueError for another."""
    suffix = Path(out_path).suffix.lower() or '.png'
    if suffix not in FIGURE_FORMATS:
        raise ValueError(f"must end in one of {', '.join(FIGURE_FORMATS)} (the suffix names "
                         f"the format), got '{out_path}'")
    return suffix[1:]


def check_figure_path(out_path: str | Path, flag: str, example: str = 'curves.png') -> None:
    """A figure output checked before the run: a format save_figure writes, a writable place.
    UserError (one line, exit 2) naming `flag`."""
    try:
        figure_format(out_path)
    except ValueError as exc:
        raise UserError(f'{flag} {exc}') from None
    check_writable_file(out_path, flag, example)


def save_figure(fig: Any, out_path: str | Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure in the format its suffix names (figure_format: PNG, PDF, SVG,
    JPEG), atomically (a reader never sees half a file), and close it."""
    import matplotlib.pyplot as plt

    out_path = Path(out_path)
    try:
        fmt = figure_format(out_path)
    except ValueError:
        plt.close(fig)
        raise
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f'.{out_path.stem}.tmp.{fmt}')
    try:
        with naming(out_path, tmp):  # a full disk's line names the figure, not its stand-in
            fig.savefig(tmp, dpi=dpi, format=fmt)
            tmp.replace(out_path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return out_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='dp-ros plot', description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', type=Path,
                        help='run directories (or log.jsonl files), earliest stage first')
    parser.add_argument('--out', type=Path, required=True,
                        help='figure to write: .png, .pdf, .svg or .jpg')
    parser.add_argument('--compare', action='store_true',
                        help='draw the runs over one another, each from step 0, instead of '
                             'chaining them as warm-start stages')
    parser.add_argument('--names', nargs='+', default=None,
                        help='a label per log (default: the run directories\' names); with '
                             '--compare, distinct')
    args = parser.parse_args(argv)
    logs = [r / 'log.jsonl' if r.is_dir() else r for r in args.runs]
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        print(f'dp-ros plot: no training log at {", ".join(missing)}', file=sys.stderr)
        return 2
    names = args.names or [run_name(p) for p in logs]
    if len(names) != len(logs) or (args.compare and len(set(names)) != len(names)):
        print(f'dp-ros plot: --names needs one {"distinct " if args.compare else ""}label per '
              f'log ({len(logs)}), got {names}', file=sys.stderr)
        return 2
    check_figure_path(args.out, '--out')
    empty = [str(p) for p in logs if not any(r.get('event') == 'train' for r in read_log(p))]
    if empty:  # empty panels and exit 0 would look like a plot
        raise UserError(f'no training records in {", ".join(empty)} (a run stopped before its '
                        'first logged step?)')
    print(plot_training_curves(logs, args.out, compare=args.compare, names=names,
                               say=lambda text: print(f'dp-ros plot: {text}', file=sys.stderr)))
    return 0
