"""LeRobotDataset v3.0 written by training/lerobot_format.py, read back the way lerobot reads it.

lerobot itself does not install beside this project's torch, so these tests check, with
pyarrow and PyAV, each thing lerobot's LeRobotDataset relies on (src/lerobot/datasets/):
info.json's fields (utils.py DatasetInfo), the parquet columns and their arrow types
(feature_utils.get_hf_features_from_features), the episodes table and its index ranges
(dataset_metadata.py), tasks.parquet as pandas writes it (io_utils.load_tasks), and each
frame's video frame found at from_timestamp + timestamp within tolerance_s = 1e-4 after a
seek to the keyframe before it (video_utils.decode_video_frames_pyav). The same files were
also loaded by lerobot 0.4.4's LeRobotDataset itself in a separate environment (see the report
of issue 12); these tests are what runs here.
"""
from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import PUSHT_DATASET, shortest_episodes

from training.lerobot_format import (
    DEFAULT_FEATURES,
    DEFAULT_TOLERANCE_S,
    LeRobotFormatError,
    LeRobotReader,
    LeRobotWriter,
    VideoEncoding,
    encoder_available,
    numeric_feature,
    video_feature,
)

FPS = 10
KEYS = ('img', 'state', 'action', 'keypoint', 'n_contacts')
NAMES = {'img': 'observation.image', 'state': 'observation.state', 'action': 'action',
         'keypoint': 'keypoint', 'n_contacts': 'n_contacts'}
# DatasetInfo's fields in lerobot (utils.py), all of which it reads from info.json
INFO_FIELDS = {'codebase_version', 'fps', 'features', 'total_episodes', 'total_frames',
               'total_tasks', 'chunks_size', 'data_files_size_in_mb', 'video_files_size_in_mb',
               'data_path', 'video_path', 'robot_type', 'splits'}
STATS = {'min', 'max', 'mean', 'std', 'count', 'q01', 'q10', 'q50', 'q90', 'q99'}


@pytest.fixture(scope='module')
def episodes():
    """The 4 shortest Push-T episodes, images as uint8."""
    _, eps = shortest_episodes(PUSHT_DATASET, 4, keys=KEYS)
    for ep in eps:
        ep['img'] = ep['img'].astype(np.uint8)
    return eps


def features_of(ep):
    return {NAMES['img']: video_feature(96, 96),
            **{NAMES[k]: numeric_feature(ep[k]) for k in KEYS if k != 'img'}}


def write(root, eps, **kwargs):
    with LeRobotWriter(root, FPS, features_of(eps[0]), **kwargs) as writer:
        for i, ep in enumerate(eps):
            writer.add_episode({NAMES[k]: v for k, v in ep.items()},
                               task='push the T' if i % 2 == 0 else 'push it again')
    return root


@pytest.fixture(scope='module')
def dataset(tmp_path_factory, episodes):
    return write(tmp_path_factory.mktemp('lerobot') / 'pusht', episodes)


@pytest.fixture(scope='module')
def rolled(tmp_path_factory, episodes):
    """Files rolled over after a few KB, two files per chunk directory."""
    return write(tmp_path_factory.mktemp('lerobot') / 'rolled', episodes, chunks_size=2,
                 data_files_size_in_mb=0.01, video_files_size_in_mb=0.03)


def load_info(root):
    info = json.loads((root / 'meta/info.json').read_text())
    for ft in info['features'].values():  # lerobot turns shapes into tuples
        ft['shape'] = tuple(ft['shape'])
    return info


def episode_rows(root):
    tables = [pq.read_table(p) for p in sorted((root / 'meta/episodes').glob('*/*.parquet'))]
    return pa.concat_tables(tables).to_pylist()


def expected_arrow_type(ft):
    """get_hf_features_from_features: Value for (1,), List(length=n) for (n,), ArrayND beyond
    (stored as nested lists)."""
    base = pa.from_numpy_dtype(np.dtype(ft['dtype']))
    if ft['shape'] == (1,):
        return base
    if len(ft['shape']) == 1:
        return pa.list_(base, ft['shape'][0])
    out = base
    for _ in ft['shape']:
        out = pa.list_(out)
    return out


def loader_frames(video_path, timestamps, tolerance_s=DEFAULT_TOLERANCE_S):
    """lerobot's PyAV decoding, re-stated: seek to the keyframe at or before the first
    timestamp, decode forward past the last, take the nearest frame of each query, which must
    be within tolerance_s. The seek is lerobot 0.4.x's (torchvision VideoReader.seek: to the
    first timestamp's pts exactly; lerobot's newer decode_video_frames_pyav seeks one tick
    earlier, which this is stricter than)."""
    frames, times = [], []
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        container.seek(round(max(0.0, min(timestamps)) / stream.time_base), backward=True,
                       any_frame=False, stream=stream)
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            frames.append(frame.to_ndarray(format='rgb24'))
            times.append(t)
            if t >= max(timestamps):
                break
    dist = np.abs(np.asarray(timestamps)[:, None] - np.asarray(times)[None, :])
    nearest = dist.argmin(1)
    assert (dist.min(1) <= tolerance_s).all(), (timestamps, times)
    return np.stack([frames[i] for i in nearest])


# ---------------------------------------------------------------------------- metadata
def test_info_json_has_lerobots_fields(dataset, episodes):
    info = load_info(dataset)
    assert set(info) == INFO_FIELDS
    assert info['codebase_version'] == 'v3.0'
    assert info['fps'] == FPS
    assert info['total_episodes'] == len(episodes)
    assert info['total_frames'] == sum(len(ep['state']) for ep in episodes)
    assert info['total_tasks'] == 2
    assert info['splits'] == {'train': f'0:{len(episodes)}'}
    assert info['data_path'] == 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
    assert info['video_path'] == ('videos/{video_key}/chunk-{chunk_index:03d}/'
                                  'file-{file_index:03d}.mp4')
    features = info['features']
    assert list(features)[-5:] == list(DEFAULT_FEATURES)  # lerobot appends them
    for key, ft in DEFAULT_FEATURES.items():
        assert features[key]['dtype'] == ft['dtype'] and features[key]['shape'] == (1,)
    image = features['observation.image']
    assert image['dtype'] == 'video' and image['shape'] == (96, 96, 3)
    assert image['names'] == ['height', 'width', 'channels']
    vinfo = image['info']
    assert vinfo['video.codec'] in ('av1', 'h264') and vinfo['video.pix_fmt'] == 'yuv420p'
    assert (vinfo['video.height'], vinfo['video.width'], vinfo['video.fps']) == (96, 96, FPS)
    assert vinfo['video.channels'] == 3 and vinfo['has_audio'] is False
    assert vinfo['is_depth_map'] is False
    assert features['observation.state'] == {'dtype': 'float32', 'shape': (5,), 'names': None}
    assert features['keypoint']['shape'] == (9, 2)
    assert features['n_contacts']['shape'] == (1,)


def test_data_parquet_columns_are_what_datasets_features_load(dataset, episodes):
    info = load_info(dataset)
    files = sorted((dataset / 'data').glob('*/*.parquet'))
    assert [f.relative_to(dataset).as_posix() for f in files] == ['data/chunk-000/file-000.parquet']
    pf = pq.ParquetFile(files[0])
    schema = pf.schema_arrow
    columns = [k for k, ft in info['features'].items() if ft['dtype'] != 'video']
    assert schema.names == columns
    for key in columns:
        assert schema.field(key).type == expected_arrow_type(info['features'][key]), key
    hf = json.loads(schema.metadata[b'huggingface'])['info']['features']
    assert hf['observation.state'] == {'feature': {'dtype': 'float32', '_type': 'Value'},
                                       'length': 5, '_type': 'List'}
    assert hf['keypoint'] == {'shape': [9, 2], 'dtype': 'float32', '_type': 'Array2D'}
    assert hf['index'] == {'dtype': 'int64', '_type': 'Value'}
    assert pf.num_row_groups == len(episodes)  # one row group per episode, as lerobot writes
    table = pf.read()
    n = info['total_frames']
    assert table['index'].to_pylist() == list(range(n))
    lengths = [len(ep['state']) for ep in episodes]
    frame_index = np.concatenate([np.arange(k) for k in lengths])
    assert np.array_equal(table['frame_index'].to_numpy(), frame_index)
    assert np.array_equal(table['episode_index'].to_numpy(), np.repeat(np.arange(4), lengths))
    ts = table['timestamp'].to_numpy()
    assert ts.dtype == np.float32 and np.allclose(ts, frame_index / FPS, atol=1e-6)
    assert table['task_index'].to_pylist() == list(np.repeat([0, 1, 0, 1], lengths))
    state = np.stack(table['observation.state'].to_numpy(zero_copy_only=False))
    assert np.array_equal(state, np.concatenate([ep['state'] for ep in episodes]))


def test_episodes_table_indexes_rows_files_and_video_spans(dataset, episodes):
    rows = episode_rows(dataset)
    assert [r['episode_index'] for r in rows] == [0, 1, 2, 3]
    start = 0
    for row, ep in zip(rows, episodes, strict=True):
        n = len(ep['state'])
        assert row['length'] == n
        assert (row['dataset_from_index'], row['dataset_to_index']) == (start, start + n)
        assert (row['data/chunk_index'], row['data/file_index']) == (0, 0)
        assert (row['meta/episodes/chunk_index'], row['meta/episodes/file_index']) == (0, 0)
        key = 'videos/observation.image'
        assert (row[f'{key}/chunk_index'], row[f'{key}/file_index']) == (0, 0)
        assert row[f'{key}/from_timestamp'] == pytest.approx(start / FPS)
        assert row[f'{key}/to_timestamp'] == pytest.approx((start + n) / FPS)
        assert row['tasks'] == [['push the T', 'push it again'][row['episode_index'] % 2]]
        for feature in ('observation.state', 'action', 'observation.image', 'index'):
            assert {k.split('/')[-1] for k in row if k.startswith(f'stats/{feature}/')} == STATS
        assert row['stats/action/count'] == [n]
        assert np.allclose(row['stats/action/mean'], ep['action'].mean(0))
        assert np.asarray(row['stats/observation.image/mean']).shape == (3, 1, 1)
        start += n


def test_tasks_parquet_is_indexed_by_task_as_pandas_writes_it(dataset):
    table = pq.read_table(dataset / 'meta/tasks.parquet')
    pandas_meta = json.loads(table.schema.metadata[b'pandas'])
    assert pandas_meta['index_columns'] == ['task']  # pd.read_parquet restores the index
    assert dict(zip(table['task'].to_pylist(), table['task_index'].to_pylist(), strict=True)) \
        == {'push the T': 0, 'push it again': 1}


def test_stats_json_aggregates_every_feature(dataset, episodes):
    stats = json.loads((dataset / 'meta/stats.json').read_text())
    info = load_info(dataset)
    assert set(stats) == set(info['features'])
    for feature in stats.values():
        assert set(feature) == STATS
    state = np.concatenate([ep['state'] for ep in episodes])
    assert np.allclose(stats['observation.state']['mean'], state.mean(0))
    # lerobot's RunningQuantileStats takes std as sqrt(E[x^2] - E[x]^2) in the data's float32
    # (so does this writer, to write lerobot's numbers): equal to numpy's std to about 1e-5
    assert np.allclose(stats['observation.state']['std'], state.std(0), rtol=1e-4)
    assert np.allclose(stats['observation.state']['min'], state.min(0))
    assert stats['observation.state']['count'] == [len(state)]
    assert np.asarray(stats['observation.image']['max']).shape == (3, 1, 1)
    assert np.asarray(stats['observation.image']['max']).max() <= 1.0


# ---------------------------------------------------------------------------- frames
@pytest.mark.parametrize('which', ['dataset', 'rolled'])
def test_video_frames_found_by_the_loaders_rule(which, request, episodes):
    root = request.getfixturevalue(which)
    info = load_info(root)
    rows = episode_rows(root)
    reader_frames = LeRobotReader(root).camera_frames('observation.image')
    start = 0
    for row, ep in zip(rows, episodes, strict=True):
        n = len(ep['state'])
        path = root / info['video_path'].format(
            video_key='observation.image',
            chunk_index=row['videos/observation.image/chunk_index'],
            file_index=row['videos/observation.image/file_index'])
        picks = sorted({0, 1, n // 2, n - 2, n - 1})
        # the dataset's float32 timestamps, as __getitem__ queries them
        query = [row['videos/observation.image/from_timestamp'] + float(np.float32(i / FPS))
                 for i in picks]
        frames = loader_frames(path, query)
        assert np.array_equal(frames, reader_frames[[start + i for i in picks]])
        err = np.abs(frames.astype(int) - ep['img'][picks].astype(int))
        assert err.mean() < 3.0, err.mean()  # codec error, not another frame's
        start += n


@pytest.mark.parametrize('vcodec', ['libsvtav1', 'h264', 'hevc'])
def test_every_frame_queried_alone_is_found_for_each_codec(vcodec, tmp_path, episodes):
    """lerobot reads one item's frames at a time: a seek to each frame's own time. hevc's
    B-frames made 47 frames of these two episodes unfindable (the seek landed past them).
    """
    if not encoder_available(vcodec):
        pytest.skip(f'PyAV has no {vcodec} encoder here')
    root = write(tmp_path / vcodec, episodes[:2], encoding=VideoEncoding(vcodec=vcodec))
    info, rows = load_info(root), episode_rows(root)
    missed = []
    for row, ep in zip(rows, episodes, strict=False):
        path = root / info['video_path'].format(
            video_key='observation.image',
            chunk_index=row['videos/observation.image/chunk_index'],
            file_index=row['videos/observation.image/file_index'])
        for i in range(len(ep['state'])):
            t = row['videos/observation.image/from_timestamp'] + float(np.float32(i / FPS))
            try:
                loader_frames(path, [t])
            except AssertionError:
                missed.append((row['episode_index'], i))
    assert missed == [], f'{vcodec}: {len(missed)} frames not found alone: {missed[:10]}'
    shutil.rmtree(root)


def test_rolled_files_follow_the_chunk_and_file_rules(rolled, episodes):
    info = load_info(rolled)
    assert info['chunks_size'] == 2
    rows = episode_rows(rolled)
    data_files = [(r['data/chunk_index'], r['data/file_index']) for r in rows]
    video_files = [(r['videos/observation.image/chunk_index'],
                    r['videos/observation.image/file_index']) for r in rows]
    assert data_files == [(0, 0), (0, 1), (1, 0), (1, 1)]  # update_chunk_file_indices
    assert video_files[0] == (0, 0) and len(set(video_files)) > 1
    for (chunk, file) in set(data_files):
        assert (rolled / info['data_path'].format(chunk_index=chunk, file_index=file)).is_file()
    for row, (chunk, file) in zip(rows, video_files, strict=True):
        if row['episode_index'] == 0 or video_files[row['episode_index'] - 1] != (chunk, file):
            assert row['videos/observation.image/from_timestamp'] == 0.0
    reader = LeRobotReader(rolled)
    cols = reader.read_columns(['observation.state', 'keypoint', 'n_contacts'])
    assert np.array_equal(cols['observation.state'],
                          np.concatenate([ep['state'] for ep in episodes]))
    assert np.array_equal(cols['keypoint'], np.concatenate([ep['keypoint'] for ep in episodes]))
    assert cols['n_contacts'].shape == (len(cols['keypoint']), 1)


def test_reader_decodes_every_frame_within_codec_error(dataset, episodes):
    reader = LeRobotReader(dataset)
    frames = reader.camera_frames('observation.image')
    original = np.concatenate([ep['img'] for ep in episodes])
    assert frames.shape == original.shape and frames.dtype == np.uint8
    err = np.abs(frames.astype(np.int16) - original.astype(np.int16))
    assert err.mean() < 2.0
    assert np.array_equal(reader.episode_ends(), np.cumsum([len(ep['img']) for ep in episodes]))
    assert reader.tasks() == {0: 'push the T', 1: 'push it again'}


# ---------------------------------------------------------------------------- errors
def test_a_directory_that_is_no_lerobot_dataset(tmp_path):
    with pytest.raises(LeRobotFormatError, match='no meta/info.json'):
        LeRobotReader(tmp_path)


def test_an_older_format_is_named(tmp_path):
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta/info.json').write_text(json.dumps({'codebase_version': 'v2.1'}))
    with pytest.raises(LeRobotFormatError, match='v2.1.*v3.0'):
        LeRobotReader(tmp_path)


def test_a_missing_video_file_is_reported(tmp_path, episodes):
    root = write(tmp_path / 'ds', episodes[:1])
    next((root / 'videos').rglob('*.mp4')).unlink()
    with pytest.raises(LeRobotFormatError, match='missing'):
        LeRobotReader(root).camera_frames('observation.image')


def test_frames_off_their_timestamps_are_refused(tmp_path, episodes):
    """A timestamp 0.3 frame off: no video frame within tolerance_s, as lerobot refuses it;
    the error says where in which file it looked, how far off the nearest frame is and how to
    read it anyway (a review built lerobot-written h264 sets whose from_timestamp drifts by
    3 ms, refused with the frame's timestamp alone)."""
    root = write(tmp_path / 'ds', episodes[:1])
    reader = LeRobotReader(root)
    ts = reader.read_columns(['timestamp'])['timestamp'].reshape(-1).copy()
    ts[3] += 0.03
    with pytest.raises(LeRobotFormatError, match='tolerance_s') as refused:
        reader.video_frames('observation.image', ts)
    message = str(refused.value)
    assert 'first: frame 3, timestamp 0.3300 s, at 0.330000 s of videos/observation.image/' \
        'chunk-000/file-000.mp4' in message, message
    assert "from_timestamp 0.000000 s): the nearest is 0.030000 s away" in message, message
    assert message.endswith('dp-ros convert --tolerance-s')
    frames = reader.video_frames('observation.image', ts, tolerance_s=0.031)
    np.testing.assert_array_equal(frames[3], reader.video_frames(
        'observation.image', reader.read_columns(['timestamp'])['timestamp'].reshape(-1))[3])


def test_writer_refuses_odd_images_and_mismatched_episodes(tmp_path, episodes):
    with pytest.raises(LeRobotFormatError, match='even'):
        LeRobotWriter(tmp_path / 'odd', FPS, {'cam': video_feature(95, 96)})
    writer = LeRobotWriter(tmp_path / 'ok', FPS, features_of(episodes[0]))
    with pytest.raises(LeRobotFormatError, match='missing'):
        writer.add_episode({'action': episodes[0]['action']})
    writer.abort()
