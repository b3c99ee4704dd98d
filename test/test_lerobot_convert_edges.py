"""Edges of `dp-ros convert` (training/lerobot_convert.py) and of training's LeRobot store
(training/lerobot_source.py): which zarr arrays become videos and which images are refused,
where the frame rate comes from (--fps, the store's fps or control_period_s), the options that
reach info.json (--crf, --vcodec, --robot-type) and the reader (--tolerance-s), the report,
refusals that leave nothing behind, and the names and keys the training store shows.

Stores are small synthetic zarr replay buffers written by ReplayBuffer; LeRobot datasets are
written by the converter itself (videos encoded with h264 where the codec does not matter).
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zarr

from training.lerobot_convert import ConvertError, lerobot_to_zarr, main, zarr_to_lerobot
from training.lerobot_format import LeRobotFormatError, VideoEncoding, check_feature_names
from training.lerobot_source import LeRobotStore, check_format
from training.replay_buffer import ReplayBuffer

LENGTHS = (6, 8)
N = sum(LENGTHS)
H, W = 32, 48


def images(n: int) -> np.ndarray:
    """Paper-layout float32 images of integral values, 20 grey levels apart frame to frame."""
    out = np.empty((n, H, W, 3), dtype=np.float32)
    for k in range(n):
        out[k] = (20 * k) % 240
    return out


def make_store(path, *, img=None, **root_attrs):
    rng = np.random.default_rng(0)
    data = {'img': images(N) if img is None else img,
            'state': rng.normal(0, 1, (N, 2)).astype(np.float32),
            'action': rng.normal(0, 1, (N, 2)).astype(np.float32)}
    ReplayBuffer.from_arrays(data, np.cumsum(LENGTHS)).save_to(path, progress=False)
    if root_attrs:
        zarr.open_group(str(path), mode='r+').attrs.update(root_attrs)
    return path


def h264(*args: str) -> list[str]:
    return [*args, '--vcodec', 'h264', '--no-progress']


def info_of(root) -> dict:
    return json.loads((root / 'meta/info.json').read_text())


def entries(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp('src') / 'src.zarr')


@pytest.fixture(scope='module')
def lerobot(source, tmp_path_factory):
    out = tmp_path_factory.mktemp('lr') / 'lr'
    zarr_to_lerobot(source, out, fps=10, encoding=VideoEncoding(vcodec='h264'), progress=False)
    return out


# ---------------------------------------------------------------------------- zarr -> LeRobot
def test_images_that_are_not_integers_in_0_255_are_refused_leaving_nothing(tmp_path):
    """An image of floats in 0..1 (normalized pixels) is no video: refused, nothing written."""
    src = make_store(tmp_path / 'src.zarr', img=images(N) / 255.0)
    with pytest.raises(ConvertError, match="zarr image 'img' holds values that are not integers"):
        main(h264(str(src), str(tmp_path / 'lr'), '--fps', '10'))
    assert entries(tmp_path) == ['src.zarr']


def test_a_4d_array_of_other_than_3_channels_is_a_column_kept_bit_for_bit(tmp_path):
    """Only (N, H, W, 3) arrays are cameras: a (N, 4, 4, 2) array is a parquet column and
    comes back unchanged."""
    rng = np.random.default_rng(1)
    flow = rng.normal(0, 1, (N, 4, 4, 2)).astype(np.float32)
    src = tmp_path / 'src.zarr'
    ReplayBuffer.from_arrays({'flow': flow}, np.cumsum(LENGTHS)).save_to(src, progress=False)
    zarr_to_lerobot(src, tmp_path / 'lr', fps=10, progress=False)
    assert info_of(tmp_path / 'lr')['features']['flow'] == {
        'dtype': 'float32', 'shape': [4, 4, 2], 'names': None}
    lerobot_to_zarr(tmp_path / 'lr', tmp_path / 'back.zarr', progress=False)
    assert np.array_equal(ReplayBuffer.open(tmp_path / 'back.zarr').data['flow'][:], flow)


def test_a_store_without_episodes_is_refused(tmp_path):
    src = tmp_path / 'empty.zarr'
    ReplayBuffer.from_arrays({'state': np.zeros((0, 2), np.float32)},
                             np.zeros(0, np.int64)).save_to(src, progress=False)
    with pytest.raises(ConvertError, match='holds no episodes'):
        zarr_to_lerobot(src, tmp_path / 'lr', fps=10, progress=False)
    assert entries(tmp_path) == ['empty.zarr']


@pytest.mark.parametrize(('attrs', 'args', 'fps'), [
    ({'fps': 20}, [], 20),
    ({'control_period_s': 0.05}, [], 20),
    ({'control_period_s': 1 / 15}, [], 15),
    ({'fps': 20}, ['--fps', '20'], 20),
    ({}, ['--fps', '10'], 10),
])
def test_the_frame_rate_comes_from_fps_or_the_stores_record(tmp_path, attrs, args, fps):
    """The store's fps (or 1 / control_period_s, rounded) is info.json's fps; --fps states
    the rate of a store that records none, or repeats the recorded one."""
    src = make_store(tmp_path / 'src.zarr', **attrs)
    assert main(h264(str(src), str(tmp_path / 'lr'), '--keys', 'state', *args)) == 0
    assert info_of(tmp_path / 'lr')['fps'] == fps


def test_a_negative_fps_is_refused_before_anything_is_written(source, tmp_path):
    with pytest.raises(ConvertError, match='--fps must be > 0'):
        main(h264(str(source), str(tmp_path / 'lr'), '--fps', '-5'))
    assert entries(tmp_path) == []


def test_crf_vcodec_and_robot_type_reach_info_json(source, tmp_path):
    assert main([str(source), str(tmp_path / 'lr'), '--fps', '10', '--crf', '40', '--vcodec',
                 'h264', '--robot-type', 'pusht', '--no-progress']) == 0
    info = info_of(tmp_path / 'lr')
    video = info['features']['observation.image']['info']
    assert (video['video.codec'], video['video.crf']) == ('h264', 40)
    assert info['robot_type'] == 'pusht'


def test_the_report_counts_episodes_frames_and_names_the_keys(source, tmp_path):
    """The report (printed, and written by --report) of both directions."""
    report_path = tmp_path / 'to.json'
    assert main(h264(str(source), str(tmp_path / 'lr'), '--fps', '10', '--report',
                     str(report_path))) == 0
    report = json.loads(report_path.read_text())
    assert (report['direction'], report['episodes'], report['frames'], report['fps']) == (
        'zarr->lerobot', 2, N, 10)
    assert report['keys'] == {'action': 'action', 'img': 'observation.image',
                              'state': 'observation.state'}
    assert report['vcodec'] == 'h264' and report['bytes'] > 0
    back = lerobot_to_zarr(tmp_path / 'lr', tmp_path / 'back.zarr', progress=False)
    assert (back['direction'], back['episodes'], back['frames'], back['fps']) == (
        'lerobot->zarr', 2, N, 10)


# ---------------------------------------------------------------------------- command checks
def test_the_output_must_differ_from_the_source_and_the_format(source, lerobot, tmp_path):
    """Converting a store onto itself, a LeRobot dataset to LeRobot or a zarr store to zarr is
    refused without touching anything."""
    with pytest.raises(ConvertError, match='must differ'):
        main(h264(str(source), str(source), '--fps', '10', '--overwrite'))
    assert ReplayBuffer.open(source).n_episodes == 2
    with pytest.raises(ConvertError, match='already a LeRobot dataset'):
        main(h264(str(lerobot), str(tmp_path / 'again'), '--to', 'lerobot', '--fps', '10'))
    with pytest.raises(ConvertError, match='already a zarr dataset'):
        main(h264(str(source), str(tmp_path / 'again.zarr'), '--to', 'zarr'))
    assert entries(tmp_path) == []


def shifted_timestamp(dataset, copy, frame: int, by_s: float):
    """A copy of a LeRobot dataset whose frame `frame` (of its first data file) is stamped
    `by_s` later than its video frame: what tolerance_s is for."""
    import shutil

    shutil.copytree(dataset, copy)
    path = copy / 'data/chunk-000/file-000.parquet'
    table = pq.read_table(path)
    ts = table['timestamp'].to_numpy().copy()
    ts[frame] += by_s
    i = table.schema.get_field_index('timestamp')
    pq.write_table(table.set_column(i, table.schema.field(i), pa.array(ts, pa.float32())), path)
    return copy


def test_tolerance_s_reaches_the_reader(lerobot, tmp_path):
    """A frame's timestamp 20 ms off its video frame: refused at lerobot's 1e-4 s, converted
    with --tolerance-s 0.05."""
    shifted = shifted_timestamp(lerobot, tmp_path / 'shifted', 3, 0.02)
    with pytest.raises(LeRobotFormatError, match='tolerance_s'):
        main([str(shifted), str(tmp_path / 'strict.zarr'), '--no-progress'])
    assert not (tmp_path / 'strict.zarr').exists()
    assert main([str(shifted), str(tmp_path / 'loose.zarr'), '--tolerance-s', '0.05',
                 '--no-progress']) == 0
    assert ReplayBuffer.open(tmp_path / 'loose.zarr').data['img'].shape == (N, H, W, 3)


def test_an_unknown_feature_is_refused_naming_it(lerobot, tmp_path):
    with pytest.raises(ConvertError, match="has no feature 'bogus'"):
        lerobot_to_zarr(lerobot, tmp_path / 'back.zarr', keys=['bogus'], progress=False)
    assert entries(tmp_path) == []


def test_features_that_are_neither_cameras_nor_numbers_are_left_out_by_default(lerobot, tmp_path):
    """A string feature in info.json (a language instruction) is no zarr array: the default
    keys are the cameras and numeric features."""
    import shutil
    copy = tmp_path / 'lr'
    shutil.copytree(lerobot, copy)
    info = info_of(copy)
    info['features'] = {'instruction': {'dtype': 'string', 'shape': [1], 'names': None},
                        **info['features']}
    (copy / 'meta/info.json').write_text(json.dumps(info))
    report = lerobot_to_zarr(copy, tmp_path / 'back.zarr', progress=False)
    assert set(report['keys']) == {'observation.image', 'observation.state', 'action'}
    assert set(ReplayBuffer.open(tmp_path / 'back.zarr').keys()) == {'img', 'state', 'action'}


# ---------------------------------------------------------------------------- training store
def test_an_unknown_data_format_is_refused(lerobot):
    with pytest.raises(LeRobotFormatError, match="data.format 'parquet' is not one of"):
        check_format(lerobot, 'parquet')


def test_the_training_store_shows_the_datasets_own_features_only(lerobot):
    """LeRobot's default columns (index, timestamp, ...) are no training arrays; a key map
    given replaces the Push-T one; attrs of an unknown key is a KeyError."""
    store = LeRobotStore(lerobot)
    assert store.keys() == ['action', 'observation.image', 'observation.state']
    assert len(store.data) == 3
    for column in ('index', 'timestamp', 'frame_index', 'episode_index', 'task_index'):
        assert column not in store.data
    assert 'state' in store.data and 'img' in store.data  # the Push-T map
    with pytest.raises(KeyError):
        store.attrs('bogus')
    own = LeRobotStore(lerobot, key_map={'pos': 'observation.state'})
    assert 'pos' in own.data and 'state' not in own.data
    assert np.array_equal(own.data['pos'], store.data['observation.state'])
    assert np.asarray(store.data['img'], dtype=np.float32).dtype == np.float32


def test_a_recorded_rate_that_is_no_whole_fps_is_refused(tmp_path):
    """LeRobot's fps is an integer: a 12.5 Hz store cannot be written as it is recorded."""
    src = make_store(tmp_path / 'src.zarr', control_period_s=0.08)
    with pytest.raises(ConvertError, match=r'at 12.5 Hz \(control_period_s 0.08\).*again'):
        main(h264(str(src), str(tmp_path / 'lr'), '--keys', 'state'))
    assert not (tmp_path / 'lr').exists()
    fps_attr = make_store(tmp_path / 'fps.zarr', fps=12.5)
    with pytest.raises(ConvertError, match=r'at 12.5 Hz \(fps 12.5\)'):
        main(h264(str(fps_attr), str(tmp_path / 'lr'), '--keys', 'state'))
    assert not (tmp_path / 'lr').exists()
    # --fps 12 would relabel it (every timestamp 4% off, a 1/12 s policy): refused too
    with pytest.raises(ConvertError, match=r'--fps 12: .*recorded at 12.5 Hz'):
        main(h264(str(src), str(tmp_path / 'lr'), '--keys', 'state', '--fps', '12'))
    assert not (tmp_path / 'lr').exists()


def test_lerobot_to_zarr_keeps_a_cameras_frame_size(lerobot, tmp_path):
    """Training straight from LeRobot records each camera's frame size, so the node refuses
    another camera's frames (a swapped image_topics); a zarr converted from it lost the size,
    and a policy trained on that zarr stretched the wrong camera's frames without a word."""
    out = tmp_path / 'back.zarr'
    lerobot_to_zarr(lerobot, out, progress=False)
    back, direct = ReplayBuffer.open(out), LeRobotStore(lerobot)
    cameras = [k for k in back.keys() if back.data[k].ndim == 4]
    assert cameras
    for key in cameras:
        assert back.attrs(key)['frame_size'] == list(back.data[key].shape[1:3])
    assert back.attrs('img')['frame_size'] == direct.attrs('img')['frame_size']


def test_a_nan_in_a_numeric_array_is_named_with_its_frame_and_episode(tmp_path):
    """A review's NaN in 'state' was refused as 'values change when cast to float32' (NaN is
    not equal to itself): now the array, the frame and the episode are named."""
    rng = np.random.default_rng(2)
    state = rng.normal(0, 1, (N, 2)).astype(np.float32)
    state[LENGTHS[0] + 3, 1] = np.nan  # frame 3 of episode 1
    src = tmp_path / 'src.zarr'
    ReplayBuffer.from_arrays({'action': state}, np.cumsum(LENGTHS)).save_to(src, progress=False)
    with pytest.raises(LeRobotFormatError, match="'action' holds NaN or inf at frame 3 of "
                                                 'episode 1'):
        zarr_to_lerobot(src, tmp_path / 'lr', fps=10, progress=False)
    assert entries(tmp_path) == ['src.zarr']


@pytest.mark.parametrize('name', ['..', '.', ''])
def test_a_feature_name_that_is_no_folder_of_its_own_is_refused(name):
    """'..' filed a camera's mp4s beside videos/, at the dataset's root."""
    with pytest.raises(LeRobotFormatError, match='names no folder of its own'):
        check_feature_names(['observation.state', name])
