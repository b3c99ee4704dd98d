"""`dp-ros inspect DATASET` on non-finite values: the README's promise that findings name "the
key, dimension, episode and step" holds for NaN and inf too (as `dp-ros open-loop`'s own check
names dimensions and episodes), and `--json` stays strict JSON (null, not the NaN token strict
parsers refuse) when a dimension has no finite value at all."""
from __future__ import annotations

import json
import warnings

import numpy as np
from test_inspect_dataset import write_store

from training.inspect_dataset import main, summarize


def episodes_with_nan(nan_everywhere: bool = False) -> list[dict[str, np.ndarray]]:
    out = []
    for n in (20, 20):
        action = np.stack([np.linspace(0, 1, n), np.linspace(1, 0, n)], 1).astype(np.float32)
        out.append({'action': action, 'state': action.copy()})
    if nan_everywhere:
        for e in out:
            e['action'][:, 1] = np.nan
    else:
        out[1]['action'][3, 1] = np.nan
    return out


def test_a_nan_is_named_with_its_dimension_episode_and_step(tmp_path):
    """One NaN in action dimension 1, episode 1, step 3: the error says where."""
    s = summarize(write_store(tmp_path / 'd.zarr', episodes_with_nan()))
    assert s.errors == ['action: 1 NaN or infinite value(s): dimension 1 (1, the first at '
                        'episode 1 step 3)']


def test_each_dimension_is_named_with_its_count_and_first_place(tmp_path):
    """NaN and inf in two dimensions of two episodes: per dimension its count and its first."""
    episodes = episodes_with_nan()
    episodes[0]['state'][5, 0] = np.inf
    episodes[1]['state'][0, 0] = -np.inf
    episodes[1]['state'][19, 1] = np.nan
    s = summarize(write_store(tmp_path / 'd.zarr', episodes))
    assert ('state: 3 NaN or infinite value(s): dimension 0 (2, the first at episode 0 step 5); '
            'dimension 1 (1, the first at episode 1 step 19)') in s.errors, s.errors


def test_non_finite_pixels_name_their_frames(tmp_path):
    """A float camera with NaN in two frames of the second episode: the frames and the first."""
    episodes = episodes_with_nan()
    for e in episodes:
        e['img'] = np.full((20, 8, 8, 3), 100.0, dtype=np.float32)
        e['img'][:, 0, 0, 0] = np.arange(20)  # no frame of one colour
    episodes[1]['img'][[4, 9], 1, 1] = np.nan
    s = summarize(write_store(tmp_path / 'd.zarr', episodes))
    assert ('img: 6 NaN or infinite value(s) in 2 frame(s), the first at episode 1 step 4'
            in s.errors), s.errors


def test_the_json_summary_of_an_all_nan_dimension_is_standard_json(tmp_path):
    """--json writes null for the statistics of a dimension with no finite value."""
    write_store(tmp_path / 'd.zarr', episodes_with_nan(nan_everywhere=True))
    out = tmp_path / 's.json'
    assert main([str(tmp_path / 'd.zarr'), '--json', str(out), '--no-progress']) == 1

    def refuse(token: str):
        raise ValueError(f'non-standard JSON token {token}')

    summary = json.loads(out.read_text(), parse_constant=refuse)
    action = next(k for k in summary['keys'] if k['key'] == 'action')
    assert (action['low'][1], action['high'][1], action['mean'][1]) == (None, None, None)
    assert action['low'][0] == 0.0
    assert action['non_finite_at'] == [{'dimension': 1, 'count': 40, 'episode': 0, 'step': 0}]


def test_an_all_nan_image_frame_is_the_error_alone_not_a_numpy_warning(tmp_path):
    """A float camera frame wholly NaN (and a camera key wholly NaN): the NaN error names
    it; numpy's 'All-NaN slice encountered' RuntimeWarning no longer reaches stderr."""
    episodes = episodes_with_nan()
    for e in episodes:
        e['img'] = np.full((20, 8, 8, 3), 100.0, dtype=np.float32)
        e['img'][:, 0, 0, 0] = np.arange(20)
        e['dead'] = np.full((20, 4, 4, 1), np.nan, dtype=np.float32)
    episodes[1]['img'][4] = np.nan
    buffer = write_store(tmp_path / 'd.zarr', episodes)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        s = summarize(buffer)
    assert ('img: 192 NaN or infinite value(s) in 1 frame(s), the first at episode 1 step 4'
            in s.errors), s.errors
    assert ('dead: 640 NaN or infinite value(s) in 40 frame(s), the first at episode 0 step 0'
            in s.errors), s.errors
