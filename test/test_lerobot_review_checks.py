"""`dp-ros convert` and the LeRobot reader on what a review found slipping through: an episode
longer than 2048 s (its float32 timestamps further than 1e-4 s from their frames) reads back,
and the writer warns that lerobot's own loader may not; a feature name with '/' (zarr would
nest it out of sight), null cells in data columns and malformed episodes-table values are
refused in one line naming the file; options of the other direction and a tolerance <= 0 are
refused; an empty zarr episode is named; robot_type survives LeRobot -> zarr -> LeRobot.
"""
from __future__ import annotations

import json
import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import set_episode_ends
from test_lerobot_convert_edges import info_of
from test_lerobot_damaged_inputs import convert_back

from dp_ros import cli
from training.lerobot_convert import ConvertError, lerobot_to_zarr, main, zarr_to_lerobot
from training.lerobot_format import (
    FLOAT32_TIMESTAMP_LIMIT_S,
    LeRobotReader,
    LeRobotWriter,
    VideoEncoding,
    numeric_feature,
    video_feature,
)
from training.replay_buffer import ReplayBuffer

DATA = 'data/chunk-000/file-000.parquet'
EPISODES = 'meta/episodes/chunk-000/file-000.parquet'
CAM = 'observation.image'


@pytest.fixture
def lerobot(tmp_path):
    """Two episodes of a 16x16 camera, a float32 state (3,) and a uint64 counter."""
    n = 10
    img = np.broadcast_to((np.arange(n) * 20).astype(np.uint8)[:, None, None, None],
                          (n, 16, 16, 3)).copy()
    ReplayBuffer.from_arrays({'img': img, 'state': np.ones((n, 3), np.float32),
                              'counter': np.arange(n, dtype=np.uint64) + 2**63},
                             np.array([4, n])).save_to(tmp_path / 's.zarr', progress=False)
    zarr_to_lerobot(tmp_path / 's.zarr', tmp_path / 'le', fps=10,
                    encoding=VideoEncoding(vcodec='h264'), progress=False)
    return tmp_path / 'le'


def set_cell(path, column: str, row: int, value: object, typ: pa.DataType | None = None) -> None:
    """Cell (row, column) of a parquet file set to value (the column cast to typ)."""
    table = pq.read_table(path)
    values = table[column].to_pylist()
    values[row] = value
    if typ == pa.string():  # a column of text, as a CSV round trip leaves it
        values = [str(v) for v in values]
    array = pa.array(values, type=typ or table.schema.field(column).type)
    pq.write_table(table.set_column(table.column_names.index(column), column, array), path)


# ---------------------------------------------------------------------------- long episodes
def test_an_episode_past_2048_s_reads_back(tmp_path):
    """At 7 fps frame 14339's float32 timestamp (2048.4285 s) is 1.05e-4 s from its frame's
    time: within the default 1e-4 s plus the timestamp's float32 spacing, so what the writer
    wrote reads back (it was refused)."""
    n = int(FLOAT32_TIMESTAMP_LIMIT_S * 7) + 8
    frames = np.zeros((n, 16, 16, 3), np.uint8)
    frames[-8:] = 200  # the frames past 2048 s are these, not an earlier one
    with LeRobotWriter(tmp_path / 'le', 7, {'cam': video_feature(16, 16)},
                       encoding=VideoEncoding(vcodec='h264', preset='ultrafast')) as writer:
        writer.add_episode({'cam': frames})
        writer.close()
    read = LeRobotReader(tmp_path / 'le').camera_frames('cam')
    assert read.shape == frames.shape
    assert (np.abs(read[-8:].astype(int) - 200) <= 3).all()
    assert (read[:-8] <= 3).all()


def test_the_writer_warns_of_an_episode_past_2048_s(tmp_path, caplog):
    """At 1 fps, 2050 frames end past 2048 s: one warning line that lerobot's loader may refuse
    frames past that point, however many such episodes; 2049 frames (the last at 2048 s)
    none."""
    def warned(name: str, frames: int) -> list[str]:
        values = np.zeros((frames, 1), np.float32)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger='training.lerobot_format'), \
                LeRobotWriter(tmp_path / name, 1, {'x': numeric_feature(values)}) as writer:
            writer.add_episode({'x': values})
            writer.add_episode({'x': values})
            writer.close()
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    assert warned('short', 2049) == []
    lines = warned('long', 2050)
    assert len(lines) == 1 and '\n' not in lines[0], lines
    assert 'episode 0' in lines[0] and "lerobot's own loader" in lines[0]
    assert 'tolerance_s 1e-4' in lines[0]


# ---------------------------------------------------------------------------- '/' in a name
def slash_feature(root) -> None:
    """Rename the dataset's observation.state to x/y (info.json and the data parquet), as a
    hand-made dataset may name it."""
    info = info_of(root)
    info['features'] = {('x/y' if k == 'observation.state' else k): v
                        for k, v in info['features'].items()}
    (root / 'meta/info.json').write_text(json.dumps(info))
    table = pq.read_table(root / DATA)
    pq.write_table(table.rename_columns(['x/y' if c == 'observation.state' else c
                                         for c in table.column_names]), root / DATA)


def test_a_feature_name_with_a_slash_is_refused_naming_the_map(tmp_path, lerobot, capsys):
    """x/y would become nested zarr groups that keys() does not list (its data gone from
    training, silently): refused, naming the feature and the --map that renames it."""
    slash_feature(lerobot)
    err = convert_back(tmp_path, lerobot, capsys)
    assert "'x/y'" in err and '--map NEW=x/y' in err
    # and that --map converts it
    assert main([str(lerobot), str(tmp_path / 'back.zarr'), '--map', 'x_y=x/y',
                 '--no-progress']) == 0
    back = ReplayBuffer.open(tmp_path / 'back.zarr')
    assert 'x_y' in back.keys()
    np.testing.assert_array_equal(back.data['x_y'][:], np.ones((10, 3), np.float32))


# ---------------------------------------------------------------------------- null cells
@pytest.mark.parametrize(('column', 'value'), [
    ('observation.state', None),   # a null step: NaN
    ('observation.state', [1.0, None, 1.0]),  # a null inside one: NaN
    ('counter', None),  # uint64: 2**63 and the column float64
    ('timestamp', None),
])
def test_a_null_cell_in_a_data_column_is_refused(tmp_path, lerobot, capsys, column, value):
    set_cell(lerobot / DATA, column, 6, value)
    err = convert_back(tmp_path, lerobot, capsys)
    assert DATA in err and f"'{column}' is null at row 6" in err


# ---------------------------------------------------------------------------- episodes table
@pytest.mark.parametrize(('column', 'value', 'typ', 'said'), [
    (f'videos/{CAM}/from_timestamp', None, None, 'is null at row 1'),
    (f'videos/{CAM}/chunk_index', None, None, 'is null at row 1'),
    ('data/file_index', None, None, 'is null at row 1'),
    ('data/file_index', 0.5, pa.float64(), 'is 0.5 at row 1'),
    ('episode_index', None, None, 'is null at row 1'),
    ('length', '6', pa.string(), 'is of type string'),
])
def test_a_malformed_episodes_table_value_is_named(tmp_path, lerobot, capsys, column, value,
                                                   typ, said):
    """Values the reader would trip over (a TypeError on a null, a ValueError formatting a
    float file index) are one line naming the file, the column and the row."""
    set_cell(lerobot / EPISODES, column, 1, value, typ)
    err = convert_back(tmp_path, lerobot, capsys)
    assert EPISODES in err and f"column '{column}' {said}" in err


def test_an_integral_float_episodes_column_is_read_as_integers(tmp_path, lerobot):
    """data/file_index 0.0 (pandas' float column of an int one that held a NaN): read as 0."""
    set_cell(lerobot / EPISODES, 'data/file_index', 1, 0.0, pa.float64())
    lerobot_to_zarr(lerobot, tmp_path / 'back.zarr', progress=False)
    assert ReplayBuffer.open(tmp_path / 'back.zarr').n_steps == 10


# ---------------------------------------------------------------------------- options
def test_options_of_the_other_direction_are_refused(tmp_path, lerobot):
    """--task, --vcodec and --crf do nothing on LeRobot -> zarr: named, not ignored."""
    with pytest.raises(ConvertError, match=r'--task, --vcodec and --crf apply to zarr -> '
                                           r'LeRobot only.*LeRobot -> zarr'):
        main([str(lerobot), str(tmp_path / 'back.zarr'), '--task', 'hello', '--vcodec',
              'nonsense', '--crf', '99', '--no-progress'])
    with pytest.raises(ConvertError, match='--tolerance-s applies to LeRobot -> zarr only'):
        main([str(tmp_path / 's.zarr'), str(tmp_path / 'le2'), '--fps', '10',
              '--tolerance-s', '0.01', '--no-progress'])
    assert not (tmp_path / 'back.zarr').exists() and not (tmp_path / 'le2').exists()


def test_fps_on_lerobot_to_zarr_is_checked_against_the_dataset(tmp_path, lerobot):
    with pytest.raises(ConvertError, match=r'--fps 20: .* recorded at 10 fps'):
        main([str(lerobot), str(tmp_path / 'back.zarr'), '--fps', '20', '--no-progress'])
    assert main([str(lerobot), str(tmp_path / 'back.zarr'), '--fps', '10',
                 '--no-progress']) == 0


@pytest.mark.parametrize('tolerance', ['0', '-1', 'nan'])
def test_a_tolerance_of_no_positive_seconds_is_refused(tmp_path, lerobot, tolerance):
    with pytest.raises(ConvertError, match='--tolerance-s must be a number of seconds > 0'):
        main([str(lerobot), str(tmp_path / 'back.zarr'), '--tolerance-s', tolerance,
              '--no-progress'])
    assert not (tmp_path / 'back.zarr').exists()


# ---------------------------------------------------------------------------- empty episode
def test_an_empty_zarr_episode_is_named(tmp_path, capsys):
    """episode_ends [3, 3, 6]: episode 1 has no steps; named, not 'arrays must share a
    non-zero length, got {'action': 0}'."""
    ReplayBuffer.from_arrays({'action': np.zeros((6, 2), np.float32)},
                             np.array([3, 6])).save_to(tmp_path / 's.zarr', progress=False)
    set_episode_ends(tmp_path / 's.zarr', [3, 3, 6])
    code = cli.main(['convert', str(tmp_path / 's.zarr'), str(tmp_path / 'le'), '--fps', '10',
                     '--no-progress'])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert 'episode 1 is empty' in err
    assert not (tmp_path / 'le').exists()


# ---------------------------------------------------------------------------- robot_type
def test_robot_type_survives_a_round_trip(tmp_path):
    ReplayBuffer.from_arrays({'action': np.zeros((6, 2), np.float32)},
                             np.array([3, 6])).save_to(tmp_path / 's.zarr', progress=False)
    zarr_to_lerobot(tmp_path / 's.zarr', tmp_path / 'le', fps=10, robot_type='so100_follower',
                    progress=False)
    lerobot_to_zarr(tmp_path / 'le', tmp_path / 'back.zarr', progress=False)
    assert main([str(tmp_path / 'back.zarr'), str(tmp_path / 'again'), '--no-progress']) == 0
    assert info_of(tmp_path / 'again')['robot_type'] == 'so100_follower'
    # --robot-type still names another
    assert main([str(tmp_path / 'back.zarr'), str(tmp_path / 'other'), '--robot-type', 'koch',
                 '--no-progress']) == 0
    assert info_of(tmp_path / 'other')['robot_type'] == 'koch'
