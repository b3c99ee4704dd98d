"""training/lerobot_convert.py where a mutation review found changes no other test noticed: a
--map item without its LeRobot name, the key a collision names as renamed, zarr names that
are no array ('..', blanks), an output that is or lies inside the source given to the
functions themselves (not only to the command), which 4-D and 5-D arrays are cameras, the
block cache's slices, the report's task counts and codec, which frame names an episode's
task, a dataset without a task_index feature or with a string feature asked for, a recorded
rate rounded (not truncated) to its fps, a missing source named as such, and an infinite
--tolerance-s.

Stores are small numeric zarr replay buffers (no video: fast) written by ReplayBuffer;
LeRobot datasets are written by the converter itself and, where a foreign dataset is needed,
their parquet or info.json edited with pyarrow and json.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zarr
from test_lerobot_convert_edges import entries, info_of

from training.lerobot_convert import (
    ROBOT_TYPE_ATTR,
    TASKS_ATTR,
    ConvertError,
    _BlockReader,
    check_renaming,
    episode_tasks,
    lerobot_to_zarr,
    main,
    parse_key_map,
    zarr_to_lerobot,
)
from training.lerobot_format import LeRobotFormatError, LeRobotReader
from training.replay_buffer import ReplayBuffer

LENGTHS = (3, 4, 3)
N = sum(LENGTHS)


def make_store(path, lengths=LENGTHS, extra=None, **root_attrs):
    """A numeric store: state (N, 2) and action (N, 2), episodes of `lengths`; `extra`
    arrays beside them; root attributes as given."""
    n = sum(lengths)
    data = {'state': np.arange(2 * n, dtype=np.float32).reshape(n, 2),
            'action': -np.arange(2 * n, dtype=np.float32).reshape(n, 2), **(extra or {})}
    ReplayBuffer.from_arrays(data, np.cumsum(lengths)).save_to(path, progress=False)
    if root_attrs:
        zarr.open_group(str(path), mode='r+').attrs.update(root_attrs)
    return path


@pytest.fixture(scope='module')
def lerobot(tmp_path_factory):
    """A numeric LeRobot dataset of three episodes with tasks pick, place, pick."""
    base = tmp_path_factory.mktemp('lr')
    src = make_store(base / 'src.zarr', **{TASKS_ATTR: ['pick', 'place', 'pick']})
    zarr_to_lerobot(src, base / 'lr', fps=10, progress=False)
    return base / 'lr'


def copy_of(lerobot, tmp_path):
    copy = tmp_path / 'copy'
    shutil.copytree(lerobot, copy)
    return copy


# ---------------------------------------------------------------------------- key maps
def test_a_map_item_without_its_lerobot_name_is_refused():
    """`--map state=` names no LeRobot key: refused as malformed, not taken as a map to ''
    (LeRobot -> zarr would then ignore it and keep observation.state's own name, silently)."""
    for item in ('state=', 'state= ', '=action'):
        with pytest.raises(ConvertError, match='is not of the form ZARR_KEY=LEROBOT_KEY'):
            parse_key_map([item])


def test_a_collision_names_only_the_key_the_map_renamed():
    """keypoint mapped onto n_contacts, which a key already is: the message says the map
    renames keypoint (the one to change), not n_contacts, which keeps its own name."""
    with pytest.raises(ConvertError) as failure:
        check_renaming({'keypoint': 'n_contacts', 'n_contacts': 'n_contacts'}, 'zarr',
                       'LeRobot feature')
    assert "(the key map renames 'keypoint' to it)" in str(failure.value)


@pytest.mark.parametrize('name', ['..', ' ', '.'])
def test_a_zarr_name_that_is_no_array_of_its_own_is_refused_leaving_nothing(lerobot, tmp_path,
                                                                           name):
    """A map (given to lerobot_to_zarr, whose names are not stripped as --map's are) that
    sends observation.state to '..' or a blank name is refused before anything is written:
    zarr would write data/.. into the store's root, or a key that looks like none."""
    out = tmp_path / 'back.zarr'
    with pytest.raises(ConvertError, match='cannot hold as one array'):
        lerobot_to_zarr(lerobot, out, key_map={name: 'observation.state'}, progress=False)
    assert entries(tmp_path) == []


# ---------------------------------------------------------------------------- outputs
def test_the_functions_refuse_an_output_that_is_or_lies_inside_the_source(lerobot, tmp_path):
    """zarr_to_lerobot and lerobot_to_zarr guard the source themselves, not only through the
    command: with overwrite, an output that is the source would replace it by the copy
    written from it; an output inside it would write into it."""
    store = make_store(tmp_path / 'demos.zarr')
    before = entries(store)
    with pytest.raises(ConvertError, match='is the source'):
        zarr_to_lerobot(store, store, fps=10, overwrite=True, progress=False)
    with pytest.raises(ConvertError, match='inside the source'):
        zarr_to_lerobot(store, store / 'le', fps=10, progress=False)
    assert entries(store) == before
    assert np.array_equal(ReplayBuffer.open(store).data['state'][:],
                          np.arange(2 * N, dtype=np.float32).reshape(N, 2))
    copy = copy_of(lerobot, tmp_path)
    with pytest.raises(ConvertError, match='inside the source'):
        lerobot_to_zarr(copy, copy / 'meta', overwrite=True, progress=False)
    assert (copy / 'meta' / 'info.json').is_file()


def test_an_output_inside_a_store_without_a_rate_is_refused_for_its_place_first(tmp_path):
    """The command checks the output's place before it reads the source: an output inside a
    store that records no rate is refused as inside the source, not for the missing --fps."""
    store = make_store(tmp_path / 'demos.zarr')
    with pytest.raises(ConvertError, match='inside the source'):
        main([str(store), str(store / 'le'), '--no-progress'])
    assert not (store / 'le').exists()


def test_a_missing_source_is_named_as_missing_whatever_the_direction(tmp_path):
    """`--to zarr` from a path that does not exist: it does not exist, not 'already a zarr
    dataset' (which it is not either)."""
    for to in ('zarr', 'lerobot'):
        with pytest.raises(FileNotFoundError, match='absent does not exist'):
            main([str(tmp_path / 'absent'), str(tmp_path / 'out'), '--to', to, '--fps', '10',
                  '--no-progress'])
    assert entries(tmp_path) == []


def test_an_infinite_tolerance_is_refused(lerobot, tmp_path):
    """--tolerance-s inf would match any video frame to any timestamp: refused, as 0 is."""
    with pytest.raises(ConvertError, match='--tolerance-s must be a number of seconds > 0'):
        main([str(lerobot), str(tmp_path / 'back.zarr'), '--tolerance-s', 'inf',
              '--no-progress'])
    assert entries(tmp_path) == []


# ---------------------------------------------------------------------------- cameras
@pytest.mark.parametrize('shape', [(6, 5, 4), (2, 6, 5, 3)], ids=['rgba', '5d'])
def test_only_n_h_w_3_arrays_are_cameras(tmp_path, shape):
    """A 4-channel (N, H, W, 4) image (RGBA) and a 5-D (N, K, H, W, 3) stack of images are
    parquet columns, kept bit for bit: a video holds (N, H, W, 3) frames, and either taken
    as one would lose a channel or a dimension."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (N, *shape), dtype=np.uint8)
    src = make_store(tmp_path / 'src.zarr', extra={'pixels': pixels})
    zarr_to_lerobot(src, tmp_path / 'lr', fps=10, progress=False)
    assert info_of(tmp_path / 'lr')['features']['pixels'] == {
        'dtype': 'uint8', 'shape': list(shape), 'names': None}
    lerobot_to_zarr(tmp_path / 'lr', tmp_path / 'back.zarr', progress=False)
    back = ReplayBuffer.open(tmp_path / 'back.zarr').data['pixels'][:]
    assert back.dtype == np.uint8 and np.array_equal(back, pixels)


def test_the_block_cache_gives_every_slice_as_the_array_has_it(tmp_path):
    """_BlockReader: slices of episodes that end past its block, are longer than a block, or
    come back to an earlier place read what the array holds; a block smaller than one
    chunk still reads a chunk at a time (a camera of huge frames)."""
    data = np.arange(60 * 3, dtype=np.float32).reshape(60, 3)
    array = zarr.open_array(str(tmp_path / 'a.zarr'), mode='w', shape=data.shape,
                            chunks=(4, 3), dtype=np.float32)
    array[:] = data
    reader = _BlockReader(array, block_bytes=100)  # 2 chunks of 4 steps of 12 bytes: 8 steps
    assert reader.block == 8
    bounds = np.cumsum([0, 3, 6, 12, 1, 5, 22, 11])  # 3..9 ends 1 past the first block
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        np.testing.assert_array_equal(reader(int(start), int(stop)), data[start:stop])
    for start, stop in ((2, 5), (40, 41), (0, 60)):  # back to earlier places
        np.testing.assert_array_equal(reader(start, stop), data[start:stop])
    tiny = _BlockReader(array, block_bytes=10)
    assert tiny.block == 4
    np.testing.assert_array_equal(tiny(3, 9), data[3:9])


# ---------------------------------------------------------------------------- the report
def test_the_report_counts_distinct_tasks_and_names_no_codec_without_a_camera(tmp_path):
    """Tasks pick, pick, place are 2 tasks; no episode is untasked beside the others; a
    store without cameras is written with no codec (none is needed, none is reported). A
    recorded robot type that is no text is not written as info.json's robot_type."""
    src = make_store(tmp_path / 'src.zarr', **{TASKS_ATTR: ['pick', 'pick', 'place'],
                                                ROBOT_TYPE_ATTR: 7})
    report = zarr_to_lerobot(src, tmp_path / 'lr', fps=10, progress=False)
    assert report['tasks'] == 2 and report['untasked_episodes'] == []
    assert report['vcodec'] is None and report['crf'] is None
    assert info_of(tmp_path / 'lr')['robot_type'] is None


def test_a_store_without_tasks_has_no_untasked_episodes_to_note(tmp_path, capsys):
    """Untasked episodes are those beside tasked ones: a store that records no task at all
    (bag2zarr's) reports none, and the command prints no note about them."""
    src = make_store(tmp_path / 'src.zarr')
    report = zarr_to_lerobot(src, tmp_path / 'lr', fps=10, progress=False)
    assert report['untasked_episodes'] == [] and report['tasks'] == 1
    assert main([str(src), str(tmp_path / 'lr2'), '--fps', '10', '--no-progress']) == 0
    assert 'no task' not in capsys.readouterr().out


# ---------------------------------------------------------------------------- LeRobot -> zarr
def test_an_episodes_task_is_its_first_frames_and_an_unknown_index_is_no_task(lerobot,
                                                                             tmp_path):
    """A dataset whose frames carry another task_index within an episode: the episode's task
    is its first frame's (episode 0 starts with place, episode 1 ends with pick); a
    task_index that meta/tasks.parquet does not list is no task (''), not 'None'."""
    copy = copy_of(lerobot, tmp_path)
    path = copy / 'data/chunk-000/file-000.parquet'
    table = pq.read_table(path)
    index = table['task_index'].to_pylist()
    assert index == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
    index[0], index[6], index[7] = 1, 0, 7
    column = table.schema.get_field_index('task_index')
    pq.write_table(table.set_column(column, table.schema.field(column),
                                    pa.array(index, pa.int64())), path)
    assert episode_tasks(LeRobotReader(copy)) == ['place', 'place', '']
    lerobot_to_zarr(copy, tmp_path / 'back.zarr', progress=False)
    assert ReplayBuffer.open(tmp_path / 'back.zarr').root_attrs()[TASKS_ATTR] == [
        'place', 'place', '']


def test_a_dataset_whose_info_lists_no_task_index_converts_without_tasks(lerobot, tmp_path):
    """info.json without a task_index feature (a foreign writer's): the episodes have no
    task to take back, and the conversion goes on, not refused for a missing feature."""
    copy = copy_of(lerobot, tmp_path)
    info = info_of(copy)
    del info['features']['task_index']
    (copy / 'meta/info.json').write_text(json.dumps(info))
    report = lerobot_to_zarr(copy, tmp_path / 'back.zarr', progress=False)
    assert report['episodes'] == 3 and report['tasks'] == 0
    assert TASKS_ATTR not in ReplayBuffer.open(tmp_path / 'back.zarr').root_attrs()


def test_a_string_feature_asked_for_is_refused_naming_its_dtype(lerobot, tmp_path):
    """--keys instruction, a string feature (a language instruction): refused by name and
    dtype before anything is written, not a parquet or zarr error midway."""
    copy = copy_of(lerobot, tmp_path)
    info = info_of(copy)
    info['features'] = {'instruction': {'dtype': 'string', 'shape': [1], 'names': None},
                        **info['features']}
    (copy / 'meta/info.json').write_text(json.dumps(info))
    with pytest.raises(LeRobotFormatError,
                       match="feature 'instruction' of .* is of dtype 'string', not numeric"):
        lerobot_to_zarr(copy, tmp_path / 'back.zarr', keys=['instruction'], progress=False)
    assert not (tmp_path / 'back.zarr').exists()


# ---------------------------------------------------------------------------- rates
def test_a_recorded_rate_is_rounded_to_its_fps_not_truncated(tmp_path):
    """A store recorded at 93 fps: 1 / (1 / 93) is 92.99999999999999 in floats, which is
    93 fps, not 92 (every timestamp would be 1% off)."""
    src = make_store(tmp_path / 'src.zarr', fps=93)
    assert main([str(src), str(tmp_path / 'lr'), '--no-progress']) == 0
    assert info_of(tmp_path / 'lr')['fps'] == 93
