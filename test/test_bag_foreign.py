"""Bags from another writer (issue 12): bare .mcap (Foxglove's mcap-ros2-support) and bare .db3.

A 30 Hz rgb8 camera with padded rows, 100 Hz JointState with the joints in another order,
10 Hz JointTrajectory commands, stamps rounded 1 ns either way: `dp-ros bag2zarr` with the
example arm config's settings gives back exactly what was recorded at each grid time.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import (
    DT_NS,
    FOREIGN_JOINTS,
    FOREIGN_T0_NS,
    FOREIGN_TOPICS,
    MS,
    ROUNDINGS,
    foreign_bag_config,
    mcap_to_bare_db3,
    node_observation_indices,
    write_foreign_mcap,
)

from dp_ros.bags.reader import BagReadError, find_bags
from dp_ros.bags.recorder import write_pusht_bag
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.deprecated_keys import DeprecatedKeyWarning
from training.replay_buffer import ReplayBuffer


def convert(folder: Path, config: dict, tmp_path: Path, capsys=None) -> ReplayBuffer:
    path = tmp_path / f'config_{len(list(tmp_path.glob("config_*")))}.yaml'
    path.write_text(yaml.safe_dump(config))
    output = tmp_path / 'out.zarr'
    rc = bag2zarr.main([str(folder), '-c', str(path), '-o', str(output), '--overwrite',
                        '--no-progress'])
    assert rc == 0, capsys.readouterr() if capsys else rc
    return ReplayBuffer.open(output)


def bare_bag(tmp_path: Path, storage: str, **kwargs) -> tuple[Path, dict]:
    """A folder holding one bare storage file (no metadata.yaml anywhere)."""
    folder = tmp_path / 'bags'
    folder.mkdir()
    truth = write_foreign_mcap(folder / 'foreign.mcap', **kwargs)
    if storage == 'sqlite3':
        mcap_to_bare_db3(folder / 'foreign.mcap', folder / 'foreign.db3')
        (folder / 'foreign.mcap').unlink()
    assert not list(folder.rglob('metadata.yaml'))
    return folder, truth


def assert_exact(ep: dict[str, np.ndarray], truth: dict, first_step: int = 0) -> None:
    """Grid step k (k counted from the first frame) is the recorded frame 3k, joint sample
    10k and command k: equal, not close."""
    n = len(ep['action'])
    k = np.arange(first_step, first_step + n)
    np.testing.assert_array_equal(ep['img'], truth['frames'][3 * k])
    np.testing.assert_array_equal(ep['state'],
                                  truth['joint_positions'][10 * k].astype(np.float32))
    np.testing.assert_array_equal(ep['action'],
                                  truth['command_positions'][k].astype(np.float32))


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
@pytest.mark.parametrize('rounding', ROUNDINGS)
def test_foreign_bag_converts_exactly(tmp_path, storage, rounding, capsys):
    folder, truth = bare_bag(tmp_path, storage, rounding=rounding)
    buffer = convert(folder, foreign_bag_config(), tmp_path, capsys)
    out = capsys.readouterr().out
    assert f'foreign.{"mcap" if storage == "mcap" else "db3"}: 1 episode(s), 30 steps' in out
    assert buffer.n_episodes == 1 and buffer.data['img'].dtype == np.uint8
    # 3 s at 10 Hz: grid times t0 + k * 100 ms (+-1..2 ns), k = 0..29 (the grid time at 3.0 s
    # has no command due within the tolerance: trimmed)
    assert buffer.episode_lengths.tolist() == [30]
    assert_exact(buffer.get_episode(0), truth)


def test_the_old_grid_pairs_images_with_the_next_action(tmp_path):
    """The bug of issue 12, kept reproducible: the mean phase of a 30 Hz stream (three phases
    that cancel) and nearest sampling shift the data; the exact check above would fail."""
    folder, truth = bare_bag(tmp_path, 'mcap', rounding='up')
    old = foreign_bag_config(align='nearest', grid_start='reference_phase')
    ep = convert(folder, old, tmp_path).get_episode(0)
    frame_of = {f.tobytes(): i for i, f in enumerate(truth['frames'])}
    command_of = {c.astype(np.float32).tobytes(): i
                  for i, c in enumerate(truth['command_positions'])}
    frames = [frame_of[f.tobytes()] for f in ep['img']]
    commands = [command_of[a.tobytes()] for a in ep['action']]
    assert frames[:3] == [2, 5, 8] and commands[:3] == [1, 2, 3]  # the next step's action
    with pytest.raises(AssertionError):
        assert_exact(ep, truth)


def test_a_camera_that_starts_late_trims_the_start_on_the_reference_grid(tmp_path, capsys):
    # a wrist camera starting 0.45 s after the reference: the grid keeps the reference's
    # first frame as its origin; the episode starts at the first grid time (0.5 s) at which
    # every stream has a message at or before it (0.4 s: the wrist's first frame, 0.467 s,
    # is after it)
    folder, truth = bare_bag(tmp_path, 'mcap', rounding='down', wrist_start_s=0.45)
    config = foreign_bag_config()
    config['keys']['wrist'] = {'image': FOREIGN_TOPICS['wrist'], 'shape': [96, 96]}
    buffer = convert(folder, config, tmp_path, capsys)
    assert 'trimmed 6 step(s)' in capsys.readouterr().out  # 5 at the start, 1 at the end
    ep = buffer.get_episode(0)
    assert len(ep['action']) == 25
    assert_exact(ep, truth, first_step=5)
    # the wrist camera's newest frame at or before 0.5 s, 0.6 s, ...: 15, 18, ... (its first
    # frame is number 14 of the 30 Hz clock)
    k = np.arange(5, 30)
    np.testing.assert_array_equal(ep['wrist'], truth['wrist_frames'][3 * k - 14])


def test_images_are_fitted_to_the_dataset_size_as_the_node_fits_them(tmp_path):
    # a 4:3 camera and a square dataset: centre-cropped, then resized, as policy_node does
    # with a camera of another size than the checkpoint's (never squashed)
    import cv2

    from dp_ros.image_fit import fit_image

    folder, truth = bare_bag(tmp_path, 'mcap', camera_size=(120, 160), seconds=1.0)
    ep = convert(folder, foreign_bag_config(), tmp_path).get_episode(0)
    frames = truth['frames'][3 * np.arange(len(ep['img']))]
    np.testing.assert_array_equal(ep['img'], [fit_image(f, 96, 96) for f in frames])
    squashed = cv2.resize(frames[0], (96, 96), interpolation=cv2.INTER_AREA)
    assert not np.array_equal(ep['img'][0], squashed)


def test_a_camera_crop_is_cut_first_recorded_on_the_array_and_kept_when_appending(tmp_path,
                                                                                  capsys):
    # the workspace box cut from each 120 x 160 frame before the fit, as the node cuts the
    # checkpoint's camera_crop; recorded on data/img, which training copies into shape_meta
    from dp_ros.image_fit import fit_image
    from training.dataset_meta import dataset_shape_meta

    folder, truth = bare_bag(tmp_path, 'mcap', camera_size=(120, 160), seconds=1.0)
    config = foreign_bag_config()
    config['keys']['img']['crop'] = [30, 10, 100, 100]
    buffer = convert(folder, config, tmp_path)
    ep = buffer.get_episode(0)
    frames = truth['frames'][3 * np.arange(len(ep['img']))]
    np.testing.assert_array_equal(ep['img'], [fit_image(f[10:110, 30:130], 96, 96)
                                              for f in frames])
    assert not np.array_equal(ep['img'][0], fit_image(frames[0], 96, 96))
    assert buffer.data['img'].attrs['camera_crop'] == [30, 10, 100, 100]
    meta = dataset_shape_meta(tmp_path / 'out.zarr', rgb_keys={'image': 'img'},
                              low_dim_keys={'joint_pos': 'state'})
    assert meta['obs']['image']['camera_crop'] == [30, 10, 100, 100]
    assert 'camera_crop' not in meta['obs']['joint_pos']
    # appending the same bag with another crop is refused, and the store is left as it was
    other = dict(config, keys=dict(config['keys'], img=dict(config['keys']['img'],
                                                            crop=[0, 0, 100, 100])))
    path = tmp_path / 'other.yaml'
    path.write_text(yaml.safe_dump(other))
    rc = bag2zarr.main([str(folder), '-c', str(path), '-o', str(tmp_path / 'out.zarr'),
                        '--no-progress'])
    assert rc != 0
    assert 'was written with camera crop [30, 10, 100, 100], the config says [0, 0, 100, 100]' \
        in capsys.readouterr().err
    assert ReplayBuffer.open(tmp_path / 'out.zarr').n_episodes == 1


def test_the_cameras_frame_size_is_recorded_and_a_crop_keeps_it_one_size(tmp_path, capsys):
    """The crop box is in camera pixels: the camera's size is recorded beside it (the node
    refuses a live camera of another size), bags of two sizes under one crop are refused,
    and appending bags of another size keeps no size (unknown) or, with a crop, is refused.
    The store records its control period; appending at another one is refused."""
    from training.dataset_meta import dataset_shape_meta

    small = write_foreign_mcap(tmp_path / 'small' / 'a.mcap', seconds=1.0,
                               camera_size=(120, 160))
    large = write_foreign_mcap(tmp_path / 'large' / 'b.mcap', seconds=1.0,
                               camera_size=(240, 320))
    assert small and large
    cropped = foreign_bag_config()
    cropped['keys']['img']['crop'] = [30, 10, 100, 100]
    out = tmp_path / 'out.zarr'

    def run(config, *bags, extra=()):
        path = tmp_path / f'config_{len(list(tmp_path.glob("config_*")))}.yaml'
        path.write_text(yaml.safe_dump(config))
        return bag2zarr.main([*(str(tmp_path / b) for b in bags), '-c', str(path), '-o',
                              str(out), '--no-progress', *extra])

    assert run(cropped, 'small', 'large') == 2
    assert 'recorded frames of 160x120, 320x240 px with the crop' in capsys.readouterr().err
    assert not out.exists()
    assert run(cropped, 'small') == 0
    store = ReplayBuffer.open(out)
    assert store.attrs('img')['sources'][0]['frame_size'] == [120, 160]
    assert store.root_attrs()['control_period_s'] == 0.1
    meta = dataset_shape_meta(out, rgb_keys={'image': 'img'},
                              low_dim_keys={'joint_pos': 'state'})
    assert meta['obs']['image']['sources'][0]['frame_size'] == [120, 160]
    assert run(cropped, 'large') == 2  # appending another size under the crop
    assert 'at 160x120 px, these bags at 320x240 px' in capsys.readouterr().err
    assert ReplayBuffer.open(out).n_episodes == 1
    assert run(dict(cropped, control_period_s=0.05), 'small') == 2
    assert 'sampled every 0.1 s (control_period_s 0.1), the config says control_period_s 0.05' \
        in capsys.readouterr().err
    # without a crop another size is resized alike: appended, the size no longer recorded
    plain = foreign_bag_config()
    assert run(plain, 'small', extra=['--overwrite']) == 0
    assert run(plain, 'large') == 0
    store = ReplayBuffer.open(out)
    assert store.n_episodes == 2 and 'frame_size' not in store.attrs('img')['sources'][0]
    assert store.attrs('img')['sources'][0]['topic'] == FOREIGN_TOPICS['camera']


def test_joint_names_are_recorded_reach_the_checkpoint_and_must_match_when_appending(
        tmp_path, capsys):
    from dp_ros.policy.config import pusht_image_config
    from training.dataset_meta import dataset_shape_meta

    folder, _ = bare_bag(tmp_path, 'mcap', seconds=1.0)
    config = foreign_bag_config()
    buffer = convert(folder, config, tmp_path)
    assert buffer.data['state'].attrs['names'] == list(FOREIGN_JOINTS)
    assert buffer.data['action'].attrs['names'] == list(FOREIGN_JOINTS)
    assert 'names' not in buffer.data['img'].attrs
    meta = dataset_shape_meta(tmp_path / 'out.zarr', rgb_keys={'image': 'img'},
                              low_dim_keys={'joint_pos': 'state', 'elbow_wrist': 'state[1:3]'})
    assert meta['obs']['joint_pos']['names'] == list(FOREIGN_JOINTS)
    assert meta['obs']['elbow_wrist']['names'] == ['elbow', 'wrist']
    assert meta['action']['names'] == list(FOREIGN_JOINTS)
    assert pusht_image_config(shape_meta=meta).dimension_names('action') == list(FOREIGN_JOINTS)
    # appending the same topics with the joints in another order is refused, store kept
    other = dict(config, keys=dict(config['keys'], state=dict(
        config['keys']['state'], joints=list(reversed(FOREIGN_JOINTS)))))
    path = tmp_path / 'other.yaml'
    path.write_text(yaml.safe_dump(other))
    capsys.readouterr()
    rc = bag2zarr.main([str(folder), '-c', str(path), '-o', str(tmp_path / 'out.zarr'),
                        '--no-progress'])
    assert rc != 0
    assert ("data/state was written with value names ['shoulder', 'elbow', 'wrist'], the "
            "config says ['wrist', 'elbow', 'shoulder']") in capsys.readouterr().err
    assert ReplayBuffer.open(tmp_path / 'out.zarr').n_episodes == 1


def test_a_crop_outside_the_recorded_frame_names_the_message(tmp_path):
    folder, _ = bare_bag(tmp_path, 'mcap', camera_size=(120, 160), seconds=1.0)
    config = foreign_bag_config()
    config['keys']['img']['crop'] = [100, 0, 100, 100]  # 200 > 160 columns
    path = tmp_path / 'crop.yaml'
    path.write_text(yaml.safe_dump(config))
    from dp_ros.bags.reader import BagError

    with pytest.raises(BagError, match=r'camera_crop \[100, 0, 100, 100\].*outside the 160x120'):
        bag2zarr.convert([folder], bag2zarr.load_config(path), tmp_path / 'x.zarr',
                         progress=False)
    assert not (tmp_path / 'x.zarr').exists()


def test_jittered_stamps_give_what_the_node_would_have_assembled(tmp_path):
    # camera and joint stamps jittered by up to 4 ms: the newest at or before a grid time is
    # then sometimes the previous frame, as it is for the node at that time
    folder, truth = bare_bag(tmp_path, 'mcap', rounding='up', jitter_ns=4 * MS, seed=5)
    ep = convert(folder, foreign_bag_config(tolerance=0.07), tmp_path).get_episode(0)
    n = len(ep['action'])
    t0 = int(truth['frame_stamps'][0])
    streams = {'camera': truth['frame_stamps'], 'joints': truth['joint_stamps']}
    assert np.all(np.diff(streams['camera']) > 0) and np.all(np.diff(streams['joints']) > 0)
    stale = 0
    for k in range(1, n):
        picks = node_observation_indices(streams, t0 + k * DT_NS)
        np.testing.assert_array_equal(ep['img'][k - 1:k + 1], truth['frames'][picks['camera']])
        np.testing.assert_array_equal(
            ep['state'][k - 1:k + 1],
            truth['joint_positions'][picks['joints']].astype(np.float32))
        stale += picks['camera'][1] != 3 * k
    assert 0 < stale < n  # the jitter did make some frames late


def test_folders_of_bag_directories_and_bare_files(tmp_path):
    episodes = [{'img': np.zeros((3, 96, 96, 3)), 'state': np.zeros((3, 5)),
                 'action': np.zeros((3, 2))}]
    session = tmp_path / 'session'
    write_pusht_bag(session / 'rosbag2_a', episodes)  # a bag directory: its .mcap is its own
    write_foreign_mcap(session / 'b_foreign.mcap')
    (session / 'nested').mkdir()
    mcap_to_bare_db3(session / 'b_foreign.mcap', session / 'nested' / 'c.db3')
    found = find_bags([session])
    assert [p.relative_to(session.resolve()).as_posix() for p in found] == [
        'b_foreign.mcap', 'nested/c.db3', 'rosbag2_a']
    assert find_bags([session / 'b_foreign.mcap', session]) == [
        (session / 'b_foreign.mcap').resolve(), *[p for p in found if p.name != 'b_foreign.mcap']]
    empty = tmp_path / 'empty'
    (empty / 'sub').mkdir(parents=True)
    (empty / 'notes.txt').write_text('no bags')
    with pytest.raises(BagReadError, match='holds no bag directories or .mcap/.db3 files'):
        find_bags([empty])


def test_a_bag_dir_without_metadata_converts_its_storage_file(tmp_path, capsys):
    # a `ros2 bag record` directory whose metadata.yaml was lost (recorder killed): the .mcap
    # inside is read as a bare file
    folder, truth = bare_bag(tmp_path, 'mcap')
    (folder / 'rosbag2_2024_01_01').mkdir()
    shutil.move(folder / 'foreign.mcap', folder / 'rosbag2_2024_01_01' / 'foreign_0.mcap')
    buffer = convert(folder, foreign_bag_config(), tmp_path, capsys)
    assert_exact(buffer.get_episode(0), truth)


def test_old_align_value_is_read_with_a_warning_and_nearest_is_flagged(tmp_path, capsys):
    with pytest.warns(DeprecatedKeyWarning, match="align: 'previous' is the old name of "
                                                  "'at_or_before'"):
        config = config_from_dict(foreign_bag_config(align='previous'))
    assert config.align == 'at_or_before' and config.grid_start == 'first_reference'
    with warnings.catch_warnings():
        warnings.simplefilter('error', DeprecationWarning)
        defaults = {k: v for k, v in foreign_bag_config().items()
                    if k not in ('align', 'grid_start')}
        assert config_from_dict(defaults).align == 'at_or_before'
    folder, _ = bare_bag(tmp_path, 'mcap')
    convert(folder, foreign_bag_config(align='nearest'), tmp_path, capsys)
    assert 'note: align: nearest: observations are sampled offline, not as the policy node ' \
           'sees them' in capsys.readouterr().out
    assert FOREIGN_T0_NS % DT_NS == 0
