"""The LeRobotDataset writer (training/lerobot_format.py, writing side): a second mutation
review's findings (110 mutants; these tests kill the 21 real gaps among its survivors).

Behaviour the first pass (test_lerobot_writer_mutants.py) and the other test_lerobot_*.py
left open, each test naming the change it catches:

- stats: a constant feature's std is 0 where float32 rounding makes mean(x**2) - mean**2
  negative (sqrt(abs(variance)) survived: std 0.03125 for 123.456 held 5 frames); a camera
  frame 448 px wide keeps every int(448 / 150) = 2nd pixel (a target size of 149, i.e. 3,
  survived); a camera's quantiles are read off lerobot's float32 bin edges (float64 minima,
  edges 1e-10 wider, survived); a one-frame episode of a 2-D feature has the std of its rows
  (a std of 0 survived);
- tasks: a task first seen at episode 2 after one repeated is task 1 (indexes 0..T-1 as
  lerobot gives them; the episode number as its index survived: task 2 of 2 tasks), and
  tasks.parquet's pandas metadata describes both its columns (an empty list survived);
- file sizes are in MiB (2**20 bytes, lerobot's get_file_size_in_mb): a data or video file
  one byte larger than two episodes keeps both (sizes taken in 10**6 bytes survived, for
  data and for videos); the next episode's size is estimated from the file's bytes per frame
  (the next episode's frames as the divisor survived, and a video's frames less one);
- the parquet schema's 'huggingface' features name a 3-D step Array3D and a 4-D one Array4D,
  as `datasets` stores them (Array2D for every shape survived);
- add_episode's refusals: an array no feature names (a misspelt key, its data dropped
  silently when only missing features were refused), a 1-D array for a 2-value feature (1-D
  taken for any feature, not only a scalar one, survived: it failed inside pyarrow); uint16
  frames are refused naming the camera (any unsigned dtype taken survived: refused by
  image_stats, the camera unnamed);
- features: a shape of numpy integers or a tuple is written as a list of ints (the shape
  kept as given survived: info.json failed at close(), a tuple camera refused its frames);
- info.json: a camera's video.height and video.width are its frames' (swapped survived, the
  frames 32x48); the data file size a writer was given (the default recorded survived); the
  default columns as lerobot's DEFAULT_FEATURES, names null (names given survived);
- encoding: check_crf leaves an encoder of no known range alone (a (0, 0) default range
  survived); fast_decode 1 tunes h264 and hevc for fast decoding (only above 1 survived);
- abort: a failure inside the writer's block closes the data file, which then holds the
  episodes written so far (a data writer left open, its parquet without a footer, survived).

No defect found: the stats match lerobot 0.4.4's rules as restated here. Everything is
written by LeRobotWriter into a temporary directory (h264, 32x48 frames) and read back with
pyarrow, json or PyAV; expected stats are computed independently with numpy.
"""
from __future__ import annotations

import json

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from test_lerobot_format_edges import FPS, H, W, frames_of, write_numeric

from training.lerobot_format import (
    LeRobotFormatError,
    LeRobotWriter,
    VideoEncoding,
    check_crf,
    feature_stats,
    image_stats,
    numeric_feature,
    video_feature,
)

QUANTILES = {'q01': 0.01, 'q10': 0.10, 'q50': 0.50, 'q90': 0.90, 'q99': 0.99}


def lerobot_quantiles(column: np.ndarray) -> dict[str, float]:
    """lerobot 0.4.4 RunningQuantileStats of one float32 column after one update: 5000 bins
    between min - 1e-10 and max + 1e-10 (float32 edges, as the column's min and max are), the
    quantile interpolated in the bin where the cumulative count reaches q * N."""
    edges = np.linspace(column.min() - 1e-10, column.max() + 1e-10, 5001)
    cumsum = np.cumsum(np.histogram(column, bins=edges)[0])
    out = {}
    for key, q in QUANTILES.items():
        target = q * len(column)
        i = int(np.searchsorted(cumsum, target))
        if i == 0:
            out[key] = edges[0]
            continue
        before = cumsum[i - 1]
        out[key] = edges[i] + (target - before) / (cumsum[i] - before) * (edges[i + 1] - edges[i])
    return out


# ---------------------------------------------------------------------------- stats
def test_a_constant_features_std_is_zero_where_float32_rounding_makes_its_variance_negative(
        tmp_path):
    """123.456 held for 5 frames: mean(x**2) - mean**2 is -0.00098 in float32; lerobot clips it
    to 0 before the square root (abs() would give a std of 0.03125, which the normalizer
    divides by)."""
    values = np.full((5, 1), 123.456, np.float32)
    assert (values ** 2).mean(0)[0] - values.mean(0)[0] ** 2 < 0  # the case this test is about
    root = tmp_path / 'ds'
    with LeRobotWriter(root, FPS, {'s': numeric_feature(values)}) as writer:
        writer.add_episode({'s': values})
    assert json.loads((root / 'meta/stats.json').read_text())['s']['std'] == [0.0]
    episodes = pq.read_table(root / 'meta/episodes/chunk-000/file-000.parquet')
    assert episodes.column('stats/s/std').to_pylist() == [[0.0]]


def test_a_camera_frame_448_px_wide_keeps_every_second_pixel():
    """auto_downsample_height_width: k = int(448 / 150) = 2 (not 3)."""
    rng = np.random.default_rng(11)
    frames = rng.integers(0, 256, (2, 32, 448, 3), dtype=np.uint8)
    got = image_stats(frames)
    pixels = frames[:, ::2, ::2].reshape(-1, 3).astype(np.float64)
    assert np.allclose(got['mean'].ravel(), pixels.mean(0) / 255, rtol=0, atol=1e-12)
    assert np.allclose(got['std'].ravel(), pixels.std(0) / 255, rtol=0, atol=1e-12)


def test_a_cameras_quantiles_are_read_off_lerobots_float32_edges():
    """lerobot bins the float32 pixel batch between float32 edges (min - 1e-10 is min in
    float32): each channel's q01..q99 / 255, exactly."""
    rng = np.random.default_rng(12)
    frames = rng.integers(3, 250, (3, 8, 10, 3), dtype=np.uint8)
    got = image_stats(frames)
    rows = frames.reshape(-1, 3).astype(np.float32)
    for c in range(3):
        expected = lerobot_quantiles(rows[:, c])
        for key in QUANTILES:
            assert got[key][c, 0, 0] == np.float64(expected[key]) / 255.0, (key, c)


# ---------------------------------------------------------------------------- tasks
def test_task_indexes_count_the_distinct_tasks_not_the_episodes(tmp_path):
    """Episodes 'push', 'push', 'pick': tasks.parquet maps push -> 0, pick -> 1, and each
    frame's task_index says so (lerobot looks a frame's task up by that index)."""
    root = tmp_path / 'ds'
    with LeRobotWriter(root, FPS, {'s': numeric_feature(np.zeros((1, 2), np.float32))}) as w:
        for task in ('push', 'push', 'pick'):
            w.add_episode({'s': np.zeros((2, 2), np.float32)}, task=task)
    tasks = pq.read_table(root / 'meta/tasks.parquet').to_pydict()
    assert dict(zip(tasks['task'], tasks['task_index'], strict=True)) == {'push': 0, 'pick': 1}
    pandas_meta = json.loads(pq.read_schema(root / 'meta/tasks.parquet').metadata[b'pandas'])
    assert [(c['name'], c['pandas_type']) for c in pandas_meta['columns']] == [
        ('task_index', 'int64'), ('task', 'unicode')]
    data = pq.read_table(root / 'data/chunk-000/file-000.parquet')
    assert data.column('task_index').to_pylist() == [0, 0, 0, 0, 1, 1]
    assert json.loads((root / 'meta/info.json').read_text())['total_tasks'] == 2


# ---------------------------------------------------------------------------- file sizes
def test_a_data_file_one_byte_larger_than_two_episodes_keeps_both(tmp_path):
    """Two 4-frame episodes of 44 bytes a frame = 352 bytes; a file of 353 bytes in MiB takes
    both (in 10**6-byte megabytes 352 bytes would reach it)."""
    write_numeric(tmp_path / 'ds', (4, 4), data_files_size_in_mb=(2 * 4 * 44 + 1) / 2**20)
    files = sorted(p.name for p in (tmp_path / 'ds/data/chunk-000').iterdir())
    assert files == ['file-000.parquet']


def test_a_video_file_one_byte_larger_than_two_episodes_keeps_both(tmp_path):
    """The same 4 frames twice, files one byte larger than twice their encoded size (measured
    from the same frames encoded before): one mp4 of 8 frames."""
    def write(root, size_in_mb):
        with LeRobotWriter(root, FPS, {'cam': video_feature(H, W)},
                           encoding=VideoEncoding(vcodec='h264'),
                           video_files_size_in_mb=size_in_mb) as writer:
            writer.add_episode({'cam': frames_of(4)})
            writer.add_episode({'cam': frames_of(4)})
        return sorted(p.name for p in (root / 'videos/cam/chunk-000').iterdir())

    assert write(tmp_path / 'measure', 1) == ['file-000.mp4']
    with av.open(str(tmp_path / 'measure/videos/cam/chunk-000/file-000.mp4')) as container:
        sizes = [p.size for p in container.demux(video=0) if p.dts is not None]
    size = sum(sizes[:4])  # the first episode's packets
    assert write(tmp_path / 'ds', (2 * size + 1) / 2**20) == ['file-000.mp4']
    assert write(tmp_path / 'rolled', 2 * size / 2**20) == ['file-000.mp4', 'file-001.mp4']


# ---------------------------------------------------------------------------- schema
def test_the_parquet_schema_names_each_steps_array_type_by_its_dimensions(tmp_path):
    """get_hf_features_from_features: a (2, 3) step is Array2D, (2, 3, 2) Array3D, (1, 2, 1, 2)
    Array4D, each with its shape and dtype, in the data file's 'huggingface' metadata."""
    shapes = {'a2': (2, 3), 'a3': (2, 3, 2), 'a4': (1, 2, 1, 2)}
    episode = {k: np.arange(2 * np.prod(s), dtype=np.float32).reshape(2, *s)
               for k, s in shapes.items()}
    root = tmp_path / 'ds'
    with LeRobotWriter(root, FPS, {k: numeric_feature(v) for k, v in episode.items()}) as w:
        w.add_episode(episode)
    schema = pq.read_schema(root / 'data/chunk-000/file-000.parquet')
    features = json.loads(schema.metadata[b'huggingface'])['info']['features']
    for key, shape in shapes.items():
        assert features[key] == {'shape': list(shape), 'dtype': 'float32',
                                 '_type': f'Array{len(shape)}D'}, key
    data = pq.read_table(root / 'data/chunk-000/file-000.parquet')
    assert data.column('a3').to_pylist() == episode['a3'].tolist()


# ---------------------------------------------------------------------------- refusals
def test_an_array_no_feature_names_is_refused(tmp_path):
    """A misspelt feature's array beside the right ones is named, not dropped."""
    features = {'s': numeric_feature(np.zeros((1, 2), np.float32))}
    with LeRobotWriter(tmp_path / 'ds', FPS, features) as writer:
        with pytest.raises(LeRobotFormatError, match=r"missing \[\], extra \['acton'\]"):
            writer.add_episode({'s': np.zeros((3, 2), np.float32),
                                'acton': np.zeros((3, 2), np.float32)})
        writer.add_episode({'s': np.zeros((3, 2), np.float32)})
    assert json.loads((tmp_path / 'ds/meta/info.json').read_text())['total_frames'] == 3


def test_a_1d_array_is_taken_for_a_scalar_feature_only(tmp_path):
    """(n,) values fit a feature of shape [1]; for one of shape [2] they are refused by
    name."""
    features = {'r': numeric_feature(np.zeros(1, np.float32)),
                's': numeric_feature(np.zeros((1, 2), np.float32))}
    with LeRobotWriter(tmp_path / 'ds', FPS, features) as writer:
        with pytest.raises(LeRobotFormatError,
                           match=r"'s': expected step shape \[2\], got \[1\]"):
            writer.add_episode({'r': np.zeros(4, np.float32), 's': np.zeros(4, np.float32)})
        writer.add_episode({'r': np.zeros(4, np.float32), 's': np.zeros((4, 2), np.float32)})


# ---------------------------------------------------------------------------- features, info
def test_a_shape_of_numpy_integers_or_a_tuple_is_written_as_a_list_of_ints(tmp_path):
    """video_feature(np.int64(H), ...) and a (2,) tuple: the writer takes them, and info.json
    records [H, W, 3] and [2]; the camera's info gives its height and width as they are."""
    features = {'cam': {'dtype': 'video', 'shape': (np.int64(H), np.int64(W), 3)},
                's': {'dtype': 'float32', 'shape': (np.int64(2),), 'names': None}}
    root = tmp_path / 'ds'
    with LeRobotWriter(root, FPS, features, encoding=VideoEncoding(vcodec='h264')) as writer:
        writer.add_episode({'cam': frames_of(2), 's': np.zeros((2, 2), np.float32)})
    info = json.loads((root / 'meta/info.json').read_text())
    assert info['features']['cam']['shape'] == [H, W, 3]
    assert info['features']['s']['shape'] == [2]
    assert (info['features']['cam']['info']['video.height'],
            info['features']['cam']['info']['video.width']) == (H, W)
    with av.open(str(root / 'videos/cam/chunk-000/file-000.mp4')) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.height, stream.codec_context.width) == (H, W)


def test_an_encoder_of_no_known_crf_range_is_not_checked():
    """libx264 named directly (not 'h264'): its crf is passed on as given."""
    check_crf(VideoEncoding(vcodec='libx264', crf=30), '--crf')
    check_crf(VideoEncoding(vcodec='libx264', crf=0), '--crf')


# ---------------------------------------------------------------------------- abort
def test_an_aborted_writer_closes_its_data_file(tmp_path):
    """The data parquet of an aborted writer is whole: the 3 frames written before the failure,
    readable."""
    features = {'s': numeric_feature(np.zeros((1, 2), np.float32))}
    with pytest.raises(RuntimeError):
        with LeRobotWriter(tmp_path / 'ds', FPS, features) as writer:
            writer.add_episode({'s': np.ones((3, 2), np.float32)})
            raise RuntimeError('the caller failed')
    data = pq.read_table(tmp_path / 'ds/data/chunk-000/file-000.parquet')
    assert data.column('index').to_pylist() == [0, 1, 2]
    with pytest.raises(LeRobotFormatError, match='already closed'):
        writer.close()


def test_the_next_episodes_size_is_estimated_at_the_files_bytes_per_frame(tmp_path):
    """A 4-frame episode (176 bytes, 44 a frame) then a 2-frame one: 176 + 2 * 44 = 264 bytes
    stay within a 300-byte file (176 / 2 per frame would make it 352, a second file)."""
    write_numeric(tmp_path / 'ds', (4, 2), data_files_size_in_mb=300 / 2**20)
    files = sorted(p.name for p in (tmp_path / 'ds/data/chunk-000').iterdir())
    assert files == ['file-000.parquet']


def test_info_records_the_file_sizes_given_and_lerobots_default_columns(tmp_path):
    root, _ = write_numeric(tmp_path / 'ds', (3,), data_files_size_in_mb=7,
                            video_files_size_in_mb=9, chunks_size=5)
    info = json.loads((root / 'meta/info.json').read_text())
    assert (info['data_files_size_in_mb'], info['video_files_size_in_mb'],
            info['chunks_size']) == (7, 9, 5)
    for key, dtype in (('timestamp', 'float32'), ('frame_index', 'int64'),
                       ('episode_index', 'int64'), ('index', 'int64'), ('task_index', 'int64')):
        assert info['features'][key] == {'dtype': dtype, 'shape': [1], 'names': None}, key


def test_frames_of_another_dtype_than_uint8_are_refused_naming_the_camera(tmp_path):
    with LeRobotWriter(tmp_path / 'ds', FPS, {'cam': video_feature(H, W)},
                       encoding=VideoEncoding(vcodec='h264')) as writer:
        with pytest.raises(LeRobotFormatError, match=r"video 'cam': expected uint8 frames "
                           r"\[32, 48, 3\], got uint16 \[32, 48, 3\]"):
            writer.add_episode({'cam': frames_of(2).astype(np.uint16)})
        writer.add_episode({'cam': frames_of(2)})


def test_a_one_frame_episode_of_a_2d_feature_has_its_rows_spread():
    """(1, 3, 2): min, max, mean and std over the 3 rows (quantiles: the mean)."""
    rows = np.array([[1.0, 10.0], [2.0, 20.0], [6.0, 60.0]], np.float32)
    stats = feature_stats(rows[None])
    assert stats['std'].tolist() == rows.std(0).tolist()
    assert stats['min'].tolist() == [1.0, 10.0] and stats['max'].tolist() == [6.0, 60.0]
    assert stats['q90'].tolist() == stats['mean'].tolist() == rows.mean(0).tolist()


def test_fast_decode_1_tunes_h264_and_hevc_for_fast_decoding():
    for vcodec in ('h264', 'hevc'):
        assert VideoEncoding(vcodec=vcodec, fast_decode=1).codec_options()['tune'] == 'fastdecode'
        assert 'tune' not in VideoEncoding(vcodec=vcodec).codec_options()
