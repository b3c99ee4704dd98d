"""`dp-ros open-loop` with a policy whose chunks come out NaN (finite data far outside the
range it was trained on: a state of 3e38 overflows its network): refused in one line naming
the episodes and steps and that the observations are outside the training range, and no
report. It wrote NaN tokens (no JSON) into the report, then crashed in its summary. Found by
review."""
from __future__ import annotations

import json
import math

import numpy as np
from support import one_torch_thread, write_random_walk_store  # noqa: F401 (autouse)
from test_open_loop_edges import trained_on

from dp_ros.cli import run_subcommand
from training.open_loop import EpisodeChunks, chunk_starts, error_metrics, format_summary
from training.replay_buffer import ReplayBuffer


def test_chunks_that_come_out_non_finite_are_refused_naming_episodes_and_steps(tmp_path,
                                                                               capsys):
    store = tmp_path / 'demos.zarr'
    write_random_walk_store(store, [12, 10])
    policy = trained_on(tmp_path / 'p', store)
    huge = tmp_path / 'huge.zarr'
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer.create(huge)
    for n, far in ((12, False), (10, True)):  # episode 1's positions at 3e38: finite, far out
        action = 250 + np.cumsum(rng.normal(0, 5, (n, 2)), axis=0)
        state = np.concatenate([action, rng.normal(0, 1, (n, 3))], 1)
        if far:
            state[:, :2] = 3e38
        buffer.add_episode({'img': rng.integers(0, 256, (n, 96, 96, 3)).astype(np.uint8),
                            'state': state.astype(np.float32), 'action': action.astype(np.float32)})
    out = tmp_path / 'ol.json'
    code = run_subcommand('open-loop', [policy, '--dataset', str(huge), '--output', str(out),
                                        '--no-progress'])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert '2 chunk(s) came out not finite (NaN or inf): episode 1 at step(s) 0, 8' in lines[0]
    assert 'agent_pos dimension(s) [0, 1] up to 3e+38 outside its training range' in lines[0]
    assert not out.exists() and not out.with_suffix('.png').exists()
    # the episode whose observations are in range is measured
    assert run_subcommand('open-loop', [policy, '--dataset', str(huge), '--output', str(out),
                                        '--no-progress', '--no-plot', '--episodes', '0']) == 0
    assert math.isfinite(json.loads(out.read_text())['metrics']['rmse_norm'])


def test_the_metrics_of_a_non_finite_prediction_are_json_and_print(tmp_path):
    """What error_metrics makes of a NaN in a chunk (the command refuses such chunks first):
    no bare NaN in the JSON, and a summary that prints '-' for it."""
    recorded = np.cumsum(np.ones((20, 2)), 0)
    c = EpisodeChunks(0, recorded, chunk_starts(20, 8))
    c.predicted = np.full((len(c.starts), 16, 2), 5.0)
    c.predicted[1, 3, 0] = np.nan
    m = error_metrics([c], np.array([0.1, 0.1]), 2, 8)
    json.dumps(m, allow_nan=False)
    assert m['per_dimension']['mae'][0] is None and m['per_dimension']['max_abs'][0] is None
    report = {'policy': 'p', 'dataset': 'd', 'episodes_chosen': 'all', 'episodes': [0],
              'metrics': m, 'action_names': ['a', 'b'], 'warnings': []}
    assert format_summary(report).splitlines()[3].split()[:4] == ['a', '-', '-', '-']
