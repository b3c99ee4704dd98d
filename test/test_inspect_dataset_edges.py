"""`dp-ros inspect DATASET` (training/inspect_dataset.py) at its edges: each check at its
threshold (an episode exactly the horizon long, float images reaching 1.0, a uint8 mask, an
action jump of 60% of its range), the counts it prints (non-finite values over frames, the
median episode length), single-channel cameras taken as images, one-step episodes, a zarr v3
store, and the command's refusals (a horizon of 0, several datasets, several policies) and
its one-line errors. Stores are real zarr replay buffers."""
from __future__ import annotations

import numpy as np
import pytest
import zarr
from support import make_tiny_checkpoint
from test_inspect_dataset import clean_episode, write_store

from dp_ros import cli
from dp_ros.errors import UserError
from training.inspect_dataset import main, summarize
from training.replay_buffer import ReplayBuffer


def episodes(*lengths: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [clean_episode(rng, n) for n in lengths]


def keys_of(summary) -> dict:
    return {k.key: k for k in summary.keys}


def test_an_episode_exactly_the_horizon_long_is_not_short(tmp_path):
    summary = summarize(write_store(tmp_path / 'd.zarr', episodes(16, 15)), horizon=16)
    assert [w for w in summary.warnings if 'horizon' in w] == [
        '1 episode(s) shorter than the horizon (16 steps): 1; their windows are padded with '
        'the edge steps']


def test_float_images_reaching_exactly_1_are_scaled_0_to_1(tmp_path):
    (e,) = episodes(20)
    e['img'] = (e['img'] / 255.0).astype(np.float32)
    e['img'][3] = 1.0
    summary = summarize(write_store(tmp_path / 'unit.zarr', [e]))
    assert summary.errors == ['img: float images within 0..1; the paper layout (and training) '
                              'expects 0..255']


def test_a_uint8_mask_of_0_and_1_is_not_called_a_float_image(tmp_path):
    (e,) = episodes(20)
    e['img'] = (e['img'] > 127).astype(np.uint8)
    summary = summarize(write_store(tmp_path / 'mask.zarr', [e]))
    assert summary.errors == [] and keys_of(summary)['img'].high == [1.0]


def test_non_finite_pixels_are_counted_over_every_frame(tmp_path):
    (e,) = episodes(20)
    e['img'] = e['img'].astype(np.float32)
    e['img'][2, 0, 0, 0] = np.nan
    e['img'][7, 1, 1, 1] = np.inf
    e['img'][7, 2, 2, 2] = np.nan
    summary = summarize(write_store(tmp_path / 'nan.zarr', [e]))
    assert summary.errors == ['img: 3 NaN or infinite value(s) in 2 frame(s), the first at '
                              'episode 0 step 2']


def test_a_single_channel_camera_is_an_image(tmp_path):
    (e,) = episodes(20)
    e['img'] = e['img'][..., :1]
    img = keys_of(summarize(write_store(tmp_path / 'gray.zarr', [e])))['img']
    assert (img.kind, img.step_shape, len(img.low)) == ('image', [12, 16, 1], 1)


def test_an_action_jump_of_60_percent_of_its_range_is_named(tmp_path):
    """Dimension 0 walks from 0 up to 10 and down to 2 in steps of 1, then jumps to 8."""
    (e,) = episodes(22)
    e['action'][:, 0] = [*range(11), *range(9, 1, -1), *range(8, 11)]
    e['action'][:, 1] = np.arange(22)
    summary = summarize(write_store(tmp_path / 'jump.zarr', [e]), horizon=16)
    jumps = [w for w in summary.warnings if 'jumps' in w]
    assert jumps == ['action[0] jumps by 6 (60% of its range) in one step: episode 0 step 19']


def test_one_step_episodes_have_no_jumps_and_no_crash(tmp_path):
    """Every step its own episode: no step lies inside an episode."""
    summary = summarize(write_store(tmp_path / 'ones.zarr', episodes(1, 1, 1)), horizon=1)
    action = keys_of(summary)['action']
    assert action.largest_jump == [0.0, 0.0] and action.largest_jump_at == [[0, 0], [0, 0]]
    assert summary.errors == []


def test_the_median_episode_length_is_the_median(tmp_path, capsys):
    path = tmp_path / 'd.zarr'
    write_store(path, episodes(10, 60, 20))
    assert main([str(path), '--no-progress', '--horizon', '4']) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head == (f'{path}: 3 episodes, 90 steps; episode length min 10, median 20, max 60')


def test_a_zarr_v3_store_is_inspected_as_a_dataset(tmp_path, capsys):
    """A store zarr 3 writes in its own format (zarr.json, no .zgroup) is a dataset, not a
    folder of bags."""
    path = tmp_path / 'v3.zarr'
    (e,) = episodes(20)
    root = zarr.open_group(str(path), mode='w', zarr_format=3)
    for key, value in e.items():
        root.create_array(f'data/{key}', data=value)
    root.create_array('meta/episode_ends', data=np.array([20], np.int64))
    assert main([str(path), '--no-progress']) == 0
    assert capsys.readouterr().out.startswith(f'{path}: 1 episodes, 20 steps')


def test_a_horizon_below_1_is_refused(tmp_path):
    path = tmp_path / 'd.zarr'
    write_store(path, episodes(20))
    with pytest.raises(UserError, match='--horizon must be at least 1, got 0'):
        main([str(path), '--horizon', '0'])


def test_two_datasets_or_two_policies_are_refused_not_half_inspected(tmp_path):
    first, second = tmp_path / 'a.zarr', tmp_path / 'b.zarr'
    write_store(first, episodes(20))
    write_store(second, episodes(20))
    with pytest.raises(UserError, match='a dataset is inspected alone'):
        main([str(first), str(second), '--no-progress'])
    policy = make_tiny_checkpoint(tmp_path / 'policy')
    with pytest.raises(UserError, match='a policy directory is inspected alone'):
        main([str(policy), str(policy)])


def test_a_store_without_episodes_is_reported_not_a_traceback(tmp_path):
    path = tmp_path / 'empty.zarr'
    ReplayBuffer.create(path)
    data = zarr.open_group(str(path), mode='r+')['data']
    data.create_array('action', shape=(0, 2), dtype='f4')
    data.create_array('img', shape=(0, 8, 8, 3), dtype='u1')
    summary = summarize(ReplayBuffer.open(path))
    assert summary.errors == ['no episodes']


def test_a_video_frame_rate_of_0_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / 'd.zarr'
    write_store(path, episodes(20))
    assert cli.main(['inspect', str(path), '--no-progress', '--fps', '0', '--video',
                     str(tmp_path / 'v.gif')]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ['dp-ros inspect: --fps must be > 0 for --video, got 0.0']


def test_an_empty_last_episode_is_named_not_a_traceback(tmp_path):
    path = tmp_path / 'trailing.zarr'
    write_store(path, episodes(10, 10))
    ends = zarr.open_group(str(path), mode='r+')['meta/episode_ends']
    ends.resize((3,))
    ends[2] = 20
    summary = summarize(ReplayBuffer.open(path), horizon=4)
    assert summary.warnings == ['1 episode(s) shorter than the horizon (4 steps): 2; their '
                                'windows are padded with the edge steps']


def test_a_seven_joint_arms_gripper_range_is_printed():
    """min/max/mean/std printed 6 values then '...': a 7-joint arm's gripper never showed."""
    from training.inspect_dataset import _fmt

    assert _fmt([float(i) for i in range(8)]) == '[0, 1, 2, 3, 4, 5, 6, 7]'
    wide = _fmt([float(i) for i in range(20)])
    assert wide.startswith('[0, 1, 2,') and wide.endswith(', 15, ...] (20 dims; --json has all)')
