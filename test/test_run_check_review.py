"""Mutation review of training/run_check.py: which config changes a resume refuses (each for
its own reason), a saved config older or newer than this code, the control period's
tolerance, the eval sampling bound, and a warm-started run resuming after its init checkpoint
is gone; a policy section's own shape_meta used as given, a state saved before it recorded
its policy still refused for a policy without an observation its normalizer was fitted on,
and data.format matching the dataset check_run opens. check_resume and check_run are called
on a real 1-step run of the small synthetic store (test/tiny_runs.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import zarr
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from dp_ros.policy.config import PolicyConfig
from training.config import TrainConfig
from training.errors import TrainConfigError, TrainStateError
from training.lerobot_format import LeRobotFormatError
from training.lerobot_source import open_training_store
from training.run_check import (
    check_eval_sampling,
    check_resume,
    check_run,
    refusal,
    resolve_control_period,
)
from training.trainer import train

# the store's images without agent_pos: what a policy reading the camera alone declares
IMAGE_ONLY = {'obs': {'image': {'shape': [3, 8, 10], 'type': 'rgb'}}, 'action': {'shape': [2]}}


def _config(store: Path, **sections: dict) -> TrainConfig:
    """A 1-step run, saved at its step, on the small synthetic store."""
    return small_config(store, **{**sections, 'train': {'max_steps': 1, 'checkpoint_every': 1,
                                                        **sections.get('train', {})}})


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory) -> tuple[Path, Path]:
    """(a 1-step run with its train state, its store)."""
    root = tmp_path_factory.mktemp('run_check')
    store = write_small_store(root / 'small.zarr')
    train(_config(store), root / 'run')
    return root / 'run', store


def _image_only(store: Path) -> TrainConfig:
    return _config(store, policy={**_config(store).to_dict()['policy'],
                                  'shape_meta': IMAGE_ONLY})


def _check(run: Path, cfg: TrainConfig, saved: dict | None = None) -> tuple[str, ...]:
    state = run / 'train_state'
    saved = saved or json.loads((state / 'state.json').read_text())
    return check_resume(state, saved, cfg, check_run(cfg, run, 'never').policy_cfg)


@pytest.mark.parametrize('section, key, value, reason', [
    ('ema', 'power', 0.5, "the saved EMA keeps the run's own decay settings"),
    ('ema', 'inv_gamma', 2.0, "the saved EMA keeps the run's own decay settings"),
    ('data', 'split_seed', 7, 'drawn with the saved split'),
    ('train', 'init_from', 'RUN', 'only starts a fresh run'),  # a checkpoint that exists
])
def test_a_resume_refuses_a_setting_the_train_state_brings_its_own_of(saved_run, section,
                                                                      key, value, reason):
    """Each setting the saved optimizer, EMA, split or weights fixed is refused, with why."""
    run, store = saved_run
    value = str(run) if value == 'RUN' else value
    with pytest.raises(TrainStateError) as err:
        _check(run, _config(store, **{section: {key: value}}))
    assert f'{section}.{key} ' in str(err.value) and reason in str(err.value)


def test_a_key_no_table_names_is_refused():
    """What the code was not told a resume honours, it refuses (a key added later)."""
    assert refusal('train.a_new_setting') == 'a resume does not know how to apply it'
    assert refusal('optim.lr_warmup_steps') is None


def test_a_saved_config_older_or_newer_than_this_code_resumes(saved_run):
    """A key the saved config lacks counts as its default (written before the key existed);
    a key this code no longer has is ignored: neither is a change."""
    run, store = saved_run
    saved = json.loads((run / 'train_state' / 'state.json').read_text())
    config = json.loads(json.dumps(saved['config']))
    del config['optim']['eps'], config['ema']['inv_gamma']
    config['train']['a_removed_setting'] = 3
    assert _check(run, _config(store), {**saved, 'config': config}) == ()


def test_a_changed_path_is_named_whole(saved_run, tmp_path):
    """A change that takes effect is described with its values; a path is never cut short."""
    run, store = saved_run
    long_dir = tmp_path / ('a_long_directory_name_' * 3)
    long_dir.mkdir()
    moved = long_dir / 'small.zarr'
    shutil.copytree(store, moved)
    (change,) = _check(run, _config(moved))
    assert change == f'data.zarr_path "{store}" -> "{moved}"'


def test_the_control_period_must_match_the_recorded_one_to_a_thousandth(saved_run):
    """A store recording 0.1 s: 0.10005 s is the same rate (rel. 1e-3), 0.101 s is not."""
    _, store = saved_run
    recorded = store.parent / 'recorded.zarr'
    if not recorded.exists():
        shutil.copytree(store, recorded)
        zarr.open_group(str(recorded), mode='r+').attrs['control_period_s'] = 0.1
    source = open_training_store(recorded)
    cfg = _config(recorded, train={'control_period_s': 0.10005})
    resolve_control_period(cfg, recorded, source)
    assert cfg.train.control_period_s == 0.10005
    with pytest.raises(TrainConfigError, match='train.control_period_s is 0.101 s'):
        resolve_control_period(_config(recorded, train={'control_period_s': 0.101}), recorded,
                               source)


def test_a_bag_store_recording_no_period_is_said_to_be_taken_as_a_tenth_of_a_second(
        saved_run, caplog):
    """A store converted from bags before bag2zarr recorded the period (its arrays record
    their topics) gets 0.1 s, said once: a lab's 20 Hz bags trained silently as 10 Hz before.
    The paper's stores (no sources, 10 Hz) are not warned about."""
    _, store = saved_run
    bare = store.parent / 'bare.zarr'
    if not bare.exists():
        shutil.copytree(store, bare)
        attrs = zarr.open_group(str(bare), mode='r+').attrs
        for key in ('control_period_s', 'fps'):
            attrs.pop(key, None)

    def said(path: Path) -> list[str]:
        cfg = _config(path)
        caplog.clear()
        with caplog.at_level('WARNING', logger='dp_ros.train'):
            resolve_control_period(cfg, path, open_training_store(path))
        assert cfg.train.control_period_s == 0.1
        return [r.getMessage() for r in caplog.records
                if 'records no control period' in r.getMessage()]

    assert said(bare) == []  # no sources: the paper's kind of store
    from_bags = store.parent / 'from_bags.zarr'
    if not from_bags.exists():
        shutil.copytree(bare, from_bags)
        zarr.open_group(str(from_bags), mode='r+')['data']['action'].attrs['sources'] = [
            {'kind': 'joint_state', 'topic': '/joint_states', 'width': 2}]
    (line,) = said(from_bags)
    assert 'assuming 0.1 s' in line and 'train.control_period_s' in line


def test_eval_num_inference_steps_may_be_all_diffusion_steps(saved_run):
    """1..num_train_timesteps (100) is accepted, both ends; 101 is refused."""
    _, store = saved_run
    policy = check_run(_config(store), store.parent / 'fresh', 'never').policy_cfg
    assert policy.num_train_timesteps == 100
    for steps in (1, 100):
        check_eval_sampling(_config(store, eval={'num_inference_steps': steps}), policy)
    with pytest.raises(TrainConfigError, match='101 must be in 1..100'):
        check_eval_sampling(_config(store, eval={'num_inference_steps': 101}), policy)
    assert isinstance(policy, PolicyConfig)


def test_a_warm_started_run_resumes_after_its_init_checkpoint_is_gone(saved_run, tmp_path):
    """train.init_from only starts a fresh run: once the run has its train state, the
    checkpoint it started from is not read (moved or deleted, the run still resumes)."""
    run, store = saved_run
    init = tmp_path / 'init'
    shutil.copytree(run, init)
    warm = tmp_path / 'warm'
    cfg = _config(store, train={'init_from': str(init)})
    train(cfg, warm)
    shutil.rmtree(init)
    checked = check_run(_config(store, train={'init_from': str(init), 'max_steps': 2}), warm)
    assert checked.saved is not None and checked.init_from is None


def test_a_policy_section_with_its_own_shape_meta_is_used_as_given(saved_run, tmp_path):
    """shape_meta is read from the dataset only when the policy section has none: a policy
    section that lists the state before the camera keeps that order (the model's)."""
    _, store = saved_run
    state_first = {'obs': {'agent_pos': {'shape': [2], 'type': 'low_dim'},
                           'image': {'shape': [3, 8, 10], 'type': 'rgb'}},
                   'action': {'shape': [2]}}
    cfg = _config(store, policy={**_config(store).to_dict()['policy'],
                                 'shape_meta': state_first})
    checked = check_run(cfg, tmp_path / 'fresh', 'never')
    assert list(checked.policy_cfg.shape_meta['obs']) == ['agent_pos', 'image']
    fitted = check_run(_config(store), tmp_path / 'fresh', 'never').policy_cfg
    assert set(fitted.shape_meta['obs']) == {'image', 'agent_pos'}


def test_an_older_state_refuses_a_policy_without_an_observation_it_normalized(saved_run,
                                                                            tmp_path):
    """A state without policy_config is checked by its normalizer: agent_pos, which its
    weights read, is gone from the new policy's shape_meta, so the resume is refused."""
    run, store = saved_run
    run = Path(shutil.copytree(run, tmp_path / 'run'))
    state_file = run / 'train_state' / 'state.json'
    state = json.loads(state_file.read_text())
    del state['policy_config']
    state_file.write_text(json.dumps(state))
    with pytest.raises(TrainStateError, match=r'policy\.shape_meta\.obs\.agent_pos\.shape'):
        check_run(_image_only(store), run)


def test_data_format_lerobot_on_a_zarr_store_is_refused_by_check_run(saved_run, tmp_path):
    """data.format names what the path must be: check_run refuses a zarr store the config
    calls a LeRobotDataset before anything is read (and a new run is not started)."""
    _, store = saved_run
    with pytest.raises(LeRobotFormatError, match="data.format is 'lerobot'"):
        check_run(_config(store, data={'format': 'lerobot'}), tmp_path / 'fresh', 'never')
    assert not (tmp_path / 'fresh').exists()


def _pose_store(path: Path, wraps: dict[str, list[float]]) -> Path:
    """The small store with one array per entry of `wraps`, each of one pose source per yaw
    wrap given (a yaw value each, /<key>_<i>/ee_pose), recorded as bag2zarr records them."""
    import numpy as np
    from tiny_runs import small_arrays

    arrays = small_arrays()
    n = len(arrays['state'])
    arrays.update({k: np.zeros((n, len(v)), np.float32) for k, v in wraps.items()})
    write_small_store(path, arrays)
    group = zarr.open_group(str(path), mode='r+')
    for key, yaw_mins in wraps.items():
        group['data'][key].attrs['names'] = [f'{key}_{i}_yaw' for i in range(len(yaw_mins))]
        group['data'][key].attrs['sources'] = [
            {'kind': 'pose', 'topic': f'/{key}_{i}/ee_pose', 'width': 1, 'prefix': f'{key}_{i}_',
             'yaw_min': y} for i, y in enumerate(yaw_mins)]
    return path


@pytest.mark.parametrize('wraps, refused', [
    ({'arms': [0.0, -3.0]}, r'state \(arms\) has pose sources .* \(/arms_0/ee_pose from 0, '
                            r'/arms_1/ee_pose from -3\).* one yaw_min for every pose source$'),
    ({'left': [0.0], 'right': [-3.0]}, r'\(left, right\) .* or leave keys out of '
                                       r'data.low_dim_keys'),
    ({'arms': [-3.0, -3.0]}, None), ({'left': [0.0], 'right': [0.0]}, None)])
def test_a_state_whose_poses_were_wrapped_differently_is_refused_at_the_start(
        tmp_path, wraps, refused):
    """Pose sources converted with different yaw_min values, in one key or in two the policy
    reads: the policy node (one state_yaw_min) would refuse the policy, so training refuses
    it before it starts, naming each wrap; one wrap for all trains."""
    store = _pose_store(tmp_path / 'poses.zarr', wraps)
    cfg = _config(store, data={'low_dim_keys': {k: k for k in wraps}})
    if refused is None:
        policy = check_run(cfg, tmp_path / 'run', 'never').policy_cfg
        assert policy.low_dim_keys == list(wraps)
        assert all(policy.recorded_sources(k) for k in wraps)  # the wraps reached the policy
        return
    with pytest.raises(TrainConfigError, match=refused):
        check_run(cfg, tmp_path / 'run', 'never')
    assert not (tmp_path / 'run').exists()


def test_a_resume_past_max_steps_and_an_output_that_is_a_file_are_refused(tmp_path):
    """A train state at step 2 resumed with train.max_steps 1 trains nothing and would
    rewrite config.yaml with a value the run did not use: refused, naming both; --output
    naming a file is refused before anything loads (a traceback after the model was built
    before)."""
    store = write_small_store(tmp_path / 'small.zarr')
    train(_config(store, train={'max_steps': 2, 'checkpoint_every': 2}), tmp_path / 'run')
    with pytest.raises(TrainStateError, match=r'is at step 2, past train.max_steps 1: give '
                                              r'train.max_steps > 2'):
        check_run(_config(store, train={'max_steps': 1}), tmp_path / 'run')
    check_run(_config(store, train={'max_steps': 2}), tmp_path / 'run')  # done: accepted
    (tmp_path / 'a_file').write_text('x')
    with pytest.raises(TrainConfigError, match='--output .*a_file is a file'):
        check_run(_config(store), tmp_path / 'a_file')
