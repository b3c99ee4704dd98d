"""`dp-ros inspect DATASET`: camera frames of a single colour (a dead or covered camera) are
named with their episodes and first steps, as the README says of every finding and as the
NaN error names its places; the warning gave only a count."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_inspect_dataset import clean_episode, write_store

from training.inspect_dataset import main, summarize


def test_single_colour_frames_name_their_episodes_and_first_steps(tmp_path):
    rng = np.random.default_rng(0)
    episodes = [clean_episode(rng, 20) for _ in range(3)]
    episodes[1]['img'][5:10] = 0  # covered for 5 steps
    episodes[2]['img'][[3, 17]] = 200
    path = tmp_path / 'd.zarr'
    s = summarize(write_store(path, episodes), horizon=16)
    assert ('img: 7 frame(s) of a single colour (a dead or covered camera?): episode 1 (5, '
            'the first at step 5); episode 2 (2, the first at step 3)') in s.warnings, s.warnings
    assert main([str(path), '--no-progress', '--json', str(tmp_path / 's.json')]) == 0
    (img,) = [k for k in json.loads((tmp_path / 's.json').read_text())['keys']
              if k['key'] == 'img']
    assert img['flat_frames_at'] == [{'episode': 1, 'frames': 5, 'step': 5},
                                     {'episode': 2, 'frames': 2, 'step': 3}]


@pytest.mark.parametrize('dead', [8, 10])
def test_many_episodes_of_single_colour_frames_are_named_a_few_then_counted(tmp_path, dead):
    """A camera dead in 10 episodes: the first 8 named, then how many in all; in 8, all 8
    named and nothing counted (the cut's edge)."""
    rng = np.random.default_rng(1)
    episodes = [clean_episode(rng, 4) for _ in range(dead)]
    for e in episodes:
        e['img'][1] = 9
    s = summarize(write_store(tmp_path / 'd.zarr', episodes), horizon=4)
    (warning,) = [w for w in s.warnings if w.startswith('img:')]
    assert warning.startswith(f'img: {dead} frame(s) of a single colour (a dead or covered '
                              'camera?): episode 0 (1, the first at step 1); episode 1 (1, ')
    assert warning.endswith('episode 7 (1, the first at step 1)' + (
        '; ... (10 episodes in all)' if dead == 10 else ''))
