"""Bags recorded with `ros2 bag record --compression-mode file --compression-format zstd`:
every storage file is `<name>.mcap.zstd` (or `.db3.zstd`), the one being written stays
uncompressed until the recorder closes it, and metadata.yaml is written last. A recorder
killed (or a copy that lost metadata.yaml) leaves `.zstd` files with no metadata.yaml: their
messages are read from a private decompressed copy (dp_ros/bags/storage.py), never silently
left out while the rest converts; one that cannot be decompressed is named with the way out.
"""
from __future__ import annotations

import shutil
from contextlib import ExitStack

import pytest
import yaml
from bag_support import CAMERA, CAMERA_JOINTS_CONFIG, write_camera_joints
from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer

from dp_ros.bags.reader import BagReadError, find_bags, open_bag
from dp_ros.bags.recorder import BagRecorder
from dp_ros.bags.storage import open_reader, split_parts
from training import bag2zarr
from training.bag2zarr_config import config_from_dict


def _plain(path, frames):
    """A plain mcap bag directory of write_camera_joints' frames."""
    with BagRecorder(path) as rec:
        write_camera_joints(rec, frames)
    return path


def _file_compressed(src, dst, plugin=StoragePlugin.MCAP):
    """src rewritten in dst as `ros2 bag record --compression-mode file` writes it; its
    storage file (.mcap.zstd or .db3.zstd)."""
    with Reader(src) as reader:
        writer = Writer(dst, version=9, storage_plugin=plugin)
        writer.set_compression(CompressionMode.FILE, CompressionFormat.ZSTD)
        with writer:
            conns = {c.id: writer.add_connection(
                c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest,
                offered_qos_profiles=c.ext.offered_qos_profiles) for c in reader.connections}
            for conn, recv_ns, raw in reader.messages():
                writer.write(conns[conn.id], recv_ns, raw)
    (compressed,) = dst.glob('*.zstd')
    return compressed


def _convert(tmp_path, bags):
    return bag2zarr.convert([bags], config_from_dict(CAMERA_JOINTS_CONFIG),
                            tmp_path / 'out.zarr', progress=False)


def _steps(summary):
    return sum(sum(r.episode_lengths or []) for r in summary.bags)


def test_a_killed_file_compressed_recording_reads_its_compressed_part(tmp_path):
    """demo/demo_0.mcap.zstd (closed, compressed) + demo/demo_1.mcap (being written when
    the recorder died), no metadata.yaml: one bag of 20 frames, not the 10 of demo_1.mcap
    converted as if they were all."""
    demo = tmp_path / 'bags' / 'demo'
    demo.mkdir(parents=True)
    shutil.move(_file_compressed(_plain(tmp_path / 'p0', range(10)), tmp_path / 'z0'),
                demo / 'demo_0.mcap.zstd')
    (part1,) = _plain(tmp_path / 'p1', range(10, 20)).glob('*.mcap')
    shutil.move(part1, demo / 'demo_1.mcap')
    assert find_bags([tmp_path / 'bags']) == [demo.resolve()]
    summary = _convert(tmp_path, tmp_path / 'bags')
    assert [str(r.path) for r in summary.bags] == [str(demo.resolve())]
    assert _steps(summary) == 20
    with open_bag(demo) as bag:
        assert any('demo_0.mcap.zstd' in note and 'decompressed' in note for note in bag.notes)


def test_a_part_both_compressed_and_not_is_read_once_from_its_whole_file(tmp_path):
    """demo_0.mcap and demo_0.mcap.zstd (a recorder killed while compressing it, the .zstd
    cut short): the part is read once, from the uncompressed file."""
    demo = tmp_path / 'demo'
    demo.mkdir()
    (part0,) = _plain(tmp_path / 'p0', range(10)).glob('*.mcap')
    (part1,) = _plain(tmp_path / 'p1', range(10, 20)).glob('*.mcap')
    shutil.copy(part0, demo / 'demo_0.mcap')
    (demo / 'demo_0.mcap.zstd').write_bytes(b'\x28\xb5\x2f\xfd')
    shutil.copy(part1, demo / 'demo_1.mcap')
    assert split_parts(demo) == [demo / 'demo_0.mcap', demo / 'demo_1.mcap']


def test_a_compressed_bag_without_metadata_beside_a_good_bag_is_read(tmp_path):
    """bags/a_good/ (a plain bag) and bags/b_lost/b_lost.mcap.zstd (a file-compressed bag
    whose metadata.yaml was lost): both convert; a_good is not converted alone as if the
    folder held nothing else."""
    bags = tmp_path / 'bags'
    _plain(bags / 'a_good', range(20))
    lost = bags / 'b_lost'
    lost.mkdir()
    shutil.move(_file_compressed(_plain(tmp_path / 'p', range(20)), tmp_path / 'z'),
                lost / 'b_lost.mcap.zstd')
    assert len(find_bags([bags])) == 2
    assert _steps(_convert(tmp_path, bags)) == 40


@pytest.mark.parametrize('plugin', [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_a_bare_compressed_storage_file_reads_as_its_bag(tmp_path, plugin):
    """A storage file compressed whole (`x.mcap.zstd`, `x.db3.zstd`) given alone is a bag,
    read as the bag it was compressed from; the user's file is left as it is."""
    src = _plain(tmp_path / 'plain', range(10))
    file = _file_compressed(src, tmp_path / 'z', plugin)
    before = file.read_bytes()
    assert find_bags([file]) == [file.resolve()]
    with open_bag(src) as plain, open_bag(file) as bag:
        assert bag.topics == plain.topics
        assert [(t, r) for t, r, _ in bag.messages(bag.topics, progress=False)] == \
            [(t, r) for t, r, _ in plain.messages(plain.topics, progress=False)]
    assert file.read_bytes() == before


@pytest.mark.parametrize('suffix', ['.mcap.zstd', '.db3.zstd'])
def test_a_corrupt_compressed_storage_file_is_named_with_the_way_out(tmp_path, suffix):
    """A `.zstd` storage file cut short: one error naming it as zstd-compressed and how to
    decompress it, not 'not a ROS 2 bag' nor a bare EOFError."""
    bag = tmp_path / f'x{suffix}'
    bag.write_bytes(b'\x28\xb5\x2f\xfd' + bytes(16))  # the zstd frame magic, then garbage
    assert find_bags([bag]) == [bag.resolve()]
    with pytest.raises(BagReadError) as info, open_bag(bag):
        pass
    message = str(info.value)
    assert f'x{suffix}' in message and 'zstd-compressed' in message and 'zstd -d' in message
    assert '\n' not in message


def test_a_ros1_bag_is_pointed_to_its_conversion(tmp_path):
    """A ROS 1 `.bag` given: the error says so and names rosbags-convert."""
    bag = tmp_path / 'demo.bag'
    bag.write_bytes(b'#ROSBAG V2.0\n')
    with pytest.raises(BagReadError, match='ROS 1 bag.*rosbags-convert --src'):
        find_bags([bag])


def test_the_private_copy_goes_with_the_bag(tmp_path):
    """The decompressed copy lives only while the bag is open."""
    file = _file_compressed(_plain(tmp_path / 'plain', range(3)), tmp_path / 'z')
    with ExitStack() as stack:
        reader, notes = open_reader(file, stack)
        copy = reader.path
        assert copy.is_file() and copy.name == 'z.mcap' and copy.parent != file.parent
    assert not copy.exists()
    assert notes and 'decompressed private copy' in notes[0]


def test_cli_converts_a_folder_with_a_lost_metadata_compressed_bag(tmp_path, capsys):
    """The CLI run of the folder case: exit 0, the compressed bag reported with its note."""
    bags = tmp_path / 'bags'
    lost = bags / 'b_lost'
    lost.mkdir(parents=True)
    shutil.move(_file_compressed(_plain(tmp_path / 'p', range(20)), tmp_path / 'z'),
                lost / 'b_lost.mcap.zstd')
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump(CAMERA_JOINTS_CONFIG))
    rc = bag2zarr.main([str(bags), '-c', str(config), '-o', str(tmp_path / 'out.zarr'),
                        '--no-progress'])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert 'b_lost.mcap.zstd' in out.out + out.err


def test_inspect_takes_a_bare_compressed_storage_file_as_a_bag(tmp_path):
    """`dp-ros inspect x.mcap.zstd` reads the bag (its topics), not a zarr store ('no zarr
    replay buffer at ...')."""
    from training.inspect_dataset import is_training_store

    file = _file_compressed(_plain(tmp_path / 'plain', range(4)), tmp_path / 'z')
    assert not is_training_store(str(file))
    assert not is_training_store(str(tmp_path / 'plain' / 'plain_0.mcap'))
    assert is_training_store(str(tmp_path / 'store.zarr'))


def test_a_message_compressed_db3_without_metadata_converts_decompressed(tmp_path):
    """`--compression-mode message` (sqlite3) with its recorder killed: no metadata.yaml, and
    rosbags reading the .db3 alone handed zstd frames to the CDR decoder ('Invalid or
    unsupported CDR encapsulation'). rosbag2 writes the bag's metadata into the .db3's own
    metadata table at open: its compression mode there has the messages decompressed."""
    bag = tmp_path / 'bags' / 'killed'
    with BagRecorder(bag, storage='sqlite3', compression='message') as rec:
        write_camera_joints(rec, range(20))
    (bag / 'metadata.yaml').unlink()
    with open_bag(bag / 'killed.db3') as opened:
        assert any('--compression-mode message' in note for note in opened.notes)
        frames = [m.data[0] for _, _, m in opened.messages([CAMERA], progress=False)]
    assert frames == list(range(20))
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump(CAMERA_JOINTS_CONFIG))
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(config), '-o',
                          str(tmp_path / 'out.zarr'), '--no-progress']) == 0
