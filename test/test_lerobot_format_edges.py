"""Edges of training/lerobot_format.py that lerobot's loader and normalizer depend on: the
layout defaults info.json records, the encoder's options, the default tolerance_s and the
nearest-frame rule, stats of narrow integers, of 300 px frames and aggregated over episodes of
different lengths, the writer's refusals (fps, a non-empty root, reserved names, shapes, lossy
casts), data files rolled before they would pass their size, the episodes table's column
types, and the reader's checks of what it is handed (counts, index ranges, row order, an
unnamed tasks index, channel-first camera shapes).

Everything is written by LeRobotWriter into a temporary directory; a test that needs a damaged
or unusual dataset rewrites one of those real files with pyarrow or json.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training.lerobot_format import (
    DEFAULT_TOLERANCE_S,
    LeRobotFormatError,
    LeRobotReader,
    LeRobotWriter,
    VideoEncoding,
    feature_stats,
    numeric_feature,
    video_feature,
)

FPS = 10
H, W = 32, 48  # not square: a swapped height and width shows


def frames_of(n: int, offset: int = 0) -> np.ndarray:
    """n flat frames, 20 grey levels apart (a neighbour's frame is easy to tell), with a
    left-to-right ramp in the red channel."""
    out = np.empty((n, H, W, 3), dtype=np.uint8)
    for k in range(n):
        out[k] = 20 * (k + offset) % 240
        out[k, :, :, 0] = np.linspace(0, 200, W, dtype=np.uint8)[None, :]
    return out


def state_of(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, 2)).astype(np.float32)


def write_numeric(root, lengths, **kwargs):
    eps = [{'observation.state': state_of(n, i)} for i, n in enumerate(lengths)]
    features = {'observation.state': numeric_feature(eps[0]['observation.state'])}
    with LeRobotWriter(root, FPS, features, **kwargs) as writer:
        for ep in eps:
            writer.add_episode(ep, task='push')
    return root, eps


@pytest.fixture(scope='module')
def video_dataset(tmp_path_factory):
    """Two h264 episodes of 6 and 8 frames beside a state."""
    root = tmp_path_factory.mktemp('video') / 'ds'
    eps = [{'cam': frames_of(6), 'observation.state': state_of(6, 0)},
           {'cam': frames_of(8, offset=3), 'observation.state': state_of(8, 1)}]
    features = {'cam': video_feature(H, W), 'observation.state': numeric_feature(state_of(1, 0))}
    with LeRobotWriter(root, FPS, features, encoding=VideoEncoding(vcodec='h264')) as writer:
        for ep in eps:
            writer.add_episode(ep, task='push')
    return root, eps


@pytest.fixture()
def numeric_copy(tmp_path):
    """A fresh numeric dataset of three episodes (3, 5, 4 frames), free to damage."""
    return write_numeric(tmp_path / 'ds', (3, 5, 4))


def episodes_file(root):
    return root / 'meta/episodes/chunk-000/file-000.parquet'


def data_file(root):
    return root / 'data/chunk-000/file-000.parquet'


def rewrite_info(root, **changes):
    path = root / 'meta/info.json'
    info = json.loads(path.read_text())
    info.update(changes)
    path.write_text(json.dumps(info))
    return info


# ---------------------------------------------------------------------------- defaults
def test_info_records_lerobots_default_file_layout(tmp_path):
    """chunks_size 1000, data files of 100 MB and videos of 200 MB (lerobot's defaults), the
    robot type given, and no video_path in a dataset without videos."""
    root, _ = write_numeric(tmp_path / 'ds', (4,), robot_type='pusht')
    info = json.loads((root / 'meta/info.json').read_text())
    assert (info['chunks_size'], info['data_files_size_in_mb'],
            info['video_files_size_in_mb']) == (1000, 100, 200)
    assert info['robot_type'] == 'pusht'
    assert info['video_path'] is None


def test_encoder_options_are_lerobots_defaults():
    """libsvtav1 with GOP 2, CRF 30, preset 12, fast-decode 0; h264 without a preset; hevc
    without B-frames ahead of the user's x265-params; 'av1' is lerobot's alias."""
    assert VideoEncoding().codec_options() == {
        'g': '2', 'crf': '30', 'preset': '12', 'svtav1-params': 'fast-decode=0'}
    assert VideoEncoding(vcodec='av1').vcodec == 'libsvtav1'
    assert VideoEncoding(vcodec='h264').codec_options() == {'g': '2', 'crf': '30'}
    hevc = VideoEncoding(vcodec='hevc', extra_options={'x265-params': 'keyint=4'})
    assert hevc.codec_options()['x265-params'] == 'bframes=0:keyint=4'
    assert VideoEncoding(vcodec='hevc').codec_options()['x265-params'] == 'bframes=0'
    info = VideoEncoding().info()
    assert (info['video.g'], info['video.crf'], info['video.preset']) == (2, 30, 12)


# ---------------------------------------------------------------------------- frames
def test_the_default_tolerance_is_lerobots_1e_4_s(video_dataset):
    """A timestamp 2 ms off its frame is refused at the default tolerance_s (1e-4 s, as
    LeRobotDataset's), and found with a looser one."""
    root, eps = video_dataset
    assert DEFAULT_TOLERANCE_S == 1e-4
    reader = LeRobotReader(root)
    ts = reader.read_columns(['timestamp'])['timestamp'].reshape(-1).astype(np.float64)
    ts[2] += 0.002
    with pytest.raises(LeRobotFormatError, match='tolerance_s=0.0001'):
        reader.video_frames('cam', ts)
    assert reader.video_frames('cam', ts, tolerance_s=0.01).shape == (14, H, W, 3)


def test_a_loose_tolerance_still_takes_the_nearest_frame(video_dataset):
    """With tolerance_s wider than a frame (0.25 s at 10 fps) each row still gets the decoded
    frame nearest its time, not a later one that is also within reach."""
    root, eps = video_dataset
    reader = LeRobotReader(root)
    ts = reader.read_columns(['timestamp'])['timestamp'].reshape(-1)
    exact = reader.video_frames('cam', ts)
    loose = reader.video_frames('cam', ts, tolerance_s=0.25)
    assert np.array_equal(loose, exact)
    original = np.concatenate([ep['cam'] for ep in eps]).astype(np.int16)
    assert np.abs(exact.astype(np.int16) - original).mean() < 3.0


def test_a_camera_stored_channels_first_decodes_height_width_channels(video_dataset, tmp_path):
    """A feature of shape [3, H, W] named ('channels', 'height', 'width') (older datasets)
    decodes to (N, H, W, 3), the same frames."""
    import shutil
    root, _ = video_dataset
    copy = tmp_path / 'chw'
    shutil.copytree(root, copy)
    info = json.loads((copy / 'meta/info.json').read_text())
    info['features']['cam']['shape'] = [3, H, W]
    info['features']['cam']['names'] = ['channels', 'height', 'width']
    (copy / 'meta/info.json').write_text(json.dumps(info))
    frames = LeRobotReader(copy).camera_frames('cam')
    assert frames.shape == (14, H, W, 3)
    assert np.array_equal(frames, LeRobotReader(root).camera_frames('cam'))


# ---------------------------------------------------------------------------- stats
@pytest.mark.parametrize('dtype', [np.uint8, np.int16])
def test_stats_of_narrow_integers_do_not_overflow(dtype):
    """The square of a uint8/int16 value is taken in float32 at least (lerobot's fix of its
    zero std), so std is numpy's of the values."""
    values = np.array([[250], [200], [10], [0], [181]], dtype=dtype)
    stats = feature_stats(values)
    exact = values.astype(np.float64)
    assert np.allclose(stats['std'], exact.std(0), rtol=1e-5)
    assert np.allclose(stats['mean'], exact.mean(0), rtol=1e-6)


def test_image_stats_of_a_300_px_frame_are_of_its_downsampled_frame():
    """auto_downsample_height_width takes a frame whose larger side is 300 px or more: a
    300 x 200 frame keeps every int(300 / 150) = 2nd row and column."""
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (2, 300, 200, 3), dtype=np.uint8)
    got, expected = feature_stats(frames, image=True), feature_stats(frames[:, ::2, ::2],
                                                                     image=True)
    for key in got:
        assert np.allclose(got[key], expected[key], rtol=0, atol=1e-12), key
    whole = feature_stats(frames, image=True)['mean'].ravel()
    assert not np.allclose(whole, frames.reshape(-1, 3).mean(0) / 255, rtol=0, atol=1e-9)


def test_stats_json_weights_each_episodes_stats_by_its_frame_count(tmp_path):
    """aggregate_feature_stats over a 3-frame and a 30-frame episode: quantiles are the
    count-weighted means of the episodes' (as in meta/episodes' stats/*), min and max of both,
    mean and std of all 33 frames, count 33."""
    root, eps = write_numeric(tmp_path / 'ds', (3, 30))
    stats = json.loads((root / 'meta/stats.json').read_text())['observation.state']
    rows = pq.read_table(episodes_file(root)).to_pylist()
    per = [{k: np.asarray(r[f'stats/observation.state/{k}']) for k in ('q10', 'q50', 'q90')}
           for r in rows]
    for key in ('q10', 'q50', 'q90'):
        weighted = (3 * per[0][key] + 30 * per[1][key]) / 33
        assert np.allclose(stats[key], weighted, rtol=1e-12), key
    values = np.concatenate([state_of(3, 0), state_of(30, 1)])
    assert stats['count'] == [33]
    assert np.allclose(stats['mean'], values.mean(0), rtol=1e-5)
    assert np.allclose(stats['std'], values.std(0), rtol=1e-4)
    assert np.array_equal(stats['min'], values.min(0)) and np.array_equal(stats['max'],
                                                                          values.max(0))


# ---------------------------------------------------------------------------- writer refusals
@pytest.mark.parametrize('fps', [0, -10, 10.5])
def test_the_writer_refuses_an_fps_that_is_no_positive_integer(tmp_path, fps):
    """info.json's fps is a positive integer; nothing is created for another."""
    state = numeric_feature(np.zeros((1, 2), np.float32))
    with pytest.raises(LeRobotFormatError, match='positive integer fps'):
        LeRobotWriter(tmp_path / 'ds', fps, {'observation.state': state})
    assert not (tmp_path / 'ds').exists()


def test_an_integral_float_fps_is_written_as_an_integer(tmp_path):
    with LeRobotWriter(tmp_path / 'f', 10.0, {'x': numeric_feature(np.zeros((1, 2)))}) as w:
        w.add_episode({'x': np.zeros((2, 2))})
    fps = json.loads((tmp_path / 'f/meta/info.json').read_text())['fps']
    assert fps == 10 and isinstance(fps, int)


def test_the_writer_refuses_a_non_empty_root_and_reserved_or_unwritable_features(tmp_path):
    """A root with files in it is never written into; feature names of LeRobot's own columns,
    a camera of other than 3 channels and a non-numeric dtype are refused."""
    state = numeric_feature(np.zeros((1, 2), np.float32))
    full = tmp_path / 'full'
    full.mkdir()
    (full / 'keep.txt').write_text('mine')
    with pytest.raises(LeRobotFormatError, match='not empty'):
        LeRobotWriter(full, FPS, {'observation.state': state})
    assert sorted(p.name for p in full.iterdir()) == ['keep.txt']
    with pytest.raises(LeRobotFormatError, match='reserved'):
        LeRobotWriter(tmp_path / 'a', FPS, {'index': state})
    with pytest.raises(LeRobotFormatError, match='3 channels'):
        LeRobotWriter(tmp_path / 'b', FPS, {'cam': video_feature(32, 32, 4)})
    with pytest.raises(LeRobotFormatError, match="dtype 'string'"):
        LeRobotWriter(tmp_path / 'c', FPS, {'text': {'dtype': 'string', 'shape': [1]}})


def test_add_episode_refuses_what_would_not_be_written_as_given(tmp_path):
    """Arrays of different or zero lengths, a step shape other than the feature's, values a
    cast would change and non-uint8 frames are refused; the episode is not counted."""
    features = {'cam': video_feature(H, W), 'observation.state': numeric_feature(state_of(1, 0)),
                'count': {'dtype': 'int64', 'shape': [1], 'names': None}}
    writer = LeRobotWriter(tmp_path / 'ds', FPS, features, encoding=VideoEncoding(vcodec='h264'))
    good = {'cam': frames_of(4), 'observation.state': state_of(4, 0),
            'count': np.arange(4, dtype=np.int64)}
    bad = [({'observation.state': state_of(3, 0)}, 'share a non-zero length'),
           ({'cam': frames_of(0), 'observation.state': state_of(0, 0),
             'count': np.zeros(0, np.int64)}, 'share a non-zero length'),
           ({'observation.state': np.zeros((4, 3), np.float32)}, 'expected step shape'),
           ({'count': np.array([0.0, 1.5, 2.0, 3.0])}, 'values change when cast'),
           ({'cam': frames_of(4).astype(np.float32)}, 'expected uint8 frames')]
    for change, message in bad:
        with pytest.raises(LeRobotFormatError, match=message):
            writer.add_episode({**good, **change})
    assert writer.episodes == [] and writer.total_frames == 0
    writer.abort()


def test_a_data_file_rolls_before_the_episode_that_would_pass_its_size(tmp_path):
    """lerobot starts a new data file when the current one plus the next episode would reach
    data_files_size_in_mb: four 100-frame episodes of 4400 bytes each (a (2,) float32 state and
    the five default columns) against 2.5 episodes' worth go two to a file."""
    limit = 2.5 * 4400 / 2**20
    root, eps = write_numeric(tmp_path / 'ds', (100, 100, 100, 100), data_files_size_in_mb=limit)
    rows = pq.read_table(episodes_file(root)).to_pylist()
    assert [(r['data/chunk_index'], r['data/file_index']) for r in rows] == [
        (0, 0), (0, 0), (0, 1), (0, 1)]
    assert pq.ParquetFile(data_file(root)).num_row_groups == 2
    state = LeRobotReader(root).read_columns(['observation.state'])['observation.state']
    assert np.array_equal(state, np.concatenate([ep['observation.state'] for ep in eps]))


def test_the_episodes_table_has_lerobots_column_types(video_dataset):
    """meta/episodes: counts as list<int64>, stats as (nested) lists of double, tasks as
    list<string>, video time spans as double, indices as int64."""
    root, _ = video_dataset
    schema = pq.read_schema(episodes_file(root))
    assert schema.field('stats/observation.state/count').type == pa.list_(pa.int64())
    assert schema.field('stats/observation.state/mean').type == pa.list_(pa.float64())
    assert schema.field('stats/cam/count').type == pa.list_(pa.int64())
    assert schema.field('stats/cam/mean').type == pa.list_(pa.list_(pa.list_(pa.float64())))
    assert schema.field('tasks').type == pa.list_(pa.string())
    assert schema.field('videos/cam/from_timestamp').type == pa.float64()
    for name in ('episode_index', 'length', 'dataset_from_index', 'data/chunk_index',
                 'videos/cam/file_index', 'meta/episodes/file_index'):
        assert schema.field(name).type == pa.int64(), name


# ---------------------------------------------------------------------------- reader checks
def test_the_reader_refuses_an_episode_count_info_json_does_not_have(numeric_copy):
    root, _ = numeric_copy
    rewrite_info(root, total_episodes=4)
    with pytest.raises(LeRobotFormatError, match='has 3 episodes, info.json says 4'):
        LeRobotReader(root)


def test_the_reader_refuses_episodes_whose_index_ranges_are_not_in_order(numeric_copy):
    """dataset_from_index .. dataset_to_index must follow the lengths in episode order."""
    root, _ = numeric_copy
    table = pq.read_table(episodes_file(root))
    shifted = pa.array([0, 4, 8], pa.int64())  # episode 1 starts one row late
    i = table.schema.get_field_index('dataset_from_index')
    pq.write_table(table.set_column(i, 'dataset_from_index', shifted), episodes_file(root))
    with pytest.raises(LeRobotFormatError, match='episode 1 covers rows 4..8, expected 3..8'):
        LeRobotReader(root).episode_ends()


def test_rows_stored_out_of_order_are_read_in_index_order(numeric_copy):
    root, eps = numeric_copy
    table = pq.read_table(data_file(root))
    pq.write_table(table.take(pa.array(np.arange(len(table))[::-1])), data_file(root))
    cols = LeRobotReader(root).read_columns(['observation.state', 'frame_index'])
    assert np.array_equal(cols['observation.state'],
                          np.concatenate([ep['observation.state'] for ep in eps]))
    assert cols['frame_index'].reshape(-1).tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2, 3]


def test_data_files_missing_a_frame_are_refused(numeric_copy):
    root, _ = numeric_copy
    table = pq.read_table(data_file(root))
    pq.write_table(table.slice(0, len(table) - 1), data_file(root))
    with pytest.raises(LeRobotFormatError, match='hold 11 frames whose index is not 0..11'):
        LeRobotReader(root).read_columns(['observation.state'])


def test_tasks_indexed_by_an_unnamed_pandas_index_are_read(numeric_copy):
    """pandas writes an unnamed index as __index_level_0__; its values are the task texts."""
    root, _ = numeric_copy
    table = pa.table({'task_index': pa.array([0, 1], pa.int64()),
                      '__index_level_0__': pa.array(['push', 'pull'])})
    pq.write_table(table, root / 'meta/tasks.parquet')
    assert LeRobotReader(root).tasks() == {0: 'push', 1: 'pull'}


def test_a_column_whose_values_do_not_fill_the_features_shape_is_refused(numeric_copy):
    """info.json saying a (3,) state over a column of (2,) values is a format error naming the
    shape, not a numpy reshape error."""
    root, _ = numeric_copy
    info = json.loads((root / 'meta/info.json').read_text())
    info['features']['observation.state']['shape'] = [3]
    (root / 'meta/info.json').write_text(json.dumps(info))
    with pytest.raises(LeRobotFormatError, match=r'holds 24 values, not shape \[3\]'):
        LeRobotReader(root).read_columns(['observation.state'])


def test_a_video_file_rolls_before_the_episode_that_would_pass_its_size(tmp_path):
    """As for data files: a camera's mp4 takes episodes while its bytes plus the next
    episode's (estimated per frame) stay under video_files_size_in_mb. Four identical 10-frame
    noise episodes of about 16 kB each (h264 without lookahead, so each episode's packets are
    counted when it is added) against a 40 kB limit go two to a file; the first episode of the
    new file starts at time 0."""
    frames = np.random.default_rng(0).integers(0, 256, (10, 64, 64, 3), dtype=np.uint8)
    root = tmp_path / 'ds'
    encoding = VideoEncoding(vcodec='h264', extra_options={'tune': 'zerolatency'})
    with LeRobotWriter(root, FPS, {'cam': video_feature(64, 64)}, encoding=encoding,
                       video_files_size_in_mb=40_000 / 2**20) as writer:
        for _ in range(4):
            writer.add_episode({'cam': frames})
    rows = pq.read_table(episodes_file(root)).to_pylist()
    assert [(r['videos/cam/chunk_index'], r['videos/cam/file_index']) for r in rows] == [
        (0, 0), (0, 0), (0, 1), (0, 1)]
    assert [r['videos/cam/from_timestamp'] for r in rows] == [0.0, 1.0, 0.0, 1.0]
    assert LeRobotReader(root).camera_frames('cam').shape == (40, 64, 64, 3)
