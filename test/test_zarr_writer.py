"""bag2zarr's writer: a new store's episodes agree with its first (bags recorded at two camera
resolutions are a one-line error with the remedy, not a numpy error from a writer thread), and
an output that is a symlink to a store elsewhere stays one, its store updated in place."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import MS, nonempty_lines

from dp_ros.bags.reader import BagError
from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training import bag2zarr
from training.replay_buffer import ReplayBuffer
from training.zarr_writer import EpisodeWriter

WALL = 1_700_000_000 * 10**9


def episode(steps: int, height: int = 8, width: int = 8, state=np.float32) -> dict:
    return {'img': np.zeros((steps, height, width, 3), np.uint8),
            'state': np.arange(steps, dtype=state)[:, None]}


@pytest.mark.parametrize('limit_bytes', [2**30, 0], ids=['held', 'written'])
def test_an_episode_unlike_the_first_is_refused_with_the_remedy(tmp_path, limit_bytes):
    # 'written': the first episode is in the store already (memory limit) when the second comes
    writer = EpisodeWriter(tmp_path / 'tmp.zarr', False, tmp_path / 'out.zarr', limit_bytes,
                           progress=False)
    writer.add(episode(10))
    with pytest.raises(BagError) as info:
        writer.add(episode(10, 6, 10))
    assert str(info.value) == (
        "data/img: episode 2 has steps of shape (6, 10, 3), the first episode of shape "
        "(8, 8, 3); the bags' images differ in size; give key 'img' a `shape: [height, "
        "width]` in the config, which resizes every frame to it")
    with pytest.raises(BagError, match=r'data/state: episode 2 has steps of shape \(1,\) '
                                       r'float64, the first episode of shape \(1,\) float32; '
                                       'all episodes of a store need one step shape'):
        writer.add(episode(10, state=np.float64))
    writer.add(episode(5))
    assert writer.flush().n_episodes == 2


def test_the_bags_are_named_when_the_caller_gives_them(tmp_path):
    writer = EpisodeWriter(tmp_path / 'tmp.zarr', False, tmp_path / 'out.zarr', 2**30,
                           progress=False)
    writer.add(episode(10), source='a')
    with pytest.raises(BagError, match=r'data/img: episode 2 \(bag b\) has steps of shape '
                                       r'\(6, 10, 3\), the first episode \(bag a\) of shape'):
        writer.add(episode(10, 6, 10), source='b')


def write_bag(path: Path, height: int, width: int, start_ns: int = WALL) -> Path:
    """Ten steps of a camera at height x width and one joint, at 10 Hz."""
    with BagRecorder(path, storage='mcap') as rec:
        for i in range(10):
            t = start_ns + i * 100 * MS
            rec.write('/cam', 'sensor_msgs/msg/Image', t + 5 * MS, image_message(
                rec.typestore, np.full((height, width, 3), i, np.uint8), t))
            rec.write('/js', 'sensor_msgs/msg/JointState', t + 1 * MS, joint_state_message(
                rec.typestore, ['j1'], np.array([i / 10]), t))
    return path


def write_config(path: Path, **image) -> Path:
    path.write_text(yaml.safe_dump({
        'control_period_s': 0.1, 'reference_topic': '/cam',
        'keys': {'img': {'image': '/cam', **image},
                 'state': {'joint_state': '/js', 'joints': ['j1']}}}))
    return path


def run(bags, config: Path, output: Path, *extra: str) -> int:
    return bag2zarr.main([*map(str, bags), '-c', str(config), '-o', str(output),
                          '--no-progress', *extra])


def test_bags_at_two_camera_resolutions_need_a_shape(tmp_path, capsys):
    bags = [write_bag(tmp_path / 'b1', 8, 8), write_bag(tmp_path / 'b2', 6, 10, WALL + 10**10)]
    output = tmp_path / 'out.zarr'
    assert run(bags, write_config(tmp_path / 'c.yaml'), output) == 2
    err = nonempty_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith(
        f"dp-ros bag2zarr: data/img: episode 2 (bag {bags[1]}) has steps of shape (6, 10, 3), "
        f'the first episode (bag {bags[0]}) of shape (8, 8, 3)'), err
    assert "give key 'img' a `shape: [height, width]`" in err[0]
    assert sorted(os.listdir(tmp_path)) == ['b1', 'b2', 'c.yaml']  # nothing written
    assert run(bags, write_config(tmp_path / 'c.yaml', shape=[8, 8]), output) == 0
    store = ReplayBuffer.open(output)
    assert store.n_episodes == 2 and tuple(store.data['img'].shape[1:]) == (8, 8, 3)


@pytest.mark.parametrize('overwrite', [False, True], ids=['append', 'overwrite'])
def test_an_output_linked_to_a_store_elsewhere_stays_a_link(tmp_path, overwrite):
    bag, config = write_bag(tmp_path / 'bag', 8, 8), write_config(tmp_path / 'c.yaml')
    (tmp_path / 'big').mkdir()
    (tmp_path / 'data').mkdir()
    store, link = tmp_path / 'big' / 'store.zarr', tmp_path / 'data' / 'store.zarr'
    assert run([bag], config, store) == 0
    os.symlink(store, link)
    # another recording (one the store holds already is refused: converted_bags)
    other = write_bag(tmp_path / 'other', 8, 8, start_ns=WALL + 60 * 10**9)
    assert run([other], config, link, *(['--overwrite'] if overwrite else [])) == 0
    assert link.is_symlink() and os.readlink(link) == str(store)
    assert ReplayBuffer.open(store).n_episodes == (1 if overwrite else 2)
    assert os.listdir(tmp_path / 'data') == ['store.zarr']  # no staged copy left beside it
    assert os.listdir(tmp_path / 'big') == ['store.zarr']
