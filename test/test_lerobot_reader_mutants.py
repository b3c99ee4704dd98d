"""What a mutation review of LeRobotReader (training/lerobot_format.py's read side) found no
test guarding, each a dataset damaged or unusual in one way:

info.json entries missing or of the wrong kind (fps true or Infinity, counts true or -1, a
feature without dtype or with a 0 in its shape, no timestamp or index feature, a camera of 2
dimensions, a depth map said in its video info), a data_path climbing out through a folder
('data/../..') and a camera name climbing out through video_path; the episodes table's
columns missing, its numbers NaN, infinite or past int64, its rows out of order, its indices
not 0..n-1, its lengths negative or short of total_frames, its index ranges off at either
end, an episode of no frames; files found by chunk and file index, video files that
alternate between episodes, one missing past the first; a camera read from the middle of its
video file (a seek), the 1e-4 s tolerance to either side, a tie between two frames, a NaN
timestamp; a frame size claimed wrongly in height or width alone; 'image' cameras across
data files and rows (indices out of range, twice, missing, an empty file, frames grey or
RGBA, of another size, paths instead of bytes); large-list, extension-typed and 2-D columns
and the rows their nulls are named at; the frame-rate check of episodes of one or two
frames; numeric_keys, camera_frame_size and is_lerobot_dataset. And the four defects the
review found: a path template with a field nested in its format spec, a NaN timestamp that
switched the frame-rate check off, an empty last episode, a tasks.parquet without tasks.

Each dataset is written by LeRobotWriter and then damaged as a hand edit or another tool
would: its files rewritten with json or pyarrow.
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_lerobot_image_camera_reads import png

from dp_ros.image_fit import CAMERA_CROP
from dp_ros.recorded_sources import SOURCES
from training.lerobot_convert import ConvertError, lerobot_to_zarr
from training.lerobot_format import (
    ImageColumn,
    LeRobotFormatError,
    LeRobotReader,
    LeRobotWriter,
    VideoEncoding,
    camera_frame_size,
    numeric_feature,
    video_feature,
)

FPS = 10
H, W = 16, 24  # not square: a swapped height and width shows
LENGTHS = (5, 7, 7)  # one video file: episode 2 starts at 1.2 s, past the 1 s a seek needs
CAM = 'cam'
STATE = 'observation.state'
GRID = 'observation.grid'  # a 2-D feature: nested lists in the parquet
DATA = 'data/chunk-000/file-000.parquet'
EPISODES = 'meta/episodes/chunk-000/file-000.parquet'
VIDEO = f'videos/{CAM}/chunk-000/file-000.mp4'


def grey(index: np.ndarray) -> np.ndarray:
    """Flat frames whose grey level says their dataset index (11 levels apart)."""
    values = (11 * np.asarray(index)).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (len(values), H, W, 3)).copy()


def states(n: int, start: int) -> np.ndarray:
    """A state whose values say the frame's dataset index."""
    return np.stack([np.arange(start, start + n), -np.arange(start, start + n)], 1) \
        .astype(np.float32)


def grids(n: int, start: int) -> np.ndarray:
    """(n, 2, 2) values saying the frame's dataset index."""
    return (np.arange(start, start + n)[:, None, None] * 10 + np.arange(4).reshape(2, 2)) \
        .astype(np.float32)


@pytest.fixture(scope='module')
def written(tmp_path_factory) -> Path:
    """Three h264 episodes (5, 7 and 7 frames) in one video file, beside a state and a
    grid."""
    root = tmp_path_factory.mktemp('reader') / 'ds'
    features = {CAM: video_feature(H, W), STATE: numeric_feature(states(1, 0)),
                GRID: numeric_feature(grids(1, 0))}
    with LeRobotWriter(root, FPS, features, encoding=VideoEncoding(vcodec='h264')) as writer:
        start = 0
        for n in LENGTHS:
            writer.add_episode({CAM: grey(np.arange(start, start + n)),
                                STATE: states(n, start), GRID: grids(n, start)})
            start += n
    return root


@pytest.fixture
def ds(tmp_path, written) -> Path:
    """A fresh copy of `written`, free to damage."""
    return shutil.copytree(written, tmp_path / 'ds')


def edit_info(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / 'meta/info.json'
    info = json.loads(path.read_text())
    change(info)
    path.write_text(json.dumps(info))


def set_info(root: Path, **values: Any) -> None:
    edit_info(root, lambda info: info.update(values))


def set_column(path: Path, column: str, values: list[Any] | pa.Array,
               typ: pa.DataType | None = None) -> None:
    """Column `column` of a parquet file replaced by these values (of its type, or typ);
    written in row groups of 5 rows, so that columns are read in several chunks."""
    table = pq.read_table(path)
    array = values if isinstance(values, pa.Array) else \
        pa.array(values, type=typ or table.schema.field(column).type)
    pq.write_table(table.set_column(table.column_names.index(column), column, array), path,
                   row_group_size=5)


def refused(root: Path, match: str, read: Callable[[LeRobotReader], Any] | None = None) -> None:
    """Opening `root` (and then `read`) raises a LeRobotFormatError matching `match`."""
    with pytest.raises(LeRobotFormatError, match=match):
        reader = LeRobotReader(root)
        if read is not None:
            read(reader)


# ---------------------------------------------------------------------------- info.json
@pytest.mark.parametrize('key', ['fps', 'features', 'total_episodes', 'total_frames'])
def test_an_info_json_entry_left_out_is_named(ds, key):
    """Each entry the reader sizes or names things by is named when missing (no KeyError)."""
    edit_info(ds, lambda info: info.pop(key))
    refused(ds, f"info.json has no '{key}'")


@pytest.mark.parametrize(('key', 'value', 'said'), [
    ('fps', True, 'fps is True'),
    ('fps', float('inf'), 'fps is inf'),  # json's Infinity: int(inf) is an OverflowError
    ('total_episodes', True, 'total_episodes is True, not a count'),
    ('total_frames', -1, 'total_frames is -1, not a count'),
])
def test_an_info_json_number_of_the_wrong_kind_is_named(ds, key, value, said):
    """A bool is no count or rate (True would be 1), infinity no rate, -1 no count."""
    set_info(ds, **{key: value})
    refused(ds, said)


@pytest.mark.parametrize(('change', 'said'), [
    (lambda fts: fts[STATE].pop('dtype'), f"feature '{STATE}' needs a dtype and a shape"),
    (lambda fts: fts[STATE].update(shape=[0]), f"feature '{STATE}' needs a dtype and a shape"),
    (lambda fts: fts.pop('timestamp'), "features has no 'timestamp'"),
    (lambda fts: fts.pop('index'), "features has no 'index'"),
], ids=['no_dtype', 'shape_0', 'no_timestamp', 'no_index'])
def test_a_feature_the_reader_cannot_use_is_named_when_opened(ds, change, said):
    """A feature without dtype, a shape with a 0 and a missing default column are refused
    when the dataset is opened, not a KeyError or a reshape error in a later read."""
    edit_info(ds, lambda info: change(info['features']))
    refused(ds, said)


def test_a_data_path_through_a_folder_and_out_is_refused_when_opened(ds):
    """'data/../../outside/...' climbs out although its first part is 'data': the template
    is refused as the dataset is opened, and the parquet placed there is never read."""
    template = 'data/../../outside/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
    outside = ds / template.format(chunk_index=0, file_index=0)
    outside.parent.mkdir(parents=True)
    shutil.copy(ds / DATA, outside)
    set_info(ds, data_path=template)
    refused(ds, 'data_path .* leads outside the dataset directory')



# ---------------------------------------------------------------------------- episodes table
def test_a_negative_episode_length_is_named_when_opened(ds):
    """Lengths -1 and 13 add up as 5 and 7 do (index ranges following them): -1 is no count,
    refused before numpy repeats or slices by it."""
    path = ds / EPISODES
    set_column(path, 'length', [-1, 13, 7])
    set_column(path, 'dataset_from_index', [0, -1, 12])
    set_column(path, 'dataset_to_index', [-1, 12, 19])
    refused(ds, 'episode 0 has length -1, not a count')


def test_episodes_short_of_total_frames_are_named_when_opened(ds):
    """info.json's total_frames one more than the episodes hold: a video camera's buffer of
    total_frames rows would keep a row no episode fills."""
    set_info(ds, total_frames=sum(LENGTHS) + 1)
    refused(ds, f'the episodes hold {sum(LENGTHS)} frames, info.json says {sum(LENGTHS) + 1}')


def test_an_unreadable_episodes_file_is_named(ds):
    """A folder where an episodes parquet would be (pyarrow's OSError, not an ArrowException)
    is one line naming it."""
    (ds / 'meta/episodes/chunk-000/file-001.parquet').mkdir()
    refused(ds, 'file-001.parquet is not a readable parquet file')


def test_the_default_columns_are_no_numeric_keys(written):
    """numeric_keys: the dataset's own features, not timestamp, index and the like."""
    assert LeRobotReader(written).numeric_keys == [STATE, GRID]


@pytest.mark.parametrize(('column', 'values', 'said'), [
    ('dataset_from_index', [0, 5, 13], 'episode 2 covers rows 13..19, expected 12..19'),
    ('dataset_to_index', [5, 12, 18], 'episode 2 covers rows 12..18, expected 12..19'),
])
def test_an_index_range_off_at_either_end_is_named(ds, column, values, said):
    """lerobot slices an episode's rows by dataset_from_index and dataset_to_index: either
    one off the lengths is refused."""
    set_column(ds / EPISODES, column, values)
    refused(ds, said, lambda reader: reader.episode_ends())


@pytest.mark.parametrize('column', ['dataset_from_index', 'data/file_index',
                                    f'videos/{CAM}/from_timestamp'])
def test_an_episodes_column_dropped_is_named_when_opened(ds, column):
    """Each episodes-table column the reader slices rows or finds files by is named when
    missing, as the dataset is opened (not a KeyError when it is first used)."""
    table = pq.read_table(ds / EPISODES)
    pq.write_table(table.drop([column]), ds / EPISODES)
    refused(ds, f"file-000.parquet has no column '{column}'")


def test_an_episodes_table_stored_out_of_order_is_read_in_episode_order(ds):
    """Rows of the episodes table in reverse are sorted by episode_index, as lerobot does."""
    table = pq.read_table(ds / EPISODES)
    pq.write_table(table.take(pa.array(np.arange(len(table))[::-1])), ds / EPISODES)
    reader = LeRobotReader(ds)
    assert [ep['episode_index'] for ep in reader.episodes] == [0, 1, 2]
    assert reader.episode_ends().tolist() == np.cumsum(LENGTHS).tolist()


@pytest.mark.parametrize('indices', [[0, 1, 3], [0, 1, 1]])
def test_episode_indices_other_than_0_to_n_are_named(ds, indices):
    """An episode numbered past the count, or twice, is refused: episodes are looked up by
    their index."""
    set_column(ds / EPISODES, 'episode_index', indices)
    refused(ds, 'episode indices are not 0..2')


# ---------------------------------------------------------------------------- videos
def near(frames: np.ndarray, expected: np.ndarray) -> bool:
    """Frames equal within h264's error on flat grey frames."""
    return frames.shape == expected.shape and \
        bool((np.abs(frames.astype(int) - expected.astype(int)) <= 4).all())


def test_an_episode_read_alone_from_the_middle_of_its_video_file(written):
    """Episode 2 starts at 1.2 s of the file: the decoder seeks there, and its frames are its
    own (not episode 1's before it)."""
    reader = LeRobotReader(written)
    timestamps = reader.read_columns(['timestamp'])['timestamp'].reshape(-1)
    (i, frames), = reader.video_episodes(CAM, timestamps, episodes=[2])
    assert i == 2
    assert near(frames, grey(np.arange(12, 19)))


def test_every_frame_of_the_camera_is_that_of_its_index(written):
    reader = LeRobotReader(written)
    assert near(reader.camera_frames(CAM), grey(np.arange(sum(LENGTHS))))


def move(root: Path, old: str, new: str) -> None:
    (root / new).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(root / old, root / new)


def test_files_are_found_by_their_chunk_and_file_index(ds):
    """A data file and a video file stored as file-001 of chunk 0 (the episodes table saying
    so) are read from there: chunk and file index are not swapped."""
    move(ds, DATA, 'data/chunk-000/file-001.parquet')
    move(ds, VIDEO, f'videos/{CAM}/chunk-000/file-001.mp4')
    set_column(ds / EPISODES, 'data/file_index', [1, 1, 1])
    set_column(ds / EPISODES, f'videos/{CAM}/file_index', [1, 1, 1])
    reader = LeRobotReader(ds)
    state = reader.read_columns([STATE])[STATE]
    assert np.array_equal(state, states(sum(LENGTHS), 0))
    assert near(reader.camera_frames(CAM), grey(np.arange(sum(LENGTHS))))


@pytest.mark.parametrize('shape', [[10 ** 9, W, 3], [H, 10 ** 9, 3]], ids=['height', 'width'])
def test_a_frame_size_claim_wrong_in_one_side_is_refused_before_allocating(ds, shape):
    """Height or width alone claimed 10^9 px: refused from the video's header, not a buffer
    of 10^12 bytes allocated first."""
    edit_info(ds, lambda info: info['features'][CAM].update(shape=shape))
    refused(ds, rf"frames of '{CAM}' are \({H}, {W}, 3\), info.json says",
            lambda reader: reader.camera_frames(CAM))


@pytest.mark.parametrize(('column', 'values', 'said'), [
    ('data/file_index', [0.0, 1e19, 0.0], 'is 1e+19 at row 1, not a whole number'),
    (f'videos/{CAM}/from_timestamp', [0.0, float('nan'), 1.2], 'is nan at row 1, not a number'),
    (f'videos/{CAM}/from_timestamp', [0.0, 0.5, float('inf')], 'is inf at row 2, not a number'),
])
def test_an_episodes_number_no_file_or_time_can_be_is_named(ds, column, values, said):
    """A float file index past int64 (cast, it would name another file) and a from_timestamp
    that is NaN or infinite are refused when the dataset is opened, naming the row."""
    set_column(ds / EPISODES, column, values, pa.float64())
    refused(ds, re.escape(f"column '{column}' {said}"))


# ---------------------------------------------------------------------------- images
IMAGE_FILES = ('data/chunk-000/file-000.parquet', 'data/chunk-000/file-001.parquet')


@pytest.fixture(scope='module')
def written_images(tmp_path_factory, written) -> Path:
    """`written` with its camera an 'image' feature (PNG cells, struct {bytes, path}):
    episode 0 in data file 0, episodes 1 and 2 in file 1 with their rows in reverse, row
    groups of 3 (the columns read in chunks)."""
    root = shutil.copytree(written, tmp_path_factory.mktemp('images') / 'ds')
    shutil.rmtree(root / 'videos')

    def image_feature(info: dict[str, Any]) -> None:
        info['features'][CAM] = {'dtype': 'image', 'shape': [H, W, 3], 'names': None}
        info['video_path'] = None
    edit_info(root, image_feature)
    episodes = pq.read_table(root / EPISODES)
    pq.write_table(episodes.drop([c for c in episodes.column_names if c.startswith('videos/')]),
                   root / EPISODES)
    set_column(root / EPISODES, 'data/file_index', [0, 1, 1])
    table = pq.read_table(root / DATA)
    cells = pa.array([{'bytes': png(frame), 'path': None} for frame in grey(np.arange(len(table)))],
                     type=pa.struct([('bytes', pa.binary()), ('path', pa.string())]))
    table = table.append_column(CAM, cells)
    (root / DATA).unlink()
    pq.write_table(table.slice(0, LENGTHS[0]), root / IMAGE_FILES[0], row_group_size=3)
    rest = table.slice(LENGTHS[0])
    pq.write_table(rest.take(pa.array(np.arange(len(rest))[::-1])), root / IMAGE_FILES[1],
                   row_group_size=3)
    return root


@pytest.fixture
def images(tmp_path, written_images) -> Path:
    """A fresh copy of `written_images`, free to damage."""
    return shutil.copytree(written_images, tmp_path / 'images')


def test_image_frames_are_those_of_their_index_across_files_and_rows(written_images):
    """Whole, in any order and a frame alone: each frame is that of its index, wherever its
    file and row."""
    reader = LeRobotReader(written_images)
    n = sum(LENGTHS)
    assert np.array_equal(reader.camera_frames(CAM), grey(np.arange(n)))
    column = ImageColumn(reader, CAM)
    order = np.array([18, 0, 7, 4, 5, 12, 3, 17])
    assert np.array_equal(column.take(order), grey(order))
    assert np.array_equal(column.rows(6, 9), grey(np.arange(6, 9)))
    assert np.array_equal(column.take(np.array([10])), grey(np.array([10])))


def set_image_index(root: Path, f: int, row: int, value: int) -> None:
    path = root / IMAGE_FILES[f]
    index = pq.read_table(path)['index'].to_pylist()
    index[row] = value
    set_column(path, 'index', index)


@pytest.mark.parametrize(('value', 'said'), [
    (-1, 'a frame of index -1, not once each of 0..18'),  # numpy would take it as frame 18
    (19, 'a frame of index 19, not once each of 0..18'),
])
def test_an_image_index_outside_the_frames_is_named(images, value, said):
    """The last frame's index replaced by -1 or by the frame count (file 1's row 0: rows in
    reverse) is refused naming the file, not read as another frame or an IndexError."""
    set_image_index(images, 1, 0, value)
    refused(images, 'file-001.parquet: image .* has ' + said,
            lambda reader: ImageColumn(reader, CAM))


def test_an_image_row_twice_in_one_file_is_named(images):
    """A row repeated in a file (a frame's index twice there, one row more than the frames):
    refused, not the later row taken."""
    path = images / IMAGE_FILES[0]
    table = pq.read_table(path)
    pq.write_table(pa.concat_tables([table, table.slice(2, 1)]), path)
    refused(images, 'file-000.parquet: image .* has a frame of index 2, not once each',
            lambda reader: ImageColumn(reader, CAM))


def test_a_data_file_without_the_image_column_is_named_when_the_camera_is_opened(images):
    """The camera's column missing from the second data file is named when it is opened,
    before any frame is decoded."""
    path = images / IMAGE_FILES[1]
    pq.write_table(pq.read_table(path).drop([CAM]), path)
    refused(images, f"file-001.parquet has no column '{CAM}'",
            lambda reader: ImageColumn(reader, CAM))


def test_an_image_frame_missing_is_named_when_the_camera_is_opened(images):
    """The last frame's row dropped (total_frames unchanged): named, not frame 18 read from
    whatever file and row a -1 finds."""
    path = images / IMAGE_FILES[1]
    pq.write_table(pq.read_table(path).slice(1), path)
    refused(images, rf"image '{CAM}' has no frame of index 18 \(of 0..18\)",
            lambda reader: ImageColumn(reader, CAM))


def test_the_size_check_reads_frame_0_where_it_lies(images):
    """Frame 0 stored in row 4 (its file's rows in reverse) at another size than the rest:
    the size check when the camera is opened decodes frame 0's header, not row 0's."""
    path = images / IMAGE_FILES[0]
    table = pq.read_table(path)
    table = table.take(pa.array(np.arange(len(table))[::-1]))
    cells = table[CAM].to_pylist()
    cells[-1] = {'bytes': png(np.zeros((8, 8, 3), np.uint8)), 'path': None}
    pq.write_table(table.set_column(table.column_names.index(CAM), CAM,
                                    pa.array(cells, table.schema.field(CAM).type)), path)
    refused(images, rf"image '{CAM}' of frame 0 is \(8, 8, 3\), info.json says",
            lambda reader: ImageColumn(reader, CAM))


def test_a_camera_name_climbing_out_of_the_dataset_is_refused(ds):
    """A video feature named '../../outside' fills video_path with a path outside the
    dataset (its video placed there): refused when the camera is read, not decoded."""
    name = '../../outside'

    def rename(info: dict[str, Any]) -> None:
        info['features'][name] = info['features'].pop(CAM)
    edit_info(ds, rename)
    table = pq.read_table(ds / EPISODES)
    pq.write_table(table.rename_columns([c.replace(f'videos/{CAM}/', f'videos/{name}/')
                                         for c in table.column_names]), ds / EPISODES)
    move(ds, VIDEO, f'videos/{name}/chunk-000/file-000.mp4')
    assert (ds.parent / 'outside/chunk-000/file-000.mp4').is_file()
    refused(ds, 'video_path .* outside the dataset directory',
            lambda reader: reader.camera_frames(name))


# ---------------------------------------------------------------------------- columns
@pytest.mark.parametrize('root', ['written', 'written_images'])
def test_a_camera_asked_for_as_a_column_is_named(request, root):
    """read_columns takes numeric features: a camera is named, with those there are."""
    reader = LeRobotReader(request.getfixturevalue(root))
    with pytest.raises(LeRobotFormatError, match=rf"has no numeric feature '{CAM}' \(has "):
        reader.read_columns([CAM])


def as_large_lists(path: Path, column: str, cells: dict[int, Any] | None = None) -> None:
    """A list column of a data file rewritten as large lists (as polars writes them), these
    cells (row: value) changed."""
    table = pq.read_table(path)
    values = table[column].to_pylist()
    for row, value in (cells or {}).items():
        values[row] = value
    typ = table.schema.field(column).type
    large = pa.float32()
    for _ in range(2 if pa.types.is_list(typ.value_type) else 1):
        large = pa.large_list(large)
    set_column(path, column, pa.array(values, large))


def test_large_list_columns_are_read(ds):
    """A state and a grid stored as large lists read back as they were written."""
    as_large_lists(ds / DATA, STATE)
    as_large_lists(ds / DATA, GRID)
    columns = LeRobotReader(ds).read_columns([STATE, GRID])
    assert set(columns) == {STATE, GRID}  # the index and timestamps read beside them: not
    assert np.array_equal(columns[STATE], states(sum(LENGTHS), 0))
    assert np.array_equal(columns[GRID], grids(sum(LENGTHS), 0))


@pytest.mark.parametrize('large', [False, True], ids=['lists', 'large_lists'])
def test_a_null_deep_in_a_grid_names_its_row(ds, large):
    """A null inside row 6's second inner list (a later row group) is named at row 6."""
    cell = [[60.0, 61.0], [None, 63.0]]
    if large:
        as_large_lists(ds / DATA, GRID, {6: cell})
    else:
        values = pq.read_table(ds / DATA)[GRID].to_pylist()
        values[6] = cell
        set_column(ds / DATA, GRID, values)
    refused(ds, f"'{GRID}' is null at row 6", lambda reader: reader.read_columns([GRID]))


def test_a_frame_index_twice_in_the_data_is_named(ds):
    """Row 7 given row 6's index (the count still right): refused, not a frame read twice
    and another left out."""
    index = pq.read_table(ds / DATA)['index'].to_pylist()
    index[7] = index[6]
    set_column(ds / DATA, 'index', index)
    refused(ds, 'data files hold 19 frames whose index is not 0..18',
            lambda reader: reader.read_columns([STATE]))


# ---------------------------------------------------------------------------- frame rate
def test_an_fps_ten_percent_off_the_timestamps_is_named(ds):
    """fps 11 over frames 0.1 s apart: a control period 10 % off is refused."""
    set_info(ds, fps=11)
    refused(ds, 'says fps 11 .* but its timestamps are 0.1 s apart',
            lambda reader: reader.read_columns([STATE]))


@pytest.mark.filterwarnings('error')
@pytest.mark.parametrize('lengths', [(2, 1, 1, 1), (1, 1, 1)])
def test_the_frame_rate_of_short_episodes_is_taken_within_them(tmp_path, lengths):
    """Episodes of one or two frames: the steps from one episode to the next (back to time
    0) are no frame spacing, and no spacing at all is no numpy warning."""
    features = {STATE: numeric_feature(states(1, 0))}
    with LeRobotWriter(tmp_path / 'ds', FPS, features) as writer:
        for n in lengths:
            writer.add_episode({STATE: states(n, 0)})
    columns = LeRobotReader(tmp_path / 'ds').read_columns([STATE])
    assert len(columns[STATE]) == sum(lengths)


def test_a_timestamp_that_is_no_number_names_its_own_frame(written):
    """One NaN timestamp (episode 1's frame 2) is that frame's error alone: the others'
    tolerance windows stay finite and their frames are found."""
    reader = LeRobotReader(written)
    timestamps = reader.read_columns(['timestamp'])['timestamp'].reshape(-1)
    timestamps[7] = np.nan
    with pytest.raises(LeRobotFormatError,
                       match=f"1 frames of '{CAM}' in episode 1 .*first: frame 2, timestamp nan"):
        reader.camera_frames(CAM, timestamps=timestamps)


def test_episodes_asked_for_out_of_order_or_twice_come_once_in_order(written):
    reader = LeRobotReader(written)
    timestamps = reader.read_columns(['timestamp'])['timestamp'].reshape(-1)
    got = list(reader.video_episodes(CAM, timestamps, episodes=[2, 0, 2]))
    assert [i for i, _ in got] == [0, 2]
    assert near(got[0][1], grey(np.arange(0, 5))) and near(got[1][1], grey(np.arange(12, 19)))


def alternate_videos(ds: Path, tmp_path: Path) -> None:
    """`ds` with episodes 0 and 2 in video file-000, episode 1 in file-001."""
    for name, parts in (('a', [np.arange(0, 5), np.arange(12, 19)]), ('b', [np.arange(5, 12)])):
        with LeRobotWriter(tmp_path / name, FPS, {CAM: video_feature(H, W)},
                           encoding=VideoEncoding(vcodec='h264')) as writer:
            for part in parts:
                writer.add_episode({CAM: grey(part)})
    shutil.copy(tmp_path / 'a' / VIDEO, ds / VIDEO)
    shutil.copy(tmp_path / 'b' / VIDEO, ds / f'videos/{CAM}/chunk-000/file-001.mp4')
    set_column(ds / EPISODES, f'videos/{CAM}/file_index', [0, 1, 0])
    set_column(ds / EPISODES, f'videos/{CAM}/from_timestamp', [0.0, 0.0, 0.5])


def test_episodes_whose_video_files_alternate_are_all_read(ds, tmp_path):
    """Episodes 0 and 2 in one video file, episode 1 in another: decoded file by file, every
    episode is handed over, in order, and each frame is that of its index."""
    alternate_videos(ds, tmp_path)
    reader = LeRobotReader(ds)
    timestamps = reader.read_columns(['timestamp'])['timestamp'].reshape(-1)
    assert [i for i, _ in reader.video_episodes(CAM, timestamps)] == [0, 1, 2]
    assert near(reader.camera_frames(CAM), grey(np.arange(sum(LENGTHS))))


def test_a_video_file_missing_past_the_first_is_named(ds, tmp_path):
    """Episode 1's video file (not the first episode's) missing: named as missing."""
    alternate_videos(ds, tmp_path)
    (ds / f'videos/{CAM}/chunk-000/file-001.mp4').unlink()
    refused(ds, 'video .*file-001.mp4 is missing', lambda reader: reader.camera_frames(CAM))


@pytest.mark.parametrize(('offset', 'found'), [(8e-5, True), (-8e-5, True), (1.3e-4, False)])
def test_the_tolerance_is_1e_4_s_to_either_side(written, offset, found):
    """A timestamp 0.8e-4 s before or after its frame's time is found at the default
    tolerance (its own frame), 1.3e-4 s is not."""
    reader = LeRobotReader(written)
    timestamps = reader.read_columns(['timestamp'])['timestamp'].reshape(-1).astype(np.float64)
    timestamps[7] += offset
    if found:
        assert near(reader.camera_frames(CAM, timestamps=timestamps),
                    grey(np.arange(sum(LENGTHS))))
    else:
        with pytest.raises(LeRobotFormatError, match='first: frame 2, timestamp 0.2001 s'):
            reader.camera_frames(CAM, timestamps=timestamps)



def test_an_episode_of_no_frames_alone_in_its_video_file_is_read_as_empty(ds):
    """An episode 0 of length 0 (a hand-made table; its own file queried for nothing) reads
    as no frames beside the others, not an IndexError."""
    table = pq.read_table(ds / EPISODES)
    rows = table.to_pylist()
    empty = {**rows[0], 'length': 0, 'dataset_to_index': 0, f'videos/{CAM}/file_index': 1}
    for k, row in enumerate(rows):
        row['episode_index'] = k + 1
    pq.write_table(pa.Table.from_pylist([empty, *rows], schema=table.schema), ds / EPISODES)
    episode_index = pq.read_table(ds / DATA)['episode_index'].to_numpy() + 1
    set_column(ds / DATA, 'episode_index', episode_index.tolist())
    shutil.copy(ds / VIDEO, ds / f'videos/{CAM}/chunk-000/file-001.mp4')
    set_info(ds, total_episodes=4)
    reader = LeRobotReader(ds)
    timestamps = reader.read_columns(['timestamp'])['timestamp'].reshape(-1)
    got = dict(reader.video_episodes(CAM, timestamps))
    assert sorted(got) == [0, 1, 2, 3] and got[0].shape == (0, H, W, 3)
    assert near(reader.camera_frames(CAM), grey(np.arange(sum(LENGTHS))))


# ---------------------------------------------------------------------------- camera features
def test_a_camera_stored_channel_first_under_the_singular_name_is_read(ds):
    """names ['channel', 'height', 'width'] (lerobot's singular) with shape [3, H, W]: read
    as (H, W, 3) frames."""
    edit_info(ds, lambda info: info['features'][CAM].update(
        shape=[3, H, W], names=['channel', 'height', 'width']))
    assert near(LeRobotReader(ds).camera_frames(CAM), grey(np.arange(sum(LENGTHS))))


def test_a_depth_map_said_in_the_video_info_is_refused(ds):
    """info's 'video.is_depth_map' (as lerobot's get_video_info records it) is refused as
    a depth map, not decoded into 8-bit grey colour."""
    edit_info(ds, lambda info: info['features'][CAM]['info'].update({'video.is_depth_map': True}))
    refused(ds, f"camera feature '{CAM}' is a depth map", lambda reader: reader.camera_frames(CAM))


def test_a_camera_of_two_dimensions_is_named(ds):
    edit_info(ds, lambda info: info['features'][CAM].update(shape=[H, W]))
    refused(ds, rf"camera feature '{CAM}' has shape \[{H}, {W}\], expected 3-D",
            lambda reader: reader.camera_frames(CAM))


def test_a_query_halfway_between_two_frames_takes_the_earlier(tmp_path):
    """At 4 fps (frame times exact in binary) a timestamp 0.125 s late is as near its frame
    as the next: with a tolerance reaching both, it takes the earlier one, as lerobot's argmin
    does."""
    with LeRobotWriter(tmp_path / 'ds', 4, {CAM: video_feature(H, W)},
                       encoding=VideoEncoding(vcodec='h264')) as writer:
        writer.add_episode({CAM: grey(np.arange(4))})
    reader = LeRobotReader(tmp_path / 'ds')
    timestamps = np.arange(4) / 4 + 0.125
    assert near(reader.camera_frames(CAM, timestamps=timestamps, tolerance_s=0.2),
                grey(np.arange(4)))


def test_an_empty_data_file_beside_an_image_camera_is_passed_over(images):
    """Episode 0 of no frames in a data file of no rows whose index column is of type null
    (as pandas writes an empty object column): the camera opens and reads."""
    table = pq.read_table(images / EPISODES)
    rows = table.to_pylist()
    empty = {**rows[0], 'length': 0, 'dataset_to_index': 0, 'data/file_index': 2}
    for k, row in enumerate(rows):
        row['episode_index'] = k + 1
    pq.write_table(pa.Table.from_pylist([empty, *rows], schema=table.schema), images / EPISODES)
    for path in IMAGE_FILES:
        episode_index = pq.read_table(images / path)['episode_index'].to_numpy() + 1
        set_column(images / path, 'episode_index', episode_index.tolist())
    cam = pq.read_table(images / IMAGE_FILES[0]).schema.field(CAM).type
    pq.write_table(pa.table({'index': pa.array([], pa.null()), CAM: pa.array([], cam)}),
                   images / 'data/chunk-000/file-002.parquet')
    set_info(images, total_episodes=4)
    reader = LeRobotReader(images)
    assert len(reader.data_files()) == 3
    assert np.array_equal(ImageColumn(reader, CAM).rows(0, sum(LENGTHS)),
                          grey(np.arange(sum(LENGTHS))))


class GridType(pa.ExtensionType):
    """An extension type over nested lists, as `datasets` registers its Array2D (a process
    that imported it reads such a column as this type, not as its storage)."""

    def __init__(self) -> None:
        super().__init__(pa.list_(pa.list_(pa.float32())), 'dp_ros_test.grid')

    def __arrow_ext_serialize__(self) -> bytes:
        return b''

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type: pa.DataType, serialized: bytes) -> GridType:
        return cls()


@pytest.fixture
def grid_extension():
    pa.register_extension_type(GridType())
    yield
    pa.unregister_extension_type('dp_ros_test.grid')


@pytest.mark.parametrize('null', [False, True])
def test_a_column_of_a_registered_extension_type_is_read_by_its_storage(ds, grid_extension,
                                                                       null):
    """The grid column stored as an extension type reads back its values, and a null deep
    inside it (row 6) is named."""
    values = pq.read_table(ds / DATA)[GRID].to_pylist()
    if null:
        values[6] = [[60.0, None], [62.0, 63.0]]
    storage = pa.array(values, pa.list_(pa.list_(pa.float32())))
    set_column(ds / DATA, GRID, pa.ExtensionArray.from_storage(GridType(), storage))
    assert isinstance(pq.read_table(ds / DATA)[GRID].type, GridType)
    if null:
        refused(ds, f"'{GRID}' is null at row 6", lambda reader: reader.read_columns([GRID]))
    else:
        assert np.array_equal(LeRobotReader(ds).read_columns([GRID])[GRID],
                              grids(sum(LENGTHS), 0))


def test_an_image_camera_of_no_frames_opens(images):
    """A dataset of no episodes (an empty episodes table, total_frames 0): the camera opens
    and reads as no frames, with no frame 0 to check the size of."""
    table = pq.read_table(images / EPISODES)
    pq.write_table(table.slice(0, 0), images / EPISODES)
    set_info(images, total_episodes=0, total_frames=0)
    assert ImageColumn(LeRobotReader(images), CAM).rows(0, 0).shape == (0, H, W, 3)


def set_image_cell(root: Path, frame: int, cell: Any) -> None:
    """Frame `frame`'s cell (file 0 holds frames 0..4 in order) set to `cell`."""
    path = root / IMAGE_FILES[0]
    table = pq.read_table(path)
    cells = table[CAM].to_pylist()
    cells[frame] = cell
    set_column(path, CAM, cells)


def test_image_frames_stored_grey_or_with_alpha_are_read_as_rgb(images):
    """Frame 3 a grey ('L') PNG and frame 4 an RGBA one: read as their RGB frames."""
    from PIL import Image

    for frame, mode in ((3, 'L'), (4, 'RGBA')):
        image = Image.fromarray(grey(np.array([frame]))[0]).convert(mode)
        set_image_cell(images, frame, {'bytes': png(np.asarray(image)), 'path': None})
    frames = ImageColumn(LeRobotReader(images), CAM).rows(0, 5)
    assert np.array_equal(frames, grey(np.arange(5)))


def test_an_image_frame_of_another_size_past_the_first_is_named_by_its_size(images):
    """Frame 3 at 8x8 (frame 0, checked when the camera opens, the right size): its read
    names its size against info.json's, before anything is decoded into place."""
    set_image_cell(images, 3, {'bytes': png(np.zeros((8, 8, 3), np.uint8)), 'path': None})
    column = ImageColumn(LeRobotReader(images), CAM)
    with pytest.raises(LeRobotFormatError, match=r"of frame 3 is \(8, 8, 3\), info.json says"):
        column.rows(0, 5)


def test_an_image_column_of_paths_is_named(images):
    """A camera column of plain strings (file names, no bytes) is one line saying so."""
    for path in IMAGE_FILES:
        table = pq.read_table(images / path)
        set_column(images / path, CAM, [f'frame-{i}.png' for i in table['index'].to_pylist()],
                   pa.string())
    refused(images, 'of frame 0 holds a path, not bytes', lambda reader: ImageColumn(reader, CAM))


@pytest.mark.parametrize(('extra', 'size'), [
    ({}, [H, W]),
    ({CAMERA_CROP: [0, 0, H, W]}, None),
    ({SOURCES: [{'topic': '/camera/image_raw'}]}, None),
], ids=['as_recorded', 'cropped', 'with_sources'])
def test_a_cameras_frame_size_is_its_own_unless_cropped_or_converted(ds, extra, size):
    """camera_frame_size: the frames' [height, width]; None where bag2zarr cropped them
    (camera_crop) or the sources say the size before (the policy node checks against it)."""
    edit_info(ds, lambda info: info['features'][CAM].update(extra))
    reader = LeRobotReader(ds)
    assert camera_frame_size(reader, CAM) == size
    assert camera_frame_size(reader, STATE) is None


def test_a_folder_named_info_json_is_no_lerobot_dataset(tmp_path):
    from training.lerobot_format import is_lerobot_dataset

    (tmp_path / 'meta/info.json').mkdir(parents=True)
    assert not is_lerobot_dataset(tmp_path)


def test_the_first_episodes_video_file_missing_is_named_as_missing(ds):
    """The size check (the first episode's video header, read before any buffer) says the
    file is missing, not that it cannot be decoded."""
    (ds / VIDEO).unlink()
    refused(ds, 'video .*file-000.mp4 is missing', lambda reader: reader.camera_frames(CAM))


# ---------------------------------------------------------------------------- defects found
@pytest.mark.parametrize('template', ['data/chunk-{chunk_index:{x}}/file-{file_index:03d}.parquet',
                                      'data/chunk-{chunk_index:{0}}/file-{file_index:03d}.parquet',
                                      'data/chunk-{chunk_index:{}}/file-{file_index:03d}.parquet'])
def test_a_path_template_with_a_field_in_its_format_spec_is_named(ds, template):
    """A field nested in a format spec (parse() lists only the outer one; format() looks the
    inner up): a KeyError or IndexError traceback at open, now 'is no path template'."""
    set_info(ds, data_path=template)
    refused(ds, 'data_path .* is no path template')


def test_a_nan_timestamp_is_named_and_keeps_the_frame_rate_checked(ds):
    """fps 20 over frames 0.1 s apart is refused; with one timestamp NaN as well, the median
    spacing was NaN and any fps passed (dp-ros convert wrote the wrong rate, exit 0): the NaN
    is named by its frame."""
    set_info(ds, fps=20)
    refused(ds, 'says fps 20', lambda reader: reader.read_columns([STATE]))
    stamps = pq.read_table(ds / DATA)['timestamp'].to_pylist()
    stamps[7] = float('nan')
    set_column(ds / DATA, 'timestamp', stamps)
    refused(ds, r'frame 2 of episode 1 \(row 7\) has timestamp nan; 1 row\(s\) have no '
                'finite timestamp', lambda reader: reader.read_columns([STATE]))


def add_empty_last_episode(ds: Path) -> None:
    """An episode of no frames after the last row (its index range total..total)."""
    table = pq.read_table(ds / EPISODES)
    rows = table.to_pylist()
    total = sum(LENGTHS)
    rows.append({**rows[-1], 'episode_index': len(rows), 'length': 0,
                 'dataset_from_index': total, 'dataset_to_index': total})
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), ds / EPISODES)
    set_info(ds, total_episodes=len(rows))


def test_an_empty_last_episode_is_read(ds):
    """An episode of no frames after the last row (its index range total..total): the frame
    rate check indexed a gap past the last (IndexError); now read, as an empty episode
    elsewhere is."""
    add_empty_last_episode(ds)
    reader = LeRobotReader(ds)
    assert list(reader.lengths()) == [*LENGTHS, 0]
    assert np.array_equal(reader.read_columns([STATE])[STATE], states(sum(LENGTHS), 0))


def test_an_empty_episode_is_not_converted_to_zarr(ds, tmp_path):
    """lerobot -> zarr of a dataset with an empty episode: refused naming it before a frame
    is decoded (was a store with an empty episode, of a kind the zarr writer refuses), and
    no output left."""
    add_empty_last_episode(ds)
    with pytest.raises(ConvertError, match=r'episode 3 is empty \(its end in episode_ends, '
                                           r'19, is where it starts.*at least one step'):
        lerobot_to_zarr(ds, tmp_path / 'out.zarr', progress=False)
    assert not (tmp_path / 'out.zarr').exists()


def test_a_tasks_file_without_tasks_is_named(ds):
    """meta/tasks.parquet holding only task_index: an IndexError traceback, now named."""
    pq.write_table(pa.table({'task_index': [0]}), ds / 'meta/tasks.parquet')
    refused(ds, 'tasks.parquet has no task column beside task_index',
            lambda reader: reader.tasks())
