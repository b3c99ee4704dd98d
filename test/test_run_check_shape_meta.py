"""A policy section with its own shape_meta is checked against the windows the data keys make
of the dataset (run_check.check_shape_meta_fits, dataset_meta.policy_data_misfit, the check
`dp-ros open-loop` makes too): an image size, a state or action width or an observation key
the dataset does not give is a one-line TrainConfigError before anything is written, where
it passed and crashed the first training step with a traceback after the run directory was
written (and an earlier run there set aside)."""
from __future__ import annotations

import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from training.errors import TrainConfigError
from training.run_check import check_run

IMAGE = {'shape': [3, 8, 10], 'type': 'rgb'}
STATE = {'shape': [2], 'type': 'low_dim'}


@pytest.mark.parametrize('shape_meta, says', [
    # the paper's Push-T shape_meta copied into a config for 8 x 10 frames
    ({'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'}, 'agent_pos': STATE},
      'action': {'shape': [2]}}, r'image is \(3, 8, 10\) .* the policy takes \(3, 96, 96\)'),
    ({'obs': {'image': IMAGE, 'agent_pos': {'shape': [5], 'type': 'low_dim'}},
      'action': {'shape': [2]}}, r'agent_pos is \(2,\) .* the policy takes \(5,\)'),
    ({'obs': {'camera': IMAGE, 'agent_pos': STATE}, 'action': {'shape': [2]}},
     'camera: the training keys give no such observation .*image, agent_pos'),
    ({'obs': {'image': IMAGE, 'agent_pos': STATE}, 'action': {'shape': [3]}},
     r'action is \(2,\) .* the policy takes \(3,\)'),
], ids=['image_size', 'state_width', 'obs_key', 'action_width'])
def test_a_shape_meta_the_dataset_does_not_fit_is_a_config_error(tmp_path, shape_meta, says):
    """policy.shape_meta whose image size, state or action width or obs key the dataset
    (8 x 10 images, agent_pos = state[0:2], 2-D action) does not give is refused by
    check_run in one line naming the key, and no run directory is made."""
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store)
    cfg.policy = {**cfg.policy, 'shape_meta': shape_meta}
    with pytest.raises(TrainConfigError, match='policy.shape_meta does not fit') as err:
        check_run(cfg, tmp_path / 'run', 'never')
    assert '\n' not in str(err.value)
    assert err.match(says)
    assert not (tmp_path / 'run').exists()


def test_a_shape_meta_the_dataset_fits_is_used_as_given(tmp_path):
    """One that fits (here in another order than the dataset's, the state first) is the
    policy's, order included."""
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store)
    cfg.policy = {**cfg.policy, 'shape_meta': {'obs': {'agent_pos': STATE, 'image': IMAGE},
                                               'action': {'shape': [2]}}}
    checked = check_run(cfg, tmp_path / 'run', 'never')
    assert list(checked.policy_cfg.shape_meta['obs']) == ['agent_pos', 'image']


def _recorded_store(tmp_path):
    """A small store with what bag2zarr records beside the arrays: the camera crop its
    frames were cut with, the joint names of the state and the action."""
    import zarr

    store = write_small_store(tmp_path / 'small.zarr')
    group = zarr.open_group(str(store), mode='r+')
    group['data/img'].attrs['camera_crop'] = [100, 40, 400, 320]
    group['data/state'].attrs['names'] = ['j1', 'j2', 'j3', 'j4', 'j5']
    group['data/action'].attrs['names'] = ['j1', 'j2']
    return store


def test_a_given_shape_meta_takes_the_crop_and_names_the_dataset_recorded(tmp_path):
    """A shape_meta copied into a config (no camera_crop, no names) dropped what the dataset
    recorded: the checkpoint told the node to fit the whole live frame, another field of view
    than training's, and its joint-order check was skipped. Taken from the dataset now, in
    the given order."""
    store = _recorded_store(tmp_path)
    cfg = small_config(store)
    cfg.policy = {**cfg.policy, 'shape_meta': {'obs': {'agent_pos': STATE, 'image': IMAGE},
                                               'action': {'shape': [2]}}}
    policy = check_run(cfg, tmp_path / 'run', 'never').policy_cfg
    assert list(policy.shape_meta['obs']) == ['agent_pos', 'image']
    assert list(policy.camera_crop('image')) == [100, 40, 400, 320]
    assert list(policy.dimension_names('agent_pos')) == ['j1', 'j2']
    assert list(policy.dimension_names('action')) == ['j1', 'j2']


def test_a_given_shape_meta_stating_another_crop_is_refused(tmp_path):
    store = _recorded_store(tmp_path)
    cfg = small_config(store)
    cfg.policy = {**cfg.policy, 'shape_meta': {
        'obs': {'image': {**IMAGE, 'camera_crop': [0, 0, 640, 480]}, 'agent_pos': STATE},
        'action': {'shape': [2]}}}
    with pytest.raises(TrainConfigError) as err:
        check_run(cfg, tmp_path / 'run', 'never')
    assert str(err.value) == (
        f'policy.shape_meta does not fit {store}: image camera_crop is [0, 0, 640, 480], the '
        "dataset recorded [100, 40, 400, 320]; leave that field out to take the dataset's (the "
        'node fits live frames and checks the joints by it)')
    assert not (tmp_path / 'run').exists()


def test_a_run_saved_without_the_recorded_crop_resumes_as_it_trained(tmp_path, caplog):
    """A run started before a given shape_meta took the dataset's crop (its saved policy has
    none) was refused on resume (camera_crop null -> [...] is a network change), with advice
    the new check refuses too: only --resume never went on. It resumes as it trained, said."""
    import json
    import logging

    from training.trainer import train

    store = _recorded_store(tmp_path)
    cfg = small_config(store)
    cfg.policy = {**cfg.policy, 'shape_meta': {'obs': {'agent_pos': STATE, 'image': IMAGE},
                                               'action': {'shape': [2]}}}
    cfg.train.max_steps = 2
    run = tmp_path / 'run'
    train(cfg, run)
    state = run / 'train_state' / 'state.json'
    saved = json.loads(state.read_text())
    image = saved['policy_config']['shape_meta']['obs']['image']
    assert image.pop('camera_crop') == [100, 40, 400, 320]  # as a run saved before it
    state.write_text(json.dumps(saved))
    cfg.train.max_steps = 4
    with caplog.at_level(logging.WARNING):
        checked = check_run(cfg, run, 'auto')
    assert checked.saved is not None and checked.policy_cfg.camera_crop('image') is None
    said = [r.getMessage() for r in caplog.records if 'resuming a run saved without' in
            r.getMessage()]
    assert len(said) == 1 and said[0].startswith(
        "resuming a run saved without the dataset's image camera_crop"), said
