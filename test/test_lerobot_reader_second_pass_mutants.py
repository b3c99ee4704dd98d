"""LeRobotReader (training/lerobot_format.py's read side): a second mutation review's
findings, behaviour the first pass (test_lerobot_reader_mutants.py) and the other
test_lerobot_*.py files left open, each test naming the change it catches:

- opening: a path that is no folder is FileNotFoundError naming it (the is_dir check dropped
  survived: "no info.json"); info.json's fps 10.0 is the int 10 (check_fps returning the
  float survived); codebase_version 'v3.1' is read (only 'v3.0' taken survived);
- metadata: a bool feature (lerobot's next.done) is numeric and reads as bools (bool dropped
  from NUMERIC_DTYPES survived); no meta/tasks.parquet is no tasks (its is_file check
  dropped survived: "not a readable parquet file"); timestamp_slack of a negative
  timestamp is its magnitude's spacing (np.abs dropped survived);
- rows: a data file missing is named missing, not unreadable (its check dropped survived);
  lengths that split the rows elsewhere name the episode whose rows run past its claim (the
  expected episode named instead survived);
- frame rate: 1 % to either side (a tolerance of 5 % or 0.01 %, and abs() dropped,
  survived); the median step, so a pause does not count (a mean survived); an empty first
  episode does not switch the check off (its end, row 0, taken as a cut survived);
- videos: an episode starting between two keyframes of a file encoded whole (g=30) is read
  alone by seeking back to the keyframe before (a forward seek survived); an mp4 holding
  audio alone is named as holding no video stream (both checks dropped survived: an
  IndexError); a file that is no video is named with FFmpeg's reason alone (strerror
  dropped survived: the errno and path repeated); a video camera of no episodes reads as
  no frames (check_video_size's no-episodes return dropped survived).

And the defect it found, mended in from_arrow: it checked only the total count of a list
column's values, so a variable-length list column (list<float>, as tools other than
`datasets` write it) whose rows hold 3 and 1 values where the shape says 2 and 2 was read
with a value moved into the next frame, silently; now each list's length is checked and the
first row of another length named, with the data file and the key.

Each dataset is written by LeRobotWriter and then damaged as a hand edit or another tool
would: its files rewritten with json or pyarrow (PyAV for the audio-only mp4).
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_lerobot_reader_mutants import grids, set_column, set_info, states

from training.lerobot_format import (
    LeRobotFormatError,
    LeRobotReader,
    LeRobotWriter,
    VideoEncoding,
    numeric_feature,
    timestamp_slack,
    video_feature,
)

FPS = 10
LENGTHS = (4, 3, 5)
STATE = 'observation.state'
GRID = 'observation.grid'  # a 2-D feature: nested lists in the parquet
DONE = 'next.done'  # lerobot's recorder stores it as a bool feature
DATA = 'data/chunk-000/file-000.parquet'
EPISODES = 'meta/episodes/chunk-000/file-000.parquet'
TASKS = ('pick the cube', 'push the T', 'pick the cube')


def dones(n: int) -> np.ndarray:
    return (np.arange(n) == n - 1).reshape(n, 1)


@pytest.fixture(scope='module')
def written(tmp_path_factory) -> Path:
    """Three episodes (4, 3 and 5 frames) of a state, a grid and a bool done flag; no
    camera."""
    root = tmp_path_factory.mktemp('second') / 'ds'
    features = {STATE: numeric_feature(states(1, 0)), GRID: numeric_feature(grids(1, 0)),
                DONE: numeric_feature(dones(1))}
    with LeRobotWriter(root, FPS, features) as writer:
        start = 0
        for n, task in zip(LENGTHS, TASKS, strict=True):
            writer.add_episode({STATE: states(n, start), GRID: grids(n, start),
                                DONE: dones(n)}, task=task)
            start += n
    return root


@pytest.fixture
def ds(tmp_path, written) -> Path:
    """A fresh copy of `written`, free to damage."""
    return shutil.copytree(written, tmp_path / 'ds')


def refused(root: Path, match: str, read: Callable[[LeRobotReader], Any] | None = None) -> None:
    """Opening `root` (and then `read`) raises a LeRobotFormatError matching `match`."""
    with pytest.raises(LeRobotFormatError, match=match):
        reader = LeRobotReader(root)
        if read is not None:
            read(reader)


TOTAL = sum(LENGTHS)


# ---------------------------------------------------------------------------- opening
def test_a_dataset_path_that_is_no_folder_is_not_found(tmp_path):
    """A mistyped path (nothing there, or a file) is FileNotFoundError naming it, not a
    dataset said to lack its info.json."""
    for path in (tmp_path / 'absent', tmp_path / 'a_file'):
        if path.name == 'a_file':
            path.write_text('{}')
        with pytest.raises(FileNotFoundError, match=re.escape(f'no LeRobotDataset at {path}')):
            LeRobotReader(path)


def test_an_integral_float_fps_is_read_as_an_int(ds):
    """info.json's fps 10.0 (a tool writing floats) is the integer 10: the zarr store's fps
    and training's control period take it from here."""
    set_info(ds, fps=10.0)
    fps = LeRobotReader(ds).fps
    assert fps == 10 and type(fps) is int


def test_a_later_v3_minor_version_is_read(ds):
    """codebase_version 'v3.1' is a v3 dataset: read, not refused as of another version."""
    set_info(ds, codebase_version='v3.1')
    assert LeRobotReader(ds).info['codebase_version'] == 'v3.1'


# ---------------------------------------------------------------------------- features
def test_a_bool_feature_is_numeric_and_read_as_bools(written):
    """A bool feature (lerobot's next.done) is one of numeric_keys and reads back as bools."""
    reader = LeRobotReader(written)
    assert reader.numeric_keys == [STATE, GRID, DONE]
    done = reader.read_columns([DONE])[DONE]
    assert done.dtype == np.bool_
    assert np.array_equal(done, np.concatenate([dones(n) for n in LENGTHS]))


def test_tasks_are_read_and_a_dataset_without_a_tasks_file_has_none(ds):
    """tasks.parquet gives {task_index: task}; where there is none, no tasks (not a file
    named unreadable)."""
    assert LeRobotReader(ds).tasks() == {0: 'pick the cube', 1: 'push the T'}
    (ds / 'meta/tasks.parquet').unlink()
    assert LeRobotReader(ds).tasks() == {}


def test_timestamp_slack_is_the_float32_spacing_of_its_magnitude():
    """The slack of a timestamp is its float32 spacing, of -t as of t; 0 where not finite."""
    got = timestamp_slack(np.array([0.5, 2048.0, -2048.0, -0.5, np.inf, np.nan]))
    assert got.dtype == np.float64
    assert got.tolist() == [2.0 ** -24, 2.0 ** -12, 2.0 ** -12, 2.0 ** -24, 0.0, 0.0]


def test_a_data_file_missing_is_named_as_missing(ds):
    """A data file an episode names but the copy lacks is named missing, not unreadable."""
    (ds / DATA).unlink()
    refused(ds, re.escape(f'data file {ds / DATA} is missing'),
            lambda reader: reader.read_columns([STATE]))


def test_an_episode_claiming_too_few_rows_is_the_one_named(ds):
    """Lengths 3 and 4 claimed for episodes whose rows are 4 and 3 (the index ranges moved to
    match): episode 0, whose rows run on past its claim, is named, not episode 1."""
    set_column(ds / EPISODES, 'length', [3, 4, 5])
    set_column(ds / EPISODES, 'dataset_from_index', [0, 3, 7])
    set_column(ds / EPISODES, 'dataset_to_index', [3, 7, 12])
    refused(ds, re.escape(f'{ds}: episode 0 claims 3 frames in meta/episodes, the data files '
                          'hold 4 rows of it'), lambda reader: reader.read_columns([STATE]))


def set_spacing(root: Path, spacing: float) -> None:
    """Every episode's timestamps `spacing` s apart (float32, as written)."""
    stamps = np.concatenate([np.arange(n) * spacing for n in LENGTHS]).astype(np.float32)
    set_column(root / DATA, 'timestamp', pa.array(stamps))


@pytest.mark.parametrize(('spacing', 'said'), [(0.1005, None), (0.0995, None),
                                               (0.102, '0.102'), (0.098, '0.098')])
def test_the_frame_rate_tolerance_is_one_percent_to_either_side(ds, spacing, said):
    """fps 10 over frames 0.5 % apart from 0.1 s is read; 2 % apart, slower or faster, is
    refused naming the spacing."""
    set_spacing(ds, spacing)
    if said is None:
        assert len(LeRobotReader(ds).read_columns([STATE])[STATE]) == TOTAL
    else:
        refused(ds, re.escape(f'says fps 10 (frames 0.1 s apart) but its timestamps are {said} '
                              's apart (median within episodes); correct its fps'),
                lambda reader: reader.read_columns([STATE]))


def test_a_pause_in_one_episode_does_not_count_against_the_frame_rate(ds):
    """Episode 2's last frame 1.1 s after the one before (the recorder paused): the median
    step is still 0.1 s and fps 10 is read (a mean, 0.21 s, would refuse it)."""
    stamps = np.concatenate([np.arange(n) * 0.1 for n in LENGTHS])
    stamps[-1] += 1.0
    set_column(ds / DATA, 'timestamp', pa.array(stamps.astype(np.float32)))
    assert np.array_equal(LeRobotReader(ds).read_columns([STATE])[STATE], states(TOTAL, 0))


def prepend_empty_episode(root: Path) -> None:
    """An episode of no frames before the first (its index range 0..0), the others and the
    data rows' episode_index moved up by one."""
    table = pq.read_table(root / EPISODES)
    rows = table.to_pylist()
    empty = {**rows[0], 'length': 0, 'dataset_from_index': 0, 'dataset_to_index': 0}
    rows = [empty, *rows]
    for i, row in enumerate(rows):
        row['episode_index'] = i
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), root / EPISODES)
    set_column(root / DATA, 'episode_index',
               pq.read_table(root / DATA)['episode_index'].to_numpy() + 1)
    set_info(root, total_episodes=len(rows))


def test_an_empty_first_episode_keeps_the_frame_rate_checked(tmp_path):
    """Episodes of 0 and 2 frames: the one step inside episode 1 is the spacing, read at
    fps 10 and refused at fps 20 (the empty episode's end, row 0, taken as a cut dropped the
    last step instead: nothing left to check, any fps passed)."""
    features = {STATE: numeric_feature(states(1, 0))}
    with LeRobotWriter(tmp_path / 'ds', FPS, features) as writer:
        writer.add_episode({STATE: states(2, 0)})
    prepend_empty_episode(tmp_path / 'ds')
    reader = LeRobotReader(tmp_path / 'ds')
    assert list(reader.lengths()) == [0, 2]
    assert np.array_equal(reader.read_columns([STATE])[STATE], states(2, 0))
    set_info(tmp_path / 'ds', fps=20)
    refused(tmp_path / 'ds', r'says fps 20 .* but its timestamps are 0\.1 s apart',
            lambda reader: reader.read_columns([STATE]))


# ---------------------------------------------------------------------------- videos
VCAM = 'observation.images.top'
VH, VW = 16, 24


def near(frames: np.ndarray, expected: np.ndarray) -> bool:
    """Frames equal within h264's error on flat grey frames."""
    return frames.shape == expected.shape and \
        bool((np.abs(frames.astype(int) - expected.astype(int)) <= 4).all())


def vgrey(index: np.ndarray) -> np.ndarray:
    """Flat frames whose grey level says their dataset index (6 levels apart)."""
    values = (6 * np.asarray(index)).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (len(values), VH, VW, 3)).copy()


@pytest.fixture(scope='module')
def keyframes_apart(tmp_path_factory) -> Path:
    """Two episodes (13 and 25 frames) in one h264 stream encoded whole, its keyframes
    30 frames apart (g=30; a file re-encoded after recording): episode 1 starts at 1.3 s,
    between the keyframes at 0 s and 3 s. Written as one episode of 38 frames, then split
    in the episodes table and the data rows."""
    root = tmp_path_factory.mktemp('gop') / 'ds'
    with LeRobotWriter(root, FPS, {VCAM: video_feature(VH, VW)},
                       encoding=VideoEncoding(vcodec='h264', g=30)) as writer:
        writer.add_episode({VCAM: vgrey(np.arange(38))})
    table = pq.read_table(root / EPISODES)
    first = {**table.to_pylist()[0], 'length': 13, 'dataset_to_index': 13,
             f'videos/{VCAM}/to_timestamp': 1.3}
    second = {**first, 'episode_index': 1, 'length': 25, 'dataset_from_index': 13,
              'dataset_to_index': 38, f'videos/{VCAM}/from_timestamp': 1.3,
              f'videos/{VCAM}/to_timestamp': 3.8}
    pq.write_table(pa.Table.from_pylist([first, second], schema=table.schema), root / EPISODES)
    episode = np.repeat([0, 1], [13, 25])
    frame = np.concatenate([np.arange(13), np.arange(25)])
    set_column(root / DATA, 'episode_index', pa.array(episode))
    set_column(root / DATA, 'frame_index', pa.array(frame))
    set_column(root / DATA, 'timestamp', pa.array((frame / FPS).astype(np.float32)))
    set_info(root, total_episodes=2)
    return root


def test_an_episode_between_keyframes_is_read_alone_from_the_keyframe_before(keyframes_apart):
    """Episode 1 read alone: the seek to 1.3 s goes back to the keyframe at 0 s and decodes
    on from there (a seek forward, to the keyframe at 3 s, missed the episode's first 17
    frames)."""
    reader = LeRobotReader(keyframes_apart)
    timestamps = reader.read_columns(['timestamp'])['timestamp'].reshape(-1)
    (i, frames), = reader.video_episodes(VCAM, timestamps, episodes=[1])
    assert i == 1
    assert near(frames, vgrey(np.arange(13, 38)))
    assert near(reader.camera_frames(VCAM), vgrey(np.arange(38)))


def test_a_video_file_of_no_video_stream_is_named(keyframes_apart, tmp_path):
    """The camera's mp4 replaced by one holding audio alone: named as holding no video
    stream, not an IndexError (neither when its frame size is checked nor when decoded)."""
    import av

    root = shutil.copytree(keyframes_apart, tmp_path / 'ds')
    video = root / f'videos/{VCAM}/chunk-000/file-000.mp4'
    with av.open(str(video), 'w', format='mp4') as container:
        stream = container.add_stream('aac', rate=8000)
        stream.layout = 'mono'
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format='fltp',
                                           layout='mono')
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    refused(root, re.escape(f'videos/{VCAM}/chunk-000/file-000.mp4 holds no video stream'),
            lambda reader: reader.camera_frames(VCAM))


def test_a_video_file_that_is_no_video_is_named_by_ffmpegs_reason(keyframes_apart, tmp_path):
    """The camera's mp4 overwritten with text: one line naming the file and FFmpeg's reason
    alone (its strerror), not the errno and path PyAV's message repeats."""
    root = shutil.copytree(keyframes_apart, tmp_path / 'ds')
    (root / f'videos/{VCAM}/chunk-000/file-000.mp4').write_bytes(b'no video here\n' * 64)
    refused(root, re.escape(f'{root}: video videos/{VCAM}/chunk-000/file-000.mp4 cannot be '
                            'decoded (Invalid data found when processing input); copy it '
                            'again') + '$', lambda reader: reader.camera_frames(VCAM))


def test_a_video_camera_of_no_episodes_has_no_frames(keyframes_apart, tmp_path):
    """The episodes table and the data file emptied (0 episodes, 0 frames): the camera reads
    as no frames, its size check looking for no first episode (an IndexError)."""
    root = shutil.copytree(keyframes_apart, tmp_path / 'ds')
    for name in (EPISODES, DATA):
        pq.write_table(pq.read_table(root / name).slice(0, 0), root / name)
    set_info(root, total_episodes=0, total_frames=0)
    assert LeRobotReader(root).camera_frames(VCAM).shape == (0, VH, VW, 3)


# ---------------------------------------------------------------------------- defects
@pytest.mark.parametrize('key', [STATE, GRID])
def test_a_column_of_ragged_rows_is_refused_not_re_cut(ds, key):
    """A state (or a grid's inner lists) stored as variable lists, as another tool writes
    list<float>, whose row 0 holds a value of row 1 (the count still right on the whole):
    refused naming the row, not read with values moved into the next frame."""
    values = pq.read_table(ds / DATA)[key].to_pylist()
    if key == STATE:
        values[0], values[1] = [*values[0], values[1][0]], values[1][1:]
        typ = pa.list_(pa.float32())
    else:
        values[0][1], values[1][0] = [*values[0][1], values[1][0][0]], values[1][0][1:]
        typ = pa.list_(pa.list_(pa.float32()))
    set_column(ds / DATA, key, values, typ)
    with pytest.raises(LeRobotFormatError) as info:
        LeRobotReader(ds).read_columns([key])
    depth, shape = ('', [2]) if key == STATE else (' at depth 1', [2, 2])
    assert str(info.value) == (f'{ds}: {DATA}: {key!r}: row 0 holds a list of 3 values{depth}, '
                               f'not 2 (shape {shape}): lists of uneven length')
