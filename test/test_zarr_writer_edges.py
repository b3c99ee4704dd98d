"""Appending bags to a store that does not fit them: one line naming the store and what
differs, before anything is written (the other writer tests cover a new store's episodes)."""
from __future__ import annotations

import os

import yaml
from support import nonempty_lines
from test_zarr_writer import WALL, run, write_bag, write_config

from training.replay_buffer import ReplayBuffer


def test_appending_bags_of_another_camera_size_names_the_store(tmp_path, capsys):
    """A store of 8x8 frames refuses 6x10 ones with its own path, not a bare ValueError."""
    config, output = write_config(tmp_path / 'c.yaml'), tmp_path / 'out.zarr'
    assert run([write_bag(tmp_path / 'b1', 8, 8)], config, output) == 0
    capsys.readouterr()
    assert run([write_bag(tmp_path / 'b2', 6, 10, WALL + 10**10)], config, output) == 2
    (err,) = nonempty_lines(capsys.readouterr().err)
    assert err.startswith(f'dp-ros bag2zarr: cannot append to {output}: data/img has step '
                          'shape (8, 8, 3), the bags give (6, 10, 3)'), err
    assert ReplayBuffer.open(output).n_episodes == 1
    assert sorted(os.listdir(tmp_path)) == ['b1', 'b2', 'c.yaml', 'out.zarr']


def test_appending_with_fewer_keys_than_the_store_is_refused_up_front(tmp_path, capsys):
    """A config that makes a subset of the store's keys cannot append (episodes lack keys)."""
    bag, output = write_bag(tmp_path / 'b', 8, 8), tmp_path / 'out.zarr'
    assert run([bag], write_config(tmp_path / 'c.yaml'), output) == 0
    capsys.readouterr()
    state_only = tmp_path / 'state.yaml'
    state_only.write_text(yaml.safe_dump({
        'control_period_s': 0.1, 'reference_topic': '/cam',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']}}}))
    assert run([bag], state_only, output) == 2
    (err,) = nonempty_lines(capsys.readouterr().err)
    assert err.startswith(f"dp-ros bag2zarr: cannot append to {output}: it holds keys "
                          "['img', 'state'], the config makes ['state']"), err
    assert ReplayBuffer.open(output).n_episodes == 1
