"""`dp-ros open-loop` with several policies draws their errors against the training step: a
policy given out of step order (checkpoints/best before step_*) must not make the curve run
back and forth along the step axis."""
from __future__ import annotations

import matplotlib

matplotlib.use('Agg')
from matplotlib.figure import Figure  # noqa: E402

from training.open_loop import plot_comparison  # noqa: E402


def policy(name: str, step: int, rmse: float) -> dict:
    return {'policy': name, 'step': step, 'closed_loop_score': 0.5,
            'metrics': {'rmse_norm': rmse, 'hold_rmse_norm': 0.5,
                        'by_chunk_step': {'rmse_norm': [rmse / 2, rmse]}}}


def test_the_comparison_curve_follows_the_training_steps(tmp_path, monkeypatch):
    """best (step 3000) given first, then step_001000 and step_002000: each drawn line's
    x values rise, and the lowest-error star stays at best's step."""
    drawn: list[tuple[str, list[float]]] = []
    save = Figure.savefig

    def keep_lines(fig, *args, **kwargs):
        drawn.extend((line.get_label(), [float(x) for x in line.get_xdata()])
                     for ax in fig.axes for line in ax.get_lines())
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, 'savefig', keep_lines)
    report = {'policies': [policy('run/checkpoints/best', 3000, 0.1),
                           policy('run/checkpoints/step_001000', 1000, 0.3),
                           policy('run/checkpoints/step_002000', 2000, 0.2)],
              'episodes': [0, 1], 'episodes_chosen': 'val', 'dataset': 'demos.zarr'}
    assert plot_comparison(report, tmp_path / 'c.png').is_file()
    curves = [(label, x) for label, x in drawn if len(x) == 3]
    assert curves, drawn
    for label, x in curves:
        assert x == sorted(x), (label, x)
    assert ('lowest error', [3000.0]) in drawn  # the star still marks best's step
