"""A storage file found both compressed and not (`x.mcap` and `x.mcap.zstd`: a recorder
killed while compressing the closed file, the .zstd maybe cut short) is one file, read from
the uncompressed one. Pinned: the .zstd is never listed as a bag of its own by find_bags
(which made a StorageError of a file meant to be ignored, or the same episode converted
twice), whether x.mcap is a part of a split recording or a bare bag; its skip is said in the
bag's notes.
"""
from __future__ import annotations

import shutil

from bag_support import CAMERA_JOINTS_CONFIG, write_camera_joints
from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer

from dp_ros.bags.reader import find_bags, open_bag
from dp_ros.bags.recorder import BagRecorder
from training import bag2zarr
from training.bag2zarr_config import config_from_dict

ZSTD_MAGIC_ONLY = b'\x28\xb5\x2f\xfd'  # a .zstd cut short right after its frame magic


def _mcap(tmp_path, name, frames):
    """A bare .mcap of write_camera_joints' frames."""
    with BagRecorder(tmp_path / name) as rec:
        write_camera_joints(rec, frames)
    (mcap,) = (tmp_path / name).glob('*.mcap')
    return mcap


def _compressed(tmp_path, name, frames):
    """A whole `--compression-mode file` .mcap.zstd of write_camera_joints' frames."""
    src = _mcap(tmp_path, name, frames).parent
    dst = tmp_path / f'{name}_z'
    with Reader(src) as reader:
        writer = Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.set_compression(CompressionMode.FILE, CompressionFormat.ZSTD)
        with writer:
            conns = {c.id: writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data,
                                                 rihs01=c.digest) for c in reader.connections}
            for conn, recv_ns, raw in reader.messages():
                writer.write(conns[conn.id], recv_ns, raw)
    (file,) = dst.glob('*.zstd')
    return file


def _steps(tmp_path, bags):
    summary = bag2zarr.convert([bags], config_from_dict(CAMERA_JOINTS_CONFIG),
                               tmp_path / 'out.zarr', progress=False)
    return sum(sum(r.episode_lengths or []) for r in summary.bags)


def test_a_split_part_both_compressed_and_not_is_not_a_bare_bag(tmp_path):
    """rec/rec_0.mcap.zstd + rec/rec_1.mcap + rec/rec_1.mcap.zstd (cut short): one bag,
    rec/, of 20 frames; rec_1.mcap.zstd is neither a bag (a StorageError) nor read."""
    rec = tmp_path / 'bags' / 'rec'
    rec.mkdir(parents=True)
    shutil.move(_compressed(tmp_path, 'p0', range(10)), rec / 'rec_0.mcap.zstd')
    shutil.move(_mcap(tmp_path, 'p1', range(10, 20)), rec / 'rec_1.mcap')
    (rec / 'rec_1.mcap.zstd').write_bytes(ZSTD_MAGIC_ONLY)
    assert find_bags([tmp_path / 'bags']) == [rec.resolve()]
    assert _steps(tmp_path, tmp_path / 'bags') == 20
    with open_bag(rec) as bag:
        assert any('rec_1.mcap.zstd skipped' in note for note in bag.notes), bag.notes


def test_a_bare_file_both_compressed_and_not_converts_once(tmp_path):
    """one/one_0.mcap + one/one_0.mcap.zstd (a whole compressed copy): one bag, the .mcap,
    its 10 frames converted once, not twice."""
    one = tmp_path / 'bags' / 'one'
    one.mkdir(parents=True)
    shutil.move(_mcap(tmp_path, 'p', range(10)), one / 'one_0.mcap')
    shutil.move(_compressed(tmp_path, 'z', range(10)), one / 'one_0.mcap.zstd')
    assert find_bags([tmp_path / 'bags']) == [(one / 'one_0.mcap').resolve()]
    assert _steps(tmp_path, tmp_path / 'bags') == 10
    with open_bag(one / 'one_0.mcap') as bag:
        assert any('one_0.mcap.zstd skipped' in note for note in bag.notes), bag.notes


def test_a_cut_short_twin_beside_a_bare_file_is_no_error(tmp_path):
    """one/one_0.mcap + a cut-short one/one_0.mcap.zstd: the folder converts (no error
    for the file meant to be ignored)."""
    one = tmp_path / 'bags' / 'one'
    one.mkdir(parents=True)
    shutil.move(_mcap(tmp_path, 'p', range(10)), one / 'one_0.mcap')
    (one / 'one_0.mcap.zstd').write_bytes(ZSTD_MAGIC_ONLY)
    assert _steps(tmp_path, tmp_path / 'bags') == 10


def test_a_compressed_file_without_its_twin_is_still_a_bag(tmp_path):
    """x.mcap.zstd alone (its metadata.yaml lost) stays a bag of its own."""
    bags = tmp_path / 'bags'
    bags.mkdir()
    shutil.move(_compressed(tmp_path, 'z', range(10)), bags / 'x.mcap.zstd')
    assert find_bags([bags]) == [(bags / 'x.mcap.zstd').resolve()]
