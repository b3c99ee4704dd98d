"""Behaviour of the training config, the LeRobot training store and download-pusht that their
own tests left unpinned (a mutation review of training/config.py, training/lerobot_source.py
and training/download.py).

Pinned, config: the bounds nobody tested at their edge (weight decay 0 accepted; a negative
sample seed, val_max_batches or keep_snapshots of 0, a bogus torch_compile refused; the last
numpy seed accepted; no start-seed check without evaluation episodes), YAML's true/false (not
1/0) for torch_compile and mixed_precision, from_dict(None), overrides into free-form
mappings, key_args/split_args, config.yaml's key order, a folder given as --config, the
default control period. LeRobot store: the format check (a format that is none of the three,
a contradiction at open_training_store), a given key_map, the camera's reads (an empty read
decodes nothing, a slice of step 1 only its episodes, one camera object keeps the episode a
read stopped in, indexes past either end and booleans as numpy's), its attrs (camera_crop,
frame_size), `in` for unhashable keys. Download: a source refused for space is closed, a
download not unpacked beside itself needs room for itself alone, a file that is no zip, a
store of 0 episodes or without episode_ends, a refused connection, --dest under ~, a
file://localhost URL.

Defects it found, mended and pinned: a YAML key that is no string (`5:`, YAML 1.1's bare
`no:`) crashed the unknown-key message (TypeError); a config file that is not UTF-8 was a
UnicodeDecodeError traceback; a saved config holding a string such as '1e5' did not load
back (written unquoted, read as a float); optim.betas outside [0, 1), or strings and booleans
taken as numbers; data.rgb_keys / low_dim_keys that are no mapping reached the dataset; a
password-protected zip was a RuntimeError traceback; a file:// URL on another host read the
local path.
"""
from __future__ import annotations

import gc
import hashlib
import json
import re
import shutil
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import test_download
import test_lerobot_source_review
import yaml
from test_download import STORE, zip_tree
from test_download_edges import serve_once  # noqa: F401 (fixture)

from dp_ros.atomic_dir import free_disk
from dp_ros.recorded_sources import FRAME_SIZE
from sim_bridge.sim_node_config import MAX_SEED
from training.config import (
    DEFAULT_CONTROL_PERIOD_S,
    DataConfig,
    TrainConfig,
    apply_override,
    load_config,
)
from training.download import DownloadError, download_pusht, fetch
from training.errors import TrainConfigError
from training.lerobot_format import LeRobotFormatError
from training.lerobot_source import LeRobotStore, check_format, open_training_store
from training.replay_buffer import ReplayBuffer


# ------------------------------------------------------------------ config: bounds
@pytest.mark.parametrize('override, message', [
    ('train.torch_compile=fast', "train.torch_compile 'fast' is not one of"),
    ('eval.sample_seed=-1', 'eval.sample_seed must be >= 0'),
    ('train.val_max_batches=0', 'train.val_max_batches must be an integer >= 1 or null'),
    ('train.keep_snapshots=0', 'train.keep_snapshots must be an integer >= 1 or null'),
])
def test_the_bounds_the_suite_left_unchecked_are_refused(override, message):
    """Each bound validate() documents, just past its edge: a typo'd compile mode reached
    torch.compile hours in, a negative sample seed numpy's seeding, 0 batches an empty
    validation, keep_snapshots 0 the removal of every snapshot."""
    with pytest.raises(TrainConfigError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize('override', ['optim.weight_decay=0', 'train.keep_snapshots=1',
                                      'train.val_max_batches=1', 'eval.sample_seed=0'])
def test_the_edge_values_of_those_bounds_are_accepted(override):
    """No weight decay is a valid AdamW (>= 0, not > 0); 1 snapshot, 1 batch, seed 0."""
    load_config(None, [override])


def test_the_last_seed_numpy_takes_is_a_training_seed_and_one_past_it_is_not():
    """train.seed in 0..2**32 - 1: the last one itself is accepted."""
    assert load_config(None, [f'train.seed={MAX_SEED}']).train.seed == MAX_SEED
    with pytest.raises(TrainConfigError, match='train.seed must be in'):
        load_config(None, [f'train.seed={MAX_SEED + 1}'])


def test_without_evaluation_episodes_the_start_seed_is_not_checked_against_the_sims():
    """eval.n_episodes 0: no seed is ever used, so a start seed past the sim's last one is no
    error (with one episode it is)."""
    load_config(None, ['eval.n_episodes=0', f'eval.start_seed={MAX_SEED + 5}'])
    with pytest.raises(TrainConfigError, match='past the last seed'):
        load_config(None, ['eval.n_episodes=1', f'eval.start_seed={MAX_SEED + 1}'])


@pytest.mark.parametrize('value, mode', [('true', 'default'), ('false', None),
                                         ('null', None), ('aot_eager', 'aot_eager')])
def test_yaml_true_and_false_name_the_default_compile_and_eager(value, mode):
    """torch_compile: true is inductor's default mode, false eager (as documented)."""
    assert load_config(None, [f'train.torch_compile={value}']).train.torch_compile == mode


def test_a_config_of_none_is_the_defaults():
    """from_dict(None) (an empty YAML document, a train state without a config) is
    TrainConfig()."""
    assert TrainConfig.from_dict(None) == TrainConfig()


def test_a_saved_config_lists_its_sections_and_keys_in_the_dataclasses_order():
    """config.yaml reads as the dataclasses do (policy, data, optim, ema, train, eval; each
    section's keys in field order), not sorted."""
    saved = yaml.safe_load(TrainConfig().to_yaml())
    assert list(saved) == ['policy', 'data', 'optim', 'ema', 'train', 'eval']
    assert list(saved['data'])[:3] == ['zarr_path', 'format', 'val_ratio']


def test_a_directory_given_as_the_config_file_is_not_read(tmp_path):
    """A folder for --config: FileNotFoundError naming it as the training config (one line
    from the CLI), not an IsADirectoryError from reading it."""
    with pytest.raises(FileNotFoundError, match='training config .* not found'):
        load_config(tmp_path)


@pytest.mark.parametrize('override, message', [
    ('train.torch_compile=1', 'train.torch_compile 1 is not one of'),
    ('train.mixed_precision=0', 'train.mixed_precision 0 is not one of'),
])
def test_only_yamls_booleans_stand_for_a_mode_not_0_or_1(override, message):
    """torch_compile true/false and mixed_precision's bare `no` are YAML booleans; the
    integers 1 and 0 (equal to them in Python) are no mode."""
    with pytest.raises(TrainConfigError, match=message):
        load_config(None, [override])


def test_an_override_inside_a_free_form_mapping_is_not_checked_against_fields():
    """data.rgb_keys.wrist=cam0: a camera name no dataclass lists is set, not refused."""
    data: dict = {'data': {'rgb_keys': None}}
    apply_override(data, 'data.rgb_keys.wrist=cam0')
    assert data == {'data': {'rgb_keys': {'wrist': 'cam0'}}}
    cfg = load_config(None, ['data.rgb_keys.wrist=cam0', 'data.low_dim_keys.q=state[0:3]'])
    assert cfg.data.rgb_keys == {'wrist': 'cam0'} and cfg.data.low_dim_keys == {'q': 'state[0:3]'}


def test_key_args_and_split_args_pass_each_field_through():
    """What PushTImageDataset and dataset_shape_meta get: each field under its own name."""
    d = DataConfig(image_key='cam', state_key='obs', action_key='act', rgb_keys={'a': 'cam'},
                   low_dim_keys={'b': 'obs'}, split_seed=7, val_ratio=0.1,
                   max_train_episodes=3, exclude_episodes=[2])
    assert d.key_args() == {'image_key': 'cam', 'state_key': 'obs', 'action_key': 'act',
                            'rgb_keys': {'a': 'cam'}, 'low_dim_keys': {'b': 'obs'}}
    assert d.split_args() == {'seed': 7, 'val_ratio': 0.1, 'max_train_episodes': 3,
                              'exclude_episodes': [2]}


def test_the_default_control_period_is_push_ts_10_hz():
    """train.control_period_s where neither config nor dataset gives one: 0.1 s."""
    assert DEFAULT_CONTROL_PERIOD_S == 0.1


# ------------------------------------------------------------------ config: defects, mended
@pytest.mark.parametrize('text', ['train:\n  seed: 1\n  5: 3\n', 'no: 3\n'])
def test_a_key_that_is_not_a_string_is_an_unknown_config_key(tmp_path, text):
    path = tmp_path / 'c.yaml'
    path.write_text(text)
    with pytest.raises(TrainConfigError, match='unknown config keys'):
        load_config(path)


def test_a_config_file_that_is_not_text_is_a_config_error(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_bytes(b'train:\n  seed: \xff\xfe\n')
    with pytest.raises(TrainConfigError, match=r'c\.yaml is not UTF-8 text \(invalid start '
                                               r'byte at byte 15\)'):
        load_config(path)


def test_a_saved_config_reads_back_as_the_same_config(tmp_path):
    cfg = TrainConfig.from_dict({'data': {'zarr_path': '1e5'}, 'train': {'init_from': '2E3'}})
    cfg.save(tmp_path / 'config.yaml')
    assert load_config(tmp_path / 'config.yaml') == cfg


@pytest.mark.parametrize('betas', [[0.9, 1.5], [-0.1, 0.99], '12', ['0.9', '0.99'],
                                   [True, False]])
def test_betas_outside_0_1_or_not_numbers_are_refused(betas):
    with pytest.raises(TrainConfigError, match='optim.betas'):
        TrainConfig.from_dict({'optim': {'betas': betas}})


@pytest.mark.parametrize('key, value', [('rgb_keys', ['img']), ('low_dim_keys', ['state'])])
def test_observation_keys_that_are_not_a_mapping_of_names_are_refused(key, value):
    with pytest.raises(TrainConfigError, match=f'data: {key} must be a mapping of observation '
                                               'name -> array key'):
        TrainConfig.from_dict({'data': {key: value}})


# ------------------------------------------------------------------ the LeRobot store
lerobot = test_lerobot_source_review.lerobot  # 3 episodes (3, 4, 5 steps), no camera
lerobot_camera = test_lerobot_source_review.lerobot_camera  # the same with a 16x16 camera


def decodes(store: LeRobotStore, monkeypatch) -> list[list[int]]:
    """The episodes each video_episodes call of the store decodes (the real decode, listed)."""
    calls: list[list[int]] = []
    original = store.reader.video_episodes

    def video_episodes(*args, episodes=None, **kwargs):
        calls.append(list(range(3)) if episodes is None else list(episodes))
        return original(*args, episodes=episodes, **kwargs)

    monkeypatch.setattr(store.reader, 'video_episodes', video_episodes)
    return calls


def test_a_data_format_that_is_none_of_the_three_is_refused(lerobot):
    """check_format refuses 'hdf5' by name (a config built around validate() reaches it)."""
    with pytest.raises(LeRobotFormatError, match="data.format 'hdf5' is not one of"):
        check_format(lerobot, 'hdf5')


def test_open_training_store_refuses_a_format_the_path_contradicts(lerobot, tmp_path):
    """data.format zarr on a LeRobotDataset, lerobot on a zarr store: refused, not opened as
    the other kind."""
    with pytest.raises(LeRobotFormatError, match="'zarr' but .* is a LeRobotDataset"):
        open_training_store(lerobot, 'zarr')
    ReplayBuffer.from_arrays({'action': np.zeros((3, 2), np.float32)}, [3]).save_to(
        tmp_path / 'rb.zarr', progress=False)
    with pytest.raises(LeRobotFormatError, match="'lerobot' but .* is no LeRobotDataset"):
        open_training_store(tmp_path / 'rb.zarr', 'lerobot')
    assert isinstance(open_training_store(tmp_path / 'rb.zarr', 'zarr'), ReplayBuffer)


def test_an_empty_read_decodes_nothing(lerobot_camera, monkeypatch):
    """[0:0], [5:5] and [5:2] are (0, H, W, 3) without decoding any episode."""
    store = LeRobotStore(lerobot_camera)
    cam = store.data['img']
    calls = decodes(store, monkeypatch)
    for item in (slice(0, 0), slice(5, 5), slice(5, 2)):
        assert cam[item].shape == (0, 16, 16, 3)
    assert [c for c in calls if c] == []


def test_a_slice_of_step_1_decodes_its_episodes_alone(lerobot_camera, monkeypatch):
    """[3:7:1] is [3:7]: episode 1 alone is decoded, not the camera whole."""
    store = LeRobotStore(lerobot_camera)
    whole = np.asarray(LeRobotStore(lerobot_camera).data['img'])
    calls = decodes(store, monkeypatch)
    assert np.array_equal(store.data['img'][3:7:1], whole[3:7])
    assert [c for c in calls if c] == [[1]]


def test_a_step_index_past_either_end_is_refused(lerobot_camera):
    """12 frames: [11] and [-12] are frames, [12] and [-13] IndexErrors (as numpy's)."""
    cam = LeRobotStore(lerobot_camera).data['img']
    whole = np.asarray(cam)
    assert np.array_equal(cam[-12], whole[0]) and np.array_equal(cam[11], whole[11])
    for i in (12, -13):
        with pytest.raises(IndexError, match='out of bounds for 12 frames'):
            cam[i]


def test_a_boolean_index_is_numpys_new_axis_not_step_1(lerobot_camera):
    """cam[True] is numpy's arr[True] (all frames under a new axis), not frame 1."""
    cam = LeRobotStore(lerobot_camera).data['img']
    assert cam[True].shape == cam[np.True_].shape == (1, 12, 16, 16, 3)


def test_a_key_that_cannot_be_a_name_is_not_in_the_data(lerobot):
    """`in` answers False for a key no feature can have, an unhashable one included."""
    data = LeRobotStore(lerobot).data
    assert ['state'] not in data and 5 not in data and 'state' in data


def test_a_key_map_replaces_the_default_names(lerobot):
    """key_map given: its names map to the features, the default zarr names no longer do."""
    store = LeRobotStore(lerobot, key_map={'obs': 'observation.state'})
    assert 'obs' in store.data and 'state' not in store.data
    assert np.array_equal(np.asarray(store.data['obs']),
                          np.asarray(store.data['observation.state']))


def test_the_camera_is_one_object_that_goes_on_in_the_episode_a_read_stopped_in(
        lerobot_camera, monkeypatch):
    """store.data['img'] twice is the same camera: [0:5] decodes episodes 0 and 1 and keeps
    episode 1 (it stopped inside it), so [5:7] by a second look-up decodes nothing more."""
    store = LeRobotStore(lerobot_camera)
    whole = np.asarray(LeRobotStore(lerobot_camera).data['img'])
    assert store.data['img'] is store.data['img']
    calls = decodes(store, monkeypatch)
    assert np.array_equal(store.data['img'][0:5], whole[0:5])
    assert np.array_equal(store.data['img'][5:7], whole[5:7])
    assert [c for c in calls if c] == [[0, 1]]


def test_a_cameras_attrs_carry_its_frame_size_and_a_columns_do_not(lerobot_camera):
    """attrs('img') has frame_size [16, 16] (the policy node's field-of-view check); a
    numeric column's has none; a name the dataset lacks is a KeyError."""
    store = LeRobotStore(lerobot_camera)
    assert store.attrs('img')[FRAME_SIZE] == [16, 16]
    assert FRAME_SIZE not in store.attrs('state')
    with pytest.raises(KeyError, match='nothing'):
        store.attrs('nothing')


def test_a_cameras_attrs_carry_its_crop_from_info_json(lerobot_camera, tmp_path):
    """data['img'].attrs is the feature's info.json entry's (camera_crop), as a zarr image
    array's attrs are: what dataset_shape_meta reads."""
    copy = tmp_path / 'cropped'
    shutil.copytree(lerobot_camera, copy)
    info_path = copy / 'meta' / 'info.json'
    info = json.loads(info_path.read_text())
    info['features']['observation.image']['camera_crop'] = [0, 0, 16, 16]
    info_path.write_text(json.dumps(info))
    assert LeRobotStore(copy).data['img'].attrs == {'camera_crop': [0, 0, 16, 16]}


def test_a_bookkeeping_column_is_no_array_of_the_store(lerobot):
    """array('frame_index') (not a data key) is a LeRobotFormatError naming it."""
    with pytest.raises(LeRobotFormatError, match="'frame_index'"):
        LeRobotStore(lerobot).array('frame_index')


# ------------------------------------------------------------------ download-pusht
good_zip = test_download.good_zip  # the small Push-T store, zipped


def encrypted(archive: Path, to: Path) -> Path:
    """`archive` with every member flagged encrypted (as a password-protected zip is)."""
    data = bytearray(archive.read_bytes())
    for header, flags in ((b'PK\x03\x04', 6), (b'PK\x01\x02', 8)):
        for m in re.finditer(re.escape(header), bytes(data)):
            data[m.start() + flags] |= 1
    to.write_bytes(bytes(data))
    return to


def test_a_password_protected_archive_is_a_download_error_leaving_nothing(tmp_path, good_zip):
    """zipfile's RuntimeError ('... is encrypted, password required for extraction') was a
    traceback; now a DownloadError naming the archive, and the --dest it made is removed."""
    archive = encrypted(good_zip, tmp_path / 'locked.zip')
    with pytest.raises(DownloadError, match=r'cannot unpack \S*locked\.zip: it is '
                                            'password-protected; give an archive without a '
                                            'password$'):
        download_pusht(str(archive), tmp_path / 'data', progress=False)
    assert not (tmp_path / 'data').exists()


def test_a_file_url_on_another_host_is_refused(tmp_path, good_zip):
    with pytest.raises(DownloadError, match=r'a file:// URL on another host \(nas\) is not '
                                            'supported'):
        fetch(f'file://nas{good_zip}', tmp_path / 'copy.zip', progress=False)
    assert not (tmp_path / 'copy.zip').exists()


def test_a_file_url_on_localhost_is_the_local_file(tmp_path, good_zip):
    """file://localhost/PATH is PATH; fetch returns its sha256."""
    digest = fetch(f'file://localhost{good_zip}', tmp_path / 'copy.zip', progress=False)
    assert digest == hashlib.sha256(good_zip.read_bytes()).hexdigest()
    assert (tmp_path / 'copy.zip').read_bytes() == good_zip.read_bytes()


def test_a_download_not_unpacked_beside_itself_needs_room_for_itself_alone(
        tmp_path, serve_once):  # noqa: F811 (fixture)
    """unpacked_beside=False: a Content-Length of 3/4 of the free disk fits (the download
    goes ahead, and this server's 100 bytes are a truncated one), twice it would not."""
    length = free_disk(tmp_path) * 3 // 4
    url = serve_once(b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' % length + b'x' * 100)
    with pytest.raises(DownloadError, match=f'truncated: got 100 of {length} bytes'):
        fetch(url, tmp_path / 'copy.zip', progress=False, unpacked_beside=False)


def test_a_source_refused_for_space_is_closed(tmp_path):
    """A local archive larger than the free disk (a sparse file): refused before copying,
    and its file closed (no ResourceWarning once collected)."""
    big = tmp_path / 'big.zip'
    with big.open('wb') as f:
        f.truncate(free_disk(tmp_path) + 2**30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with pytest.raises(DownloadError, match='needs .* MiB and .* free'):
            fetch(str(big), tmp_path / 'copy.zip', progress=False)
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert not (tmp_path / 'copy.zip').exists()


def test_a_file_that_is_no_zip_is_named_so_not_corrupt(tmp_path):
    """An HTML page saved as pusht.zip: 'is not a zip archive'."""
    page = tmp_path / 'pusht.zip'
    page.write_text('<html>moved</html>')
    with pytest.raises(DownloadError, match=r'pusht\.zip is not a zip archive'):
        download_pusht(str(page), tmp_path / 'data', progress=False)
    assert not (tmp_path / 'data').exists()


def test_a_store_with_the_keys_but_no_episode_is_refused(tmp_path):
    """img, state and action of 0 steps, 0 episodes: no demonstrations, refused."""
    empty = np.zeros((0, 2), np.float32)
    ReplayBuffer.from_arrays({k: empty for k in ('img', 'state', 'action')},
                             np.zeros(0, np.int64)).save_to(tmp_path / 'src' / STORE,
                                                            progress=False)
    archive = zip_tree(tmp_path / 'src', tmp_path / 'pusht.zip')
    with pytest.raises(DownloadError, match='holds no Push-T demonstrations: its store has 0 '):
        download_pusht(str(archive), tmp_path / 'data', progress=False)
    assert not (tmp_path / 'data').exists()


def test_a_store_without_episode_ends_is_a_download_error(tmp_path):
    """The replay buffer's refusal (a ValueError) comes back as a DownloadError."""
    store = tmp_path / 'src' / STORE
    (store / 'data').mkdir(parents=True)
    (store / '.zgroup').write_text('{"zarr_format": 2}')
    (store / 'data' / '.zgroup').write_text('{"zarr_format": 2}')
    archive = zip_tree(tmp_path / 'src', tmp_path / 'pusht.zip')
    with pytest.raises(DownloadError, match='does not open as a replay buffer: .*episode_ends'):
        download_pusht(str(archive), tmp_path / 'data', progress=False)


def test_a_dest_under_the_home_folder_is_found_by_tilde(tmp_path, good_zip, monkeypatch):
    """--dest ~/data is $HOME/data, not a folder named '~' in the working directory."""
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    monkeypatch.chdir(tmp_path)
    store = download_pusht(str(good_zip), Path('~/data'), progress=False)
    assert store == tmp_path / 'home' / 'data' / STORE
    assert not (tmp_path / '~').exists()


def test_a_server_that_refuses_the_connection_is_a_download_error(tmp_path):
    """Nothing listening on the port: 'cannot download URL: ...' (an URLError before)."""
    with socket.create_server(('127.0.0.1', 0)) as closed:
        port = closed.getsockname()[1]
    url = f'http://127.0.0.1:{port}/pusht.zip'
    with pytest.raises(DownloadError, match=f'cannot download {re.escape(url)}'):
        fetch(url, tmp_path / 'copy.zip', progress=False)


@pytest.mark.parametrize('section, key', [('optim', 'lr'), ('train', 'control_period_s'),
                                          ('ema', 'power'), ('optim', 'max_grad_norm'),
                                          ('data', 'val_ratio')])
def test_an_infinite_number_is_refused_by_name(section, key):
    """YAML's .inf passed every '> 0' check (an infinite learning rate or control period);
    every config number is finite now, as bag2zarr's config refuses inf."""
    with pytest.raises(TrainConfigError, match=f'{section}.{key} must be a number, got inf'):
        TrainConfig.from_dict({section: {key: float('inf')}})

