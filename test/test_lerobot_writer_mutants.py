"""Behaviour of the LeRobotDataset writer that its other tests left unpinned (a mutation review of
training/lerobot_format.py's writer side, 145 mutants): the encoder options clamp SVT-AV1's
fast-decode to 0..2 and pass the thread count (lp, else threads), and info.json records
fast_decode and the extra options; default_encoding takes each encoder's whole crf range and no
more, and names an encoder PyAV lacks; numeric_feature takes up to 5 dimensions; blank names
and an iterator's names are checked; feature_attrs of a feature without a shape; to_arrow
stores the feature's dtype; a quantile in the first bin is the lowest edge; image_stats refuse
no batch or no frames; a camera's stats are of lerobot's 100-frame sample; timestamp stats are
of the float64 times; Ctrl-C abandons a running call, an abandoned segment takes no further
frame and abort() waits for its thread; a packet decoded no later than the one before is
refused by name and its segment discarded; FFmpeg's logged reason is named; a failure inside
the writer's block aborts it (mp4 closed, no info.json, no later close), a writer closes once
and not without episodes; the 2048 s warning counts from the last frame's time, once; data and
video files roll when the next episode would reach (>=) their size; parquet is snappy; no
dp_ros entry unless given; a camera needs 3 channels, an even height and width, and frames of
its size.

Each test kills a mutant the module's other tests let live. Everything is written by
LeRobotWriter into a temporary directory (h264, a few 32x48 frames) and read back with
pyarrow or PyAV; the encoder's helpers (_progressing, _VideoFile, _Segment) are
driven with real threads, frames and packets.

Defects the review found, mended and pinned at the end: add_episode after close() failed with
a bare AssertionError; a feature shape the writer cannot write ([], 6 dimensions, a 0
dimension, a camera without channels) was not refused when the writer was made (a KeyError
or a crash at the first episode), nor before its folder was made; a task that is no str was
taken (None written as a null task, an int failing at close(), after every episode was
encoded); an encoding handed to the writer was not checked against the encoder's crf range
(libx264 clamps crf 70 to 51 while info.json recorded 70).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_lerobot_format_edges import FPS, H, W, frames_of, state_of, write_numeric

from dp_ros.dimension_names import NAMES
from dp_ros.image_fit import CAMERA_CROP
from dp_ros.recorded_sources import SOURCES
from training.lerobot_format import (
    LeRobotFormatError,
    LeRobotWriter,
    VideoEncoding,
    _ffmpeg_reason,
    _OutOfOrder,
    _progressing,
    _VideoFile,
    check_feature_names,
    default_encoding,
    feature_attrs,
    feature_stats,
    from_arrow,
    image_stats,
    numeric_feature,
    to_arrow,
    video_feature,
)


# ---------------------------------------------------------------------------- fps, encoding
@pytest.mark.parametrize('given, said', [(5, 2), (2, 2), (1, 1), (-3, 0)])
def test_svtav1_fast_decode_is_clamped_to_its_range(given, said):
    opts = VideoEncoding(fast_decode=given).codec_options()
    assert opts['svtav1-params'] == f'fast-decode={said}'


def test_the_thread_count_reaches_each_encoder():
    assert VideoEncoding(threads=4).codec_options()['svtav1-params'] == 'fast-decode=0:lp=4'
    assert 'threads' not in VideoEncoding(threads=4).codec_options()
    for vcodec in ('h264', 'hevc'):
        assert VideoEncoding(vcodec=vcodec, threads=3).codec_options()['threads'] == '3'
        assert 'threads' not in VideoEncoding(vcodec=vcodec).codec_options()


def test_info_records_fast_decode_and_the_extra_options():
    info = VideoEncoding(fast_decode=1, extra_options={'tune': 'film'}).info()
    assert info['video.fast_decode'] == 1
    assert info['video.extra_options'] == {'tune': 'film'}


@pytest.mark.parametrize('vcodec, high', [('libsvtav1', 63), ('h264', 51), ('hevc', 51)])
def test_default_encoding_takes_each_encoders_whole_crf_range(vcodec, high):
    for crf in (0, high):
        assert default_encoding(vcodec=vcodec, crf=crf).crf == crf
    for crf in (-1, high + 1):
        with pytest.raises(LeRobotFormatError, match=f'0..{high}'):
            default_encoding(vcodec=vcodec, crf=crf)


def test_default_encoding_names_an_encoder_pyav_lacks():
    """A vcodec asked for is never swapped for h264 silently."""
    with pytest.raises(LeRobotFormatError, match='libnope'):
        default_encoding(vcodec='libnope')


def test_a_feature_of_up_to_5_dimensions_is_taken_and_no_more():
    assert numeric_feature(np.zeros((2, 1, 2, 1, 2, 1)))['shape'] == [1, 2, 1, 2, 1]
    with pytest.raises(LeRobotFormatError, match='at most 5'):
        numeric_feature(np.zeros((2, 1, 2, 1, 2, 1, 2)))


def test_a_feature_name_of_blanks_or_given_as_an_iterator_is_checked():
    """A name of spaces names no folder; an iterator's names are each checked (both checks
    see them)."""
    with pytest.raises(LeRobotFormatError, match='no folder'):
        check_feature_names(['  '])
    with pytest.raises(LeRobotFormatError, match='no folder'):
        check_feature_names(iter(['state', '..']))
    check_feature_names(iter(['state', 'observation.image']))


# ---------------------------------------------------------------------------- features
def test_feature_attrs_of_a_feature_without_a_shape_or_of_a_camera():
    """A feature without a shape is one value; a camera records its crop and sources, not the
    image names."""
    assert feature_attrs({'dtype': 'float32', 'names': ['x']}) == {NAMES: ['x']}
    camera = {**video_feature(H, W), CAMERA_CROP: (1, 2, 3, 4), SOURCES: ('/cam',)}
    assert feature_attrs(camera) == {CAMERA_CROP: [1, 2, 3, 4], SOURCES: ['/cam']}
    assert feature_attrs(video_feature(H, W)) == {}


def test_to_arrow_stores_the_features_dtype_whatever_it_is_given():
    """int64 values of a float32 (2, 2) feature are float32 in their column, and read back."""
    ft = {'dtype': 'float32', 'shape': [2, 2]}
    column = to_arrow(np.arange(8).reshape(2, 2, 2), ft)
    assert column.type == pa.list_(pa.list_(pa.float32()))
    back = from_arrow(column, ft)
    assert back.dtype == np.float32 and back.tolist() == np.arange(8).reshape(2, 2, 2).tolist()
    assert to_arrow(np.array([1, 2]), {'dtype': 'float64', 'shape': [1]}).type == pa.float64()


# ---------------------------------------------------------------------------- stats
def test_a_quantile_within_the_first_bin_is_the_lowest_edge():
    """Half the values at the minimum: q01 and q10 are the minimum (less the 1e-10 margin),
    not the first bin's upper edge."""
    values = np.array([0.0] * 50 + [1.0] * 50)[:, None]
    stats = feature_stats(values)
    assert abs(stats['q01'][0]) < 1e-9 and abs(stats['q10'][0]) < 1e-9


def test_image_stats_refuse_frames_that_are_no_batch_or_no_frames():
    """(H, W, C) alone is no batch of frames; an empty sample gives no stats (not NaN)."""
    with pytest.raises(LeRobotFormatError, match='uint8'):
        image_stats(np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(LeRobotFormatError, match='no frames'):
        image_stats(frames_of(2), sample=[])


# ---------------------------------------------------------------------------- videos
def written_video(root, lengths=(3, 4), **kwargs):
    """h264 episodes of `lengths` frames (grey levels 20 apart, each episode's frames on from
    the one before) beside a state."""
    features = {'cam': video_feature(H, W), 's': numeric_feature(state_of(1, 0))}
    start = 0
    with LeRobotWriter(root, FPS, features, encoding=VideoEncoding(vcodec='h264'),
                       **kwargs) as writer:
        for i, n in enumerate(lengths):
            writer.add_episode({'cam': frames_of(n, start), 's': state_of(n, i)}, task='push')
            start += n
    return root


def test_an_ffmpeg_failure_is_named_by_what_ffmpeg_logged():
    """FFmpeg's logged message where PyAV kept one, else the error's strerror."""
    logged = av.FFmpegError(22, 'Invalid argument', None,
                            (16, 'mp4', 'non monotonically increasing dts  '))
    assert _ffmpeg_reason(logged) == 'non monotonically increasing dts'
    assert _ffmpeg_reason(av.FFmpegError(22, 'Invalid argument')) == 'Invalid argument'
    assert _ffmpeg_reason(_OutOfOrder('a packet out of order')) == 'a packet out of order'


def test_ctrl_c_while_an_encoder_call_runs_abandons_it():
    """An interrupt in the wait (here from the progress clock) hands the running thread to
    abandon, and is raised."""
    release, abandoned = threading.Event(), []

    def interrupted() -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _progressing(release.wait, interrupted, 'a call', abandoned.append)
    release.set()
    assert len(abandoned) == 1 and isinstance(abandoned[0], threading.Thread)
    abandoned[0].join(5)


def test_an_abandoned_segment_encodes_no_more_frames(tmp_path):
    """_abandon tells the segment's encoder to stop: it takes no further frame, sends its end
    of stream (its muxer got no packet: no file is left)."""
    video = _VideoFile(tmp_path / 'cam/file-000.mp4', FPS, H, W, VideoEncoding(vcodec='h264'))
    segment = video._segment()
    video._abandon(threading.current_thread(), segment)
    segment.encode(frames_of(5))
    assert not segment.path.exists()


def test_a_packet_decoded_no_later_than_the_one_before_is_refused_by_name(tmp_path):
    """A packet whose decoding time equals its predecessor's is refused as out of order (the
    mp4 muxer would refuse it with a bare EINVAL); the segment is then discarded, file and
    all."""
    video = _VideoFile(tmp_path / 'cam/file-000.mp4', FPS, H, W, VideoEncoding(vcodec='h264'))
    segment = video._segment()
    packets = []
    for k, image in enumerate(frames_of(3)):
        frame = av.VideoFrame.from_ndarray(image, format='rgb24')
        frame.pts, frame.time_base = k, Fraction(1, FPS)
        packets += segment._encode(frame)
    packets += segment._flush()
    first = packets[0].dts  # in the encoder's time base (muxing moves it to the stream's)
    segment._mux(packets[:1])
    packets[1].dts = first
    with pytest.raises(_OutOfOrder, match='out of order'):
        segment._mux(packets[1:2])
    segment.discard()
    assert not segment.path.exists()


def test_abort_waits_for_an_abandoned_encoder_to_end_its_stream(tmp_path):
    """abort() joins the encoder thread Ctrl-C left running (up to ABORT_WAIT_S) before the
    mp4 is closed."""
    video = _VideoFile(tmp_path / 'cam/file-000.mp4', FPS, H, W, VideoEncoding(vcodec='h264'))
    encoding = threading.Thread(target=time.sleep, args=(0.5,), daemon=True)
    encoding.start()
    video._abandon(encoding, video._segment())
    video.abort()
    assert not encoding.is_alive()


# ---------------------------------------------------------------------------- the writer
def test_a_failure_inside_the_writers_block_aborts_it(tmp_path):
    """The writer is aborted, not finished: no info.json, and it cannot be closed later."""
    with pytest.raises(RuntimeError):
        with LeRobotWriter(tmp_path / 'ds', FPS, {'s': numeric_feature(state_of(1, 0))}) as w:
            w.add_episode({'s': state_of(3, 0)})
            raise RuntimeError('the caller failed')
    with pytest.raises(LeRobotFormatError, match='already closed'):
        w.close()
    assert not (tmp_path / 'ds/meta/info.json').exists()


def test_a_writer_closed_inside_its_block_is_not_closed_again(tmp_path):
    with LeRobotWriter(tmp_path / 'ds', FPS, {'s': numeric_feature(state_of(1, 0))}) as w:
        w.add_episode({'s': state_of(3, 0)})
        info = w.close()
    assert info['total_frames'] == 3
    assert json.loads((tmp_path / 'ds/meta/info.json').read_text()) == info


def test_the_long_episode_warning_counts_from_the_last_frames_time(tmp_path, caplog):
    """At 1 fps 2049 frames end at 2048 s (no warning); 2050 frames pass it (one warning, for
    the first such episode only)."""
    features = {'s': numeric_feature(np.zeros((1, 1), np.float32))}
    with caplog.at_level(logging.WARNING, logger='training.lerobot_format'):
        with LeRobotWriter(tmp_path / 'ds', 1, features) as writer:
            writer.add_episode({'s': np.zeros((2049, 1), np.float32)})
            assert 'long' not in caplog.text
            writer.add_episode({'s': np.zeros((2050, 1), np.float32)})
            writer.add_episode({'s': np.zeros((2051, 1), np.float32)})
    assert [r.getMessage() for r in caplog.records if 's long' in r.getMessage()] == [
        caplog.records[-1].getMessage()] and 'episode 1 ' in caplog.text


def test_a_cameras_stats_are_of_lerobots_sample_of_its_frames(tmp_path):
    """101 frames: the stats are of 100 of them (lerobot's sample_indices), count 100."""
    written_video(tmp_path / 'ds', lengths=(101,))
    stats = json.loads((tmp_path / 'ds/meta/stats.json').read_text())
    assert stats['cam']['count'] == [100]
    assert stats['s']['count'] == [101]


def test_a_data_file_rolls_when_the_next_episode_would_reach_its_size(tmp_path):
    """Two 4-frame episodes of 44 bytes a frame (a float32 pair, a float32 timestamp, four
    int64 indices) with files of exactly 352 bytes: the second starts file 1."""
    write_numeric(tmp_path / 'ds', (4, 4), data_files_size_in_mb=2 * 4 * 44 / 2**20)
    files = sorted(p.name for p in (tmp_path / 'ds/data/chunk-000').iterdir())
    assert files == ['file-000.parquet', 'file-001.parquet']


def test_parquet_files_are_snappy_compressed_as_lerobots(tmp_path):
    root, _ = write_numeric(tmp_path / 'ds', (3,))
    for path in ('data/chunk-000/file-000.parquet', 'meta/episodes/chunk-000/file-000.parquet'):
        meta = pq.ParquetFile(root / path).metadata
        assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {
            'SNAPPY'}


def test_info_json_has_no_dp_ros_entry_unless_given(tmp_path):
    root, _ = write_numeric(tmp_path / 'ds', (3,))
    assert 'dp_ros' not in json.loads((root / 'meta/info.json').read_text())
    root, _ = write_numeric(tmp_path / 'ds2', (3,), dp_ros={'bags': ['a']})
    assert json.loads((root / 'meta/info.json').read_text())['dp_ros'] == {'bags': ['a']}


@pytest.mark.parametrize('shape', [[H, W, 1], [H, W, 4]])
def test_a_camera_of_other_than_3_channels_is_refused(tmp_path, shape):
    with pytest.raises(LeRobotFormatError, match='3 channels'):
        LeRobotWriter(tmp_path / 'ds', FPS, {'cam': {'dtype': 'video', 'shape': shape}},
                      encoding=VideoEncoding(vcodec='h264'))


@pytest.mark.parametrize('height, width', [(H + 1, W), (H, W + 1)])
def test_a_camera_of_odd_height_or_width_is_refused(tmp_path, height, width):
    """yuv420p halves both sides."""
    with pytest.raises(LeRobotFormatError, match='even height and width'):
        LeRobotWriter(tmp_path / 'ds', FPS, {'cam': video_feature(height, width)},
                      encoding=VideoEncoding(vcodec='h264'))


def test_add_episode_refuses_frames_of_another_size_than_the_cameras(tmp_path):
    with LeRobotWriter(tmp_path / 'ds', FPS, {'cam': video_feature(H, W + 2)},
                       encoding=VideoEncoding(vcodec='h264')) as writer:
        with pytest.raises(LeRobotFormatError, match="video 'cam': expected uint8"):
            writer.add_episode({'cam': frames_of(2)})
        writer.add_episode({'cam': np.zeros((2, H, W + 2, 3), np.uint8)})


def test_timestamp_stats_are_of_the_exact_times_as_lerobots_buffer_holds_them(tmp_path):
    """lerobot takes the timestamps' stats from frame_index / fps in float64, not from the
    float32 column: 0.2 s, not float32(0.2)."""
    root, _ = write_numeric(tmp_path / 'ds', (3,))
    stats = json.loads((root / 'meta/stats.json').read_text())['timestamp']
    assert stats['max'] == [0.2]
    assert abs(stats['mean'][0] - 0.1) < 1e-12


def test_a_writer_is_closed_once_and_not_without_episodes(tmp_path):
    writer = LeRobotWriter(tmp_path / 'ds', FPS, {'s': numeric_feature(state_of(1, 0))})
    writer.add_episode({'s': state_of(3, 0)})
    writer.close()
    with pytest.raises(LeRobotFormatError, match='already closed'):
        writer.close()
    empty = LeRobotWriter(tmp_path / 'empty', FPS, {'s': numeric_feature(state_of(1, 0))})
    with pytest.raises(LeRobotFormatError, match='no episodes'):
        empty.close()
    assert not (tmp_path / 'empty/meta/info.json').exists()


def test_a_video_file_rolls_when_the_next_episode_would_reach_its_size(tmp_path):
    """Files of exactly two 4-frame episodes' bytes (measured from the same frames written
    before): the second episode starts file 1."""
    first = written_video(tmp_path / 'measure', lengths=(4,))
    with av.open(str(first / 'videos/cam/chunk-000/file-000.mp4')) as container:
        size = sum(p.size for p in container.demux(video=0) if p.dts is not None)
    features = {'cam': video_feature(H, W)}
    with LeRobotWriter(tmp_path / 'ds', FPS, features, encoding=VideoEncoding(vcodec='h264'),
                       video_files_size_in_mb=2 * size / 2**20) as writer:
        writer.add_episode({'cam': frames_of(4)})
        writer.add_episode({'cam': frames_of(4)})
    files = sorted(p.name for p in (tmp_path / 'ds/videos/cam/chunk-000').iterdir())
    assert files == ['file-000.mp4', 'file-001.mp4']


def test_an_aborted_writer_closes_its_camera_files(tmp_path):
    """A failure inside the block closes each camera's mp4 (abort): it holds the episodes
    appended so far, and no file is left open."""
    with pytest.raises(RuntimeError):
        with LeRobotWriter(tmp_path / 'ds', FPS, {'cam': video_feature(H, W)},
                           encoding=VideoEncoding(vcodec='h264')) as writer:
            writer.add_episode({'cam': frames_of(4)})
            raise RuntimeError('the caller failed')
    with av.open(str(tmp_path / 'ds/videos/cam/chunk-000/file-000.mp4')) as container:
        assert len([p for p in container.demux(video=0) if p.dts is not None]) == 4


# ---------------------------------------------------------------------------- defects
def test_an_episode_added_after_close_is_refused_by_name(tmp_path):
    writer = LeRobotWriter(tmp_path / 'again', FPS, {'s': numeric_feature(state_of(1, 0))})
    writer.add_episode({'s': state_of(3, 0)})
    writer.close()
    with pytest.raises(LeRobotFormatError, match='is closed: an episode cannot be added'):
        writer.add_episode({'s': state_of(4, 1)})


@pytest.mark.parametrize('feature', [
    {'dtype': 'float32', 'shape': []},
    {'dtype': 'float32', 'shape': [1, 1, 1, 1, 1, 1]},
    {'dtype': 'float32', 'shape': [0]},
    {'dtype': 'video', 'shape': [32, 32]},
], ids=['scalar', '6d', 'empty', 'video-2d'])
def test_a_feature_shape_the_writer_cannot_write_is_refused_when_made(tmp_path, feature):
    match = {0: r"'s' has shape \[\]: .*1 to 5 dimensions \(a scalar is \[1\]\)",
             6: r"'s' has shape \[1, 1, 1, 1, 1, 1\]: .*1 to 5 dimensions",
             1: r"'s' has shape \[0\]: every size must be positive",
             2: r"'s' has shape \[32, 32\]: \[height, width, channels\]"}[
        len(feature['shape'])]
    with pytest.raises(LeRobotFormatError, match=match):
        LeRobotWriter(tmp_path / 'ds', FPS, {'s': feature},
                      encoding=VideoEncoding(vcodec='h264'))
    assert not (tmp_path / 'ds').exists()  # refused before the folder is made


@pytest.mark.parametrize('task', [None, 5])
def test_a_task_that_is_no_string_is_refused_when_added(tmp_path, task):
    with LeRobotWriter(tmp_path / 'ds', FPS, {'s': numeric_feature(state_of(1, 0))}) as writer:
        with pytest.raises(LeRobotFormatError, match=f'episode 0: its task {task!r} is no '
                           'string'):
            writer.add_episode({'s': state_of(3, 0)}, task=task)
        writer.add_episode({'s': state_of(3, 0)}, task='push')


def test_the_writer_refuses_a_crf_outside_the_encoders_range(tmp_path):
    with pytest.raises(LeRobotFormatError, match="crf 70 is outside the h264 encoder's range "
                       r'0\.\.51'):
        with LeRobotWriter(tmp_path / 'ds', FPS, {'cam': video_feature(H, W)},
                           encoding=VideoEncoding(vcodec='h264', crf=70)) as writer:
            writer.add_episode({'cam': frames_of(3)})
