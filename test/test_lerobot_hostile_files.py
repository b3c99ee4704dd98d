"""A LeRobot dataset downloaded from a colleague or the Hub decides, through its metadata
(meta/info.json, the episodes table), which files are read and how large the buffers are.
`dp-ros convert` (and the training store) refuse in one line (exit 2, no output left), as the
README promises for malformed metadata: path templates that leave the dataset root ('../', an
absolute path) or name fields lerobot's v3.0 does not fill, a camera shape claim that the video
does not have (checked before a buffer of the claimed size is allocated), episode lengths that
disagree with total_frames or the rows, 'image' features whose bytes do not decode or do not
have info.json's shape (a decompression bomb included), and an info.json nested too deep for
json."""
from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_lerobot_damaged_inputs import convert_back

from dp_ros import cli
from training.lerobot_convert import zarr_to_lerobot
from training.lerobot_format import LeRobotFormatError, VideoEncoding
from training.lerobot_source import LeRobotStore
from training.replay_buffer import ReplayBuffer

DATA = 'data/chunk-000/file-000.parquet'
EPISODES = 'meta/episodes/chunk-000/file-000.parquet'


@pytest.fixture(scope='module')
def written(tmp_path_factory) -> Path:
    """Two episodes of a 16x16 camera, a state and an action, as `dp-ros convert` writes them."""
    tmp = tmp_path_factory.mktemp('lerobot')
    n = 10
    img = np.broadcast_to((np.arange(n) * 20).astype(np.uint8)[:, None, None, None],
                          (n, 16, 16, 3)).copy()
    ReplayBuffer.from_arrays({'img': img, 'state': np.zeros((n, 3), np.float32),
                              'action': np.zeros((n, 2), np.float32)},
                             np.array([4, n])).save_to(tmp / 's.zarr', progress=False)
    zarr_to_lerobot(tmp / 's.zarr', tmp / 'le', fps=10, encoding=VideoEncoding(vcodec='h264'),
                    progress=False)
    return tmp / 'le'


@pytest.fixture
def lerobot(tmp_path, written) -> Path:
    return shutil.copytree(written, tmp_path / 'inside' / 'le')


def edit_info(root: Path, **values: object) -> None:
    path = root / 'meta/info.json'
    info = json.loads(path.read_text())
    info.update(values)
    path.write_text(json.dumps(info))


def test_a_data_path_template_climbing_out_of_the_root_is_refused(tmp_path, lerobot, capsys):
    """data_path '../../outside/...' (the parquet placed there) is refused, not read: a
    dataset names files inside its own directory."""
    template = '../../outside/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
    outside = lerobot / template.format(chunk_index=0, file_index=0)
    outside.parent.mkdir(parents=True)
    shutil.move(lerobot / DATA, outside)
    edit_info(lerobot, data_path=template)
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'data_path' in err


def test_an_absolute_data_path_template_is_refused_in_one_line(tmp_path, lerobot, capsys):
    """An absolute data_path (the parquet placed there) is one line naming data_path, not
    pathlib's relative_to ValueError traceback."""
    template = str(tmp_path / 'abs' / 'file-{file_index:03d}.parquet')
    Path(template.format(file_index=0)).parent.mkdir(parents=True)
    shutil.move(lerobot / DATA, template.format(file_index=0))
    edit_info(lerobot, data_path=template)
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'data_path' in err


@pytest.mark.parametrize('template', [
    'data/chunk-{episode_chunk:03d}/file-{file_index:03d}.parquet',  # v2.1's field name
    'data/chunk-{0}/file-{file_index:03d}.parquet',
], ids=['unknown_field', 'positional_field'])
def test_a_data_path_template_with_fields_the_reader_does_not_fill_is_named(
        tmp_path, lerobot, capsys, template):
    """A template naming a field other than chunk_index/file_index is one line naming
    info.json's data_path, not str.format's KeyError/IndexError traceback."""
    edit_info(lerobot, data_path=template)
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'data_path' in err


def claim_camera_shape(root: Path, shape: list[int]) -> None:
    path = root / 'meta/info.json'
    info = json.loads(path.read_text())
    info['features']['observation.image']['shape'] = shape
    path.write_text(json.dumps(info))


def test_a_camera_shape_claim_too_large_to_hold_is_refused_before_allocating(
        tmp_path, lerobot, capsys):
    """info.json claiming 10^7 x 10^7 frames of a 16x16 video is the one-line 'frames are
    (16, 16, 3), info.json says ...' that a 32x32 claim already gets, not numpy's
    _ArrayMemoryError for the episode's buffer allocated before the first frame is compared."""
    claim_camera_shape(lerobot, [10 ** 7, 10 ** 7, 3])
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'info.json says' in err


def test_the_training_store_refuses_the_claim_before_a_read_allocates_its_block(lerobot):
    """The training store's camera (whose reads allocate a block of the claimed frame size
    before decoding) compares the claim with the video's own size when it is first asked for."""
    claim_camera_shape(lerobot, [10 ** 7, 10 ** 7, 3])
    store = LeRobotStore(lerobot)
    with pytest.raises(LeRobotFormatError, match=r'are \(16, 16, 3\), info.json says'):
        store.data['observation.image']


def png(h: int, w: int, value: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(out, format='PNG')
    return out.getvalue()


def as_image_feature(root: Path, cells: list[bytes]) -> None:
    """The camera of `root` as an 'image' feature: these PNG bytes in the data parquet."""
    shutil.rmtree(root / 'videos')
    path = root / 'meta/info.json'
    info = json.loads(path.read_text())
    feature = info['features']['observation.image']
    feature['dtype'] = 'image'
    feature.pop('info', None)
    info['video_path'] = None
    path.write_text(json.dumps(info))
    table = pq.read_table(root / EPISODES)
    pq.write_table(table.drop([c for c in table.column_names if c.startswith('videos/')]),
                   root / EPISODES)
    table = pq.read_table(root / DATA)
    column = pa.array([{'bytes': c, 'path': None} for c in cells],
                      type=pa.struct([('bytes', pa.binary()), ('path', pa.string())]))
    pq.write_table(table.append_column('observation.image', column), root / DATA)


def test_image_feature_bytes_that_decode_converts(tmp_path, lerobot):
    """The control: 16x16 PNGs of a 16x16 'image' feature convert."""
    as_image_feature(lerobot, [png(16, 16, 20 * i) for i in range(10)])
    assert cli.main(['convert', str(lerobot), str(tmp_path / 'back.zarr'), '--no-progress']) == 0
    assert ReplayBuffer.open(tmp_path / 'back.zarr')['img'].shape == (10, 16, 16, 3)


@pytest.mark.parametrize('read', ['convert', 'training_store'])
def test_an_image_feature_size_claim_too_large_is_refused_before_allocating(
        tmp_path, lerobot, capsys, read):
    """16x16 PNGs of an 'image' feature claiming 10^7 x 10^7 frames: the first frame's header
    is compared with the claim when the camera is opened, before an episode's (convert) or a
    block's (training) frames are allocated at the claimed size: one line, not numpy's
    _ArrayMemoryError."""
    as_image_feature(lerobot, [png(16, 16, 20 * i) for i in range(10)])
    claim_camera_shape(lerobot, [10 ** 7, 10 ** 7, 3])
    if read == 'convert':
        assert 'info.json says' in convert_back(tmp_path, lerobot, capsys)
        return
    with pytest.raises(LeRobotFormatError, match=r'is \(16, 16, 3\), info.json says'):
        LeRobotStore(lerobot).data['observation.image']


def test_image_feature_bytes_that_are_no_image_are_named(tmp_path, lerobot, capsys):
    """'image' cells holding no PNG/JPEG are one line naming the file, not PIL's
    UnidentifiedImageError traceback."""
    as_image_feature(lerobot, [b'not a png at all'] * 10)
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'file-000.parquet' in err


def test_image_feature_frames_of_another_size_are_named(tmp_path, lerobot, capsys):
    """8x8 PNGs of a feature info.json calls 16x16 are the one-line shape mismatch that video
    frames get, not zarr's broadcast ValueError traceback."""
    as_image_feature(lerobot, [png(8, 8, 20 * i) for i in range(10)])
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'info.json' in err


def test_episode_lengths_that_disagree_with_the_frames_are_named(tmp_path, lerobot, capsys):
    """An episodes table whose last episode claims 7 frames (11 in all) of a dataset of 10 is
    one line naming the mismatch, not the video decoder's IndexError traceback (claiming
    10^12 frames: a 7 TiB allocation)."""
    table = pq.read_table(lerobot / EPISODES)
    lengths = table['length'].to_pylist()
    ends = table['dataset_to_index'].to_pylist()
    lengths[-1], ends[-1] = 7, ends[-2] + 7
    for name, values in (('length', lengths), ('dataset_to_index', ends)):
        table = table.set_column(table.column_names.index(name), name,
                                 pa.array(values, table[name].type))
    pq.write_table(table, lerobot / EPISODES)
    convert_back(tmp_path, lerobot, capsys)


def test_an_info_json_nested_too_deep_is_named(tmp_path, lerobot, capsys):
    """meta/info.json of 200,000 nested lists is one line naming it, not json's
    RecursionError traceback."""
    (lerobot / 'meta/info.json').write_text('[' * 200_000 + ']' * 200_000)
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'info.json' in err


@pytest.mark.parametrize('template', [
    # out of the root and back into it: the old reader read this video
    '../le/videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4',
    'videos/{video_key}/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.mp4',  # v2.1's
    'videos/{video_key}/chunk-{chunk_index:s}/file-{file_index:03d}.mp4',
], ids=['climbing_out', 'v21_fields', 'format_spec_for_no_int'])
def test_a_video_path_template_that_cannot_be_used_is_named(tmp_path, lerobot, capsys, template):
    """video_path gets the same checks as data_path: one line naming video_path."""
    edit_info(lerobot, video_path=template)
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'video_path' in err


def set_lengths(root: Path, lengths: list[int]) -> None:
    """The episodes table's lengths, with index ranges that agree with them."""
    table = pq.read_table(root / EPISODES)
    ends = np.cumsum(lengths).tolist()
    starts = [e - n for e, n in zip(ends, lengths, strict=True)]
    for name, values in (('length', lengths), ('dataset_from_index', starts),
                         ('dataset_to_index', ends)):
        table = table.set_column(table.column_names.index(name), name,
                                 pa.array(values, table[name].type))
    pq.write_table(table, root / EPISODES)


def test_an_episode_length_of_10_to_the_12_is_named_before_allocating(tmp_path, lerobot, capsys):
    """A last episode claiming 10^12 frames is one line naming episode 1, not numpy's 7 TiB
    allocation for its frames."""
    set_lengths(lerobot, [4, 10 ** 12])
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'episode 1 claims' in err


def test_lengths_that_add_up_but_split_the_rows_elsewhere_are_named(tmp_path, lerobot, capsys):
    """5 + 5 frames claimed for episodes of 4 and 6 rows (the data's episode_index) is one
    line naming episode 0, not frames cut at the wrong row."""
    set_lengths(lerobot, [5, 5])
    err = convert_back(tmp_path, lerobot, capsys)
    assert 'episode 0 claims 5 frames' in err and '4 rows' in err


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height RGB pixels (its data left out)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + \
            struct.pack('>I', zlib.crc32(kind + data))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IEND', b'')


def test_an_image_decompression_bomb_is_named_without_decoding(tmp_path, lerobot, capsys):
    """A PNG claiming 20000 x 20000 pixels (PIL's DecompressionBombError at open) is one line
    naming the feature and frame, not a traceback."""
    as_image_feature(lerobot, [png_header(20000, 20000)] + [png(16, 16, 0)] * 9)
    err = convert_back(tmp_path, lerobot, capsys)
    assert "'observation.image' of frame 0" in err


def test_an_image_of_the_right_size_cut_short_is_named(tmp_path, lerobot, capsys):
    """A 16x16 PNG header without its pixel data (PIL's OSError while decoding) is one line."""
    as_image_feature(lerobot, [png(16, 16, 0)] * 9 + [png_header(16, 16)])
    err = convert_back(tmp_path, lerobot, capsys)
    assert "'observation.image' of frame 9" in err



def test_an_image_feature_is_decoded_into_one_copy(tmp_path):
    """An 'image' camera's frames are decoded into their places in index order: the peak is
    about one copy of the camera (a review measured three: the list of frames, its stack and
    the reordering), and each frame is its index's, also where the parquet holds the rows in
    another order."""
    import tracemalloc

    from training.lerobot_format import LeRobotReader

    n, size = 200, 64
    ReplayBuffer.from_arrays({'img': np.zeros((n, size, size, 3), np.uint8),
                              'state': np.zeros((n, 3), np.float32),
                              'action': np.zeros((n, 2), np.float32)},
                             np.array([120, n])).save_to(tmp_path / 's.zarr', progress=False)
    root = tmp_path / 'le'
    zarr_to_lerobot(tmp_path / 's.zarr', root, fps=10, encoding=VideoEncoding(vcodec='h264'),
                    progress=False)
    info = json.loads((root / 'meta/info.json').read_text())
    info['features']['observation.image']['shape'] = [size, size, 3]
    (root / 'meta/info.json').write_text(json.dumps(info))
    as_image_feature(root, [png(size, size, i) for i in range(n)])
    table = pq.read_table(root / DATA)
    pq.write_table(table.take(list(range(n - 1, -1, -1))), root / DATA)  # rows reversed
    reader = LeRobotReader(root)
    tracemalloc.start()
    try:
        frames = reader.camera_frames('observation.image')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [int(f[0, 0, 0]) for f in frames] == list(range(n))
    assert peak < 1.5 * frames.nbytes, (peak, frames.nbytes)
