"""A LeRobot 'image' camera (PNG bytes in the data parquet) is decoded where it is read, as a
video camera is: a training store's reads (read_array's blocks, some episodes, single steps,
fancy and strided steps) and `dp-ros convert` back to zarr decode the frames asked for, not
the camera whole. Before, the store decoded and kept every frame on the first read (a
training load held two copies of the camera; inspect's block-wise checks one whole), and the
conversion decoded the camera whole.

The dataset: numeric columns written by LeRobotWriter over several data files (rolled after
a few KB), the camera added to each file as lerobot writes an 'image' feature (struct {bytes,
path}) in row groups of 7, one file's rows reversed; frame i's pixels say i.
"""
from __future__ import annotations

import io
import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training.lerobot_convert import lerobot_to_zarr
from training.lerobot_format import (
    ImageColumn,
    LeRobotFormatError,
    LeRobotReader,
    LeRobotWriter,
)
from training.lerobot_source import LeRobotStore
from training.replay_buffer import ReplayBuffer, read_array

CAMERA = 'observation.image'
H, W = 120, 160
LENGTHS = [30, 12, 25, 30, 23]  # 120 frames, uneven: blocks straddle episodes and files


def frame(i: int) -> np.ndarray:
    """Frame i: its index in red, gradients in green and blue (small PNGs, every frame its own)."""
    out = np.empty((H, W, 3), np.uint8)
    out[..., 0] = i % 256
    out[..., 1] = np.arange(W, dtype=np.uint8)[None, :]
    out[..., 2] = (np.arange(H)[:, None] + i) % 256
    return out


def png(image: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image).save(out, format='PNG')
    return out.getvalue()


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('image_camera') / 'le'
    rng = np.random.default_rng(0)
    features = {'observation.state': {'dtype': 'float32', 'shape': [2], 'names': None},
                'action': {'dtype': 'float32', 'shape': [2], 'names': None}}
    with LeRobotWriter(root, 10, features, data_files_size_in_mb=0.001) as writer:
        for n in LENGTHS:
            writer.add_episode({k: rng.standard_normal((n, 2)).astype(np.float32)
                                for k in features})
    info_path = root / 'meta/info.json'
    info = json.loads(info_path.read_text())
    info['features'][CAMERA] = {'dtype': 'image', 'shape': [H, W, 3],
                                'names': ['height', 'width', 'channel']}
    info_path.write_text(json.dumps(info))
    files = sorted((root / 'data').glob('*/*.parquet'))
    assert len(files) >= 3, files  # the reads cross data files
    for k, path in enumerate(files):
        table = pq.read_table(path)
        cells = pa.array([{'bytes': png(frame(i)), 'path': None}
                          for i in table['index'].to_pylist()],
                         type=pa.struct([('bytes', pa.binary()), ('path', pa.string())]))
        table = table.append_column(CAMERA, cells)
        if k == 1:  # rows in another order than the index
            table = table.take(list(range(len(table) - 1, -1, -1)))
        # row groups of 7: the column is read in chunks (kept so: a file's bytes over 2 GiB
        # cannot be combined into one binary array)
        pq.write_table(table, path, row_group_size=7)
    return root


@pytest.fixture(scope='module')
def whole() -> np.ndarray:
    return np.stack([frame(i) for i in range(sum(LENGTHS))])


def count_decodes(monkeypatch) -> list[int]:
    """The frames ImageColumn decodes (a size check alone not counted)."""
    decoded: list[int] = []
    original = ImageColumn._decode

    def decode(self, cell, index, f, out):
        if out is not None:
            decoded.append(index)
        return original(self, cell, index, f, out)

    monkeypatch.setattr(ImageColumn, '_decode', decode)
    return decoded


def test_every_way_of_reading_gives_the_frames_of_their_indices(dataset, whole):
    store = LeRobotStore(dataset)
    camera = store.data['img']  # the Push-T name maps to observation.image
    n = len(whole)
    assert camera.shape == whole.shape and camera.dtype == np.uint8
    assert np.array_equal(np.asarray(camera), whole)
    assert np.array_equal(store.reader.camera_frames(CAMERA), whole)
    assert np.array_equal(read_array(camera, block_steps=7, progress=False), whole)
    for i in (0, 29, 30, 41, 42, n - 1, -1, -n):
        assert np.array_equal(camera[i], whole[i])
    for item in (slice(0, 0), slice(10, 5), slice(25, 70), slice(-20, None), slice(None),
                 slice(100, 300), slice(3, 90, 7), slice(None, None, -5)):
        assert np.array_equal(camera[item], whole[item]), item
    for item in ([5, 3, 5, 119], np.array([[0, 60], [61, 1]]), whole[:, 0, 0, 0] % 3 == 0):
        assert np.array_equal(camera[item], whole[item])
    assert np.array_equal(camera[40:44, 2:5, ::3], whole[40:44, 2:5, ::3])
    assert np.array_equal(camera[[7, 8], 0, 0], whole[[7, 8], 0, 0])
    with pytest.raises(IndexError):
        camera[n]


def test_a_read_decodes_the_frames_it_asks_for_alone(dataset, whole, monkeypatch):
    store = LeRobotStore(dataset)
    camera = store.data[CAMERA]
    decoded = count_decodes(monkeypatch)
    ranges = store.step_ranges([1, 3])
    got = read_array(camera, ranges=ranges, block_steps=9, progress=False)
    assert np.array_equal(got, np.concatenate([whole[a:b] for a, b in ranges]))
    assert sorted(decoded) == [i for a, b in ranges for i in range(a, b)]  # each once
    decoded.clear()
    camera[[100, 2, 2]]
    assert sorted(decoded) == [2, 2, 100]


def test_a_shrinking_load_holds_its_frames_not_the_camera(dataset, whole):
    """A load converting each block to 1/16 of its pixels (as inspect reduces each block to
    its statistics) peaks at a fraction of the camera's decoded size; the old whole decode
    kept every frame on the first read."""
    camera = LeRobotStore(dataset).data[CAMERA]
    tracemalloc.start()
    try:
        small = read_array(camera, convert=lambda b: b[:, ::4, ::4].copy(), block_steps=10,
                           progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(small, whole[:, ::4, ::4])
    assert peak < 0.3 * whole.nbytes, (peak, whole.nbytes)


def test_convert_back_to_zarr_decodes_an_episode_at_a_time(dataset, whole, tmp_path,
                                                           monkeypatch):
    """`dp-ros convert` of the image camera: each frame decoded once, episode by episode in
    index order, the zarr's frames those of their indices."""
    decoded = count_decodes(monkeypatch)
    lerobot_to_zarr(dataset, tmp_path / 'back.zarr', progress=False)
    assert decoded == list(range(len(whole)))
    assert np.array_equal(ReplayBuffer.open(tmp_path / 'back.zarr')['img'][:], whole)


def test_a_frame_index_twice_is_named_when_the_camera_is_opened(dataset, tmp_path):
    """The index columns are checked for the camera before any frame is decoded: an index
    in two files is one line naming the file and the index."""
    copy = tmp_path / 'twice'
    shutil.copytree(dataset, copy)
    path = sorted((copy / 'data').glob('*/*.parquet'))[-1]
    table = pq.read_table(path)
    index = table['index'].to_pylist()
    index[0] = 0  # frame 0 is the first file's
    table = table.set_column(table.column_names.index('index'), 'index',
                             pa.array(index, table['index'].type))
    pq.write_table(table, path)
    with pytest.raises(LeRobotFormatError, match=r'frame of index 0, not once each'):
        ImageColumn(LeRobotReader(copy), CAMERA)


def test_an_index_column_of_another_type_is_named(dataset, tmp_path):
    """A bool index column (True is an int to Python) is refused naming its first value."""
    copy = tmp_path / 'bools'
    shutil.copytree(dataset, copy)
    path = sorted((copy / 'data').glob('*/*.parquet'))[0]
    table = pq.read_table(path)
    table = table.set_column(table.column_names.index('index'), 'index',
                             pa.array([True] * len(table), pa.bool_()))
    pq.write_table(table, path)
    with pytest.raises(LeRobotFormatError, match=r'frame of index True, not once each'):
        ImageColumn(LeRobotReader(copy), CAMERA)
