"""`dp-ros inspect` (training/inspect_dataset.py) on real zarr stores: its statistics are
numpy's, each planted defect is named with its key, dimension and place, a clean store and the
paper's Push-T data pass, and the plot and video are written."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from training.inspect_dataset import main, summarize
from training.replay_buffer import ReplayBuffer


def write_store(path, episodes: list[dict[str, np.ndarray]]) -> ReplayBuffer:
    buffer = ReplayBuffer.create(path)
    for episode in episodes:
        buffer.add_episode(episode)
    return ReplayBuffer.open(path)


def clean_episode(rng: np.random.Generator, n: int, offset: float = 0.0) -> dict[str, np.ndarray]:
    action = offset + np.cumsum(rng.normal(0, 1, (n, 2)), axis=0).astype(np.float32)
    return {'action': action,
            'state': np.concatenate([action, rng.normal(0, 1, (n, 1))], 1).astype(np.float32),
            'img': rng.integers(0, 256, (n, 12, 16, 3)).astype(np.uint8)}


def test_statistics_are_numpys_and_a_clean_store_passes(tmp_path):
    rng = np.random.default_rng(0)
    # the second episode starts 1000 away from where the first ended: not a jump
    episodes = [clean_episode(rng, 40), clean_episode(rng, 30, offset=1000.0)]
    summary = summarize(write_store(tmp_path / 'clean.zarr', episodes), horizon=16)
    assert (summary.errors, summary.warnings) == ([], [])
    assert (summary.n_episodes, summary.n_steps, summary.length_min, summary.length_max) == (
        2, 70, 30, 40)
    keys = {k.key: k for k in summary.keys}
    state = np.concatenate([e['state'] for e in episodes]).astype(np.float64)
    np.testing.assert_allclose(keys['state'].low, state.min(0))
    np.testing.assert_allclose(keys['state'].high, state.max(0))
    np.testing.assert_allclose(keys['state'].mean, state.mean(0), rtol=1e-9)
    np.testing.assert_allclose(keys['state'].std, state.std(0), rtol=1e-9)
    img = np.concatenate([e['img'] for e in episodes]).astype(np.float64)
    assert keys['img'].kind == 'image'
    assert (keys['img'].low[0], keys['img'].high[0]) == (img.min(), img.max())
    np.testing.assert_allclose(keys['img'].mean[0], img.mean(), rtol=1e-9)
    np.testing.assert_allclose(keys['img'].std[0], img.std(), rtol=1e-6)
    within = np.abs(np.diff(episodes[0]['action'].astype(np.float64), axis=0))
    assert keys['action'].largest_jump[0] >= within[:, 0].max()
    assert max(keys['action'].largest_jump) < 10  # the 1000 between episodes is not a step


def test_each_planted_defect_is_named_where_it_is(tmp_path):
    rng = np.random.default_rng(1)
    episodes = [clean_episode(rng, 40), clean_episode(rng, 40), clean_episode(rng, 5)]
    episodes[1]['action'][7:, 1] += 500.0  # a glitch: dim 1 jumps at episode 1 step 7
    episodes[0]['state'][:, 2] = 0.25  # a dead sensor: state[2] never changes
    episodes[1]['state'][:, 2] = 0.25
    episodes[2]['state'][:, 2] = 0.25
    episodes[0]['state'][3, 0] = np.nan
    episodes[1]['img'][12] = 77  # a covered camera: one frame of a single colour
    path = tmp_path / 'bad.zarr'
    write_store(path, episodes)
    summary = summarize(ReplayBuffer.open(path), horizon=16)
    assert summary.errors == ['state: 1 NaN or infinite value(s): dimension 0 (1, the first at '
                              'episode 0 step 3)']
    text = '\n'.join(summary.warnings)
    assert '1 episode(s) shorter than the horizon (16 steps): 2' in text
    assert 'img: 1 frame(s) of a single colour' in text
    assert 'state: dimension(s) [2] never change (value [0.25])' in text
    assert 'action[1] jumps by' in text and 'episode 1 step 7' in text
    assert len(summary.warnings) == 4, summary.warnings
    # the command: exit 1 on an error, the summary as JSON
    assert main([str(path), '--no-progress', '--json', str(tmp_path / 's.json')]) == 1
    assert json.loads((tmp_path / 's.json').read_text())['errors'] == summary.errors


def test_a_yaw_that_wraps_inside_the_task_is_named_with_a_better_wrap(tmp_path):
    """An end effector turning through pi, recorded with yaw in [-pi, pi): the wrap lies
    inside the task; the warning suggests the yaw_min in the middle of the angles never
    visited, and yaw recorded from there no longer jumps."""
    rng = np.random.default_rng(3)
    turn = np.linspace(2.6, 3.7, 30)  # rad: through pi

    def episode(yaw_min):
        yaw = (turn - yaw_min) % (2 * np.pi) + yaw_min
        e = clean_episode(rng, 30)
        e['state'] = np.stack([e['state'][:, 0], yaw], 1).astype(np.float32)
        return e

    path = tmp_path / 'wrap.zarr'
    write_store(path, [episode(-np.pi)])
    ReplayBuffer.open(path, mode='r+').data['state'].attrs['names'] = ['x', 'yaw']
    summary = summarize(ReplayBuffer.open(path), horizon=16)
    (warning,) = [w for w in summary.warnings if 'yaw' in w]
    assert warning.startswith('state[1] (yaw) jumps by 6.') and 'episode 0 step ' in warning
    suggest = float(warning.split("yaw_min: ")[1].split(' ')[0])
    # the middle of the 5.18 rad never visited: opposite the turn's middle (3.15 rad)
    assert suggest == pytest.approx(3.15 - np.pi, abs=0.01)
    path = tmp_path / 'unwrapped.zarr'
    write_store(path, [episode(suggest)])
    ReplayBuffer.open(path, mode='r+').data['state'].attrs['names'] = ['x', 'yaw']
    assert not [w for w in summarize(ReplayBuffer.open(path), horizon=16).warnings
                if 'yaw' in w]


@pytest.mark.parametrize('names, sources, wraps', [
    (['left_x', 'left_yaw'], [{'kind': 'pose', 'topic': '/left/ee_pose', 'width': 2,
                               'prefix': 'left_'}], True),
    (['left_x', 'left_yaw'], None, True),  # no sources recorded: beside another pose field
    (['x', 'left_yaw'], [{'kind': 'pose', 'topic': '/ee_pose', 'width': 1},
                         {'kind': 'pose', 'topic': '/left/ee_pose', 'width': 1,
                          'prefix': 'left_'}], True),
    # joints named for their axis: a continuous joint's wrap is not a pose source's yaw_min
    (['x', 'wrist_yaw'], None, False),
    (['wrist_x', 'wrist_yaw'], [{'kind': 'joint_state', 'topic': '/joint_states',
                                 'width': 2}], False),
])
def test_the_yaw_of_a_prefixed_pose_source_is_checked_too(tmp_path, names, sources, wraps):
    """bag2zarr names a prefixed pose source's fields left_x, left_yaw: its yaw is checked for
    a wrap inside the task as a plain `yaw` is (it was not); a joint named wrist_yaw is not."""
    turn = np.linspace(2.9, 3.5, 30)  # rad: through pi, recorded in [-pi, pi)
    e = clean_episode(np.random.default_rng(3), 30)
    e['state'] = np.stack([e['state'][:, 0], (turn + np.pi) % (2 * np.pi) - np.pi],
                          1).astype(np.float32)
    path = tmp_path / 'wrap.zarr'
    write_store(path, [e])
    attrs = ReplayBuffer.open(path, mode='r+').data['state'].attrs
    attrs['names'] = names
    if sources:
        attrs['sources'] = sources
    found = [w for w in summarize(ReplayBuffer.open(path), horizon=16).warnings
             if 'yaw wrap' in w]
    assert [w.split(' jumps')[0] for w in found] == ([f'state[1] ({names[1]})'] if wraps
                                                     else [])


@pytest.mark.parametrize('key, right_wrap, warned', [
    ('state', -np.pi, True), ('state', 0.0, False), ('action', -np.pi, False)])
def test_pose_sources_of_one_key_wrapped_differently_are_warned(tmp_path, key, right_wrap,
                                                                warned):
    """Two arms' yaw in one observation key, wrapped from 0 and from -pi: the policy node
    (one state_yaw_min) would refuse a policy trained on it, so inspect says so before
    training; one wrap for both, or an action key (no wrap in the node), is not warned."""
    e = clean_episode(np.random.default_rng(4), 30)
    e[key] = np.zeros((30, 2), np.float32)
    path = tmp_path / 'two_arms.zarr'
    write_store(path, [e])
    attrs = ReplayBuffer.open(path, mode='r+').data[key].attrs
    attrs['names'] = ['left_yaw', 'right_yaw']
    attrs['sources'] = [
        {'kind': 'pose', 'topic': '/left/ee_pose', 'width': 1, 'prefix': 'left_',
         'yaw_min': 0.0},
        {'kind': 'pose', 'topic': '/right/ee_pose', 'width': 1, 'prefix': 'right_',
         'yaw_min': right_wrap}]
    found = [w for w in summarize(ReplayBuffer.open(path), horizon=16).warnings
             if 'wrap yaw differently' in w]
    assert found == ([f'{key}: its pose sources wrap yaw differently (/left/ee_pose from 0, '
                      '/right/ee_pose from -3.14159): a policy node takes one state_yaw_min '
                      'for all, so `dp-ros train` refuses a policy reading it; convert with '
                      'one yaw_min for every pose source'] if warned else [])


def test_float_images_scaled_0_to_1_and_a_missing_action_are_errors(tmp_path):
    rng = np.random.default_rng(2)
    episode = {'state': rng.normal(0, 1, (20, 2)).astype(np.float32),
               'img': rng.uniform(0, 1, (20, 8, 8, 3)).astype(np.float32)}
    summary = summarize(write_store(tmp_path / 'unit.zarr', [episode]))
    assert any(e.startswith('img: float images within 0..') for e in summary.errors)
    assert any("no 'action' key" in e for e in summary.errors)


def test_warnings_fail_only_with_strict(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / 'short.zarr'
    write_store(path, [clean_episode(rng, 40), clean_episode(rng, 6)])
    assert main([str(path), '--no-progress']) == 0
    assert main([str(path), '--no-progress', '--strict']) == 1


def test_plot_and_video_of_chosen_episodes(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / 'd.zarr'
    write_store(path, [clean_episode(rng, n) for n in (30, 25, 20)])
    plot, video = tmp_path / 'out' / 'd.png', tmp_path / 'out' / 'd.gif'
    assert main([str(path), '--no-progress', '--episodes', '1:3', '--plot', str(plot),
                 '--video', str(video)]) == 0
    assert iio.imread(plot).ndim == 3
    frames = iio.imread(video)
    # 2 episodes side by side, 12 x 16 images enlarged 16 x (to >= 192 px high), 25 frames
    assert frames.shape[:3] == (25, 192, 2 * 256 + 2)
    with pytest.raises(ValueError, match='episodes 0..2'):
        main([str(path), '--no-progress', '--episodes', '5', '--plot', str(plot)])


def test_the_papers_pusht_data_passes(pusht_zarr):
    summary = summarize(ReplayBuffer.open(pusht_zarr))
    assert (summary.errors, summary.warnings) == ([], [])
    assert (summary.n_episodes, summary.n_steps) == (206, 25650)
    keys = {k.key: k for k in summary.keys}
    assert keys['img'].kind == 'image' and keys['img'].high == [255.0]
    assert keys['keypoint'].step_shape == [9, 2] and len(keys['keypoint'].low) == 18
    assert keys['action'].low == [12.0, 25.0] and keys['action'].high == [511.0, 511.0]


def test_a_lerobot_dataset_is_read_as_dp_ros_train_reads_it(tmp_path):
    """zarr -> `dp-ros convert` -> LeRobot: the same episodes and low-dim statistics, the
    camera decoded from its video (a lossy codec: only its shape and a sane range)."""
    from training.lerobot_convert import main as convert

    rng = np.random.default_rng(6)
    episodes = [clean_episode(rng, 24), clean_episode(rng, 18)]
    for e in episodes:  # a smooth image a video codec keeps close
        e['img'] = np.broadcast_to(np.linspace(40, 220, 16, dtype=np.uint8)[None, None, :, None],
                                   (len(e['action']), 12, 16, 3)).copy()
    zarr_path = write_store(tmp_path / 'd.zarr', episodes).location
    assert convert([zarr_path, str(tmp_path / 'lerobot'), '--fps', '10', '--no-progress']) == 0
    lerobot = tmp_path / 'lerobot'
    assert main([str(lerobot), '--no-progress', '--json', str(tmp_path / 'l.json')]) == 0
    from_lerobot = json.loads((tmp_path / 'l.json').read_text())
    from_zarr = summarize(ReplayBuffer.open(zarr_path))
    assert (from_lerobot['n_episodes'], from_lerobot['n_steps']) == (2, 42)
    keys = {k['key']: k for k in from_lerobot['keys']}
    zarr_keys = {k.key: k for k in from_zarr.keys}
    assert keys['action']['low'] == zarr_keys['action'].low
    assert keys['action']['std'] == pytest.approx(zarr_keys['action'].std)
    camera = keys['observation.image']
    assert camera['kind'] == 'image' and camera['step_shape'] == [12, 16, 3]
    assert 20 <= camera['low'][0] < camera['high'][0] <= 255


def test_a_dimension_far_from_0_for_its_range_is_named_for_float32(tmp_path):
    """A UTM easting (5.4e6 m) moving 10 m, stored as float64: training and the node compute
    in float32, whose steps there are 0.5 m (a review: 56 distinct values became 19, with no
    word from inspect or train). Named with its float32 step and the share of its range."""
    rng = np.random.default_rng(2)
    episodes = [clean_episode(rng, 40) for _ in range(2)]
    for e in episodes:
        e['state'] = e['state'].astype(np.float64)
        e['state'][:, 0] = 5.4e6 + rng.uniform(0, 10, len(e['state']))
    path = tmp_path / 'utm.zarr'
    write_store(path, episodes)
    text = '\n'.join(summarize(ReplayBuffer.open(path), horizon=16).warnings)
    assert 'state: dimension(s) [0] lie far from 0 for their range' in text, text
    assert 'float32, whose steps there are 0.5 (5.' in text, text
    assert 'action: dimension' not in text  # radians-sized data near 0: not named
