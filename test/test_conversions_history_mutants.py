"""dp_ros/ros/conversions.py, dp_ros/runtime/observation_history.py and
dp_ros/runtime/camera_frames.py where a mutation review found changes no other test noticed:
a 16UC1 depth value above 32767, the length a refused packed image was expected to have, a
compressedDepth format named as such, a source encoding written with spaces, an empty
compressed frame said as empty, the field a non-finite joint value was read from; the
reference time the history stops calling covered once the sample covering it is dropped or
an episode starts, the sample the times before an episode take with three observation
steps, the age a gap refusal gives; a decode giving no image, a decoded frame released, and
the frames FrameBook keeps exactly where the history keeps their samples (keep_ns,
max_samples, an episode start).

Real message classes and arrays throughout; no ROS process is started.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image, JointState
from support import MS

from dp_ros.ros import conversions as cv
from dp_ros.runtime.camera_frames import CameraFrame, FrameBook
from dp_ros.runtime.input_checks import BadInput
from dp_ros.runtime.observation_history import ObservationHistory, Refusal

DT = 100 * MS


# ---------------------------------------------------------------------------- images
@pytest.mark.parametrize('order', ['<', '>'])
def test_a_16uc1_depth_above_32767_reads_unsigned(order):
    """A depth camera's 16UC1 millimetres past 32.767 m (and its 65535 'no return') are
    unsigned: read as int16 they would come out negative."""
    depth = np.array([[40000, 65535, 1]], dtype=np.dtype(np.uint16).newbyteorder(order))
    msg = Image(height=1, width=3, encoding='16UC1', is_bigendian=order == '>', step=6,
                data=depth.tobytes())
    back = cv.image_to_numpy(msg)
    assert back.dtype == np.uint16 and back.dtype.isnative
    assert back.tolist() == [[40000, 65535, 1]]


@pytest.mark.parametrize('msg, expected', [
    (Image(height=2, width=3, encoding='mono8', step=3, data=bytes(5)),
     'image data has 5 bytes, expected step*height = 3*2 = 6 (mono8 3x2)'),
    (Image(height=2, width=4, encoding='nv12', step=4, data=bytes(8)),
     'image data has 8 bytes, expected step*height*3/2 = 4*2*3/2 = 12 (nv12 4x2)'),
])
def test_a_buffer_of_the_wrong_length_names_the_length_expected(msg, expected):
    """The refusal of a raw frame says the length its layout needs: step*height for a packed
    image, step*height*3/2 only for a 4:2:0 one (whose chroma rows follow), so a driver's
    author can tell which rows are missing."""
    with pytest.raises(BadInput) as info:
        cv.check_camera_message(msg)
    assert info.value.kind == 'image_size' and str(info.value) == expected


def test_a_compressed_depth_format_is_named_a_depth_image():
    """compressed_depth_image_transport's format ('16UC1; compressedDepth png') is refused as
    a depth image by name, not as some other sensor's pixels."""
    problem = cv.compressed_camera_problem('16UC1; compressedDepth png')
    assert problem == ("format '16UC1; compressedDepth png' is a depth image "
                       "(compressedDepth), not a camera's")


def test_a_source_encoding_written_with_spaces_is_still_a_camera():
    """The source encoding before ';' is compared without the spaces around it: ' bgr8 ;
    jpeg compressed bgr8' is a colour camera's, not a refused stream."""
    assert cv.compressed_camera_problem(' bgr8 ; jpeg compressed bgr8') is None
    assert cv.compressed_camera_problem(' 16UC1 ; png compressed') is not None


def test_an_empty_compressed_frame_is_said_to_have_no_data():
    """An empty CompressedImage (a publisher's bug) is said to be empty, not to be 'no JPEG,
    PNG or TIFF' (which reads as a format problem)."""
    with pytest.raises(BadInput) as info:
        cv.check_camera_message(CompressedImage(format='jpeg', data=b''))
    assert info.value.kind == 'image_decode'
    assert str(info.value) == "compressed image (format 'jpeg') has no data"


# ---------------------------------------------------------------------------- joint states
@pytest.mark.parametrize('field, what', [('velocity', 'velocity'),
                                         (['position', 'velocity'], 'position/velocity')])
def test_a_non_finite_joint_value_names_the_field_it_was_read_from(field, what):
    """A NaN in the field the state reads is 'non_finite' naming that field (velocity; the
    fields of a per-joint list): a NaN velocity said as a bad position misleads."""
    msg = JointState(name=['a', 'b'], position=[0.1, 0.2], velocity=[0.5, float('nan')])
    with pytest.raises(BadInput) as info:
        cv.joint_state_inputs(msg, ['a', 'b'], field, [])
    assert info.value.kind == 'non_finite'
    assert str(info.value).startswith(f"joint state {what} for ['a', 'b'] [")


# ---------------------------------------------------------------------------- history
def reference_history(n_obs: int = 1, keep_ns: int | None = None) -> ObservationHistory:
    """'ref' (the reference stream) and 'other', 100 ms steps, 300 ms tolerance."""
    return ObservationHistory(['ref', 'other'], n_obs, DT, 300 * MS, keep_ns=keep_ns,
                              reference='ref')


def test_a_covered_reference_time_is_forgotten_when_its_covering_sample_is_dropped():
    """t_last stays a time the other streams still cover: once the sample that covered it
    (older than it, within the tolerance) is dropped, it is no t_last; kept, the assembly
    would ask for a time no stream has a sample for and say 'not_full' instead of 'gap'."""
    h = reference_history(keep_ns=300 * MS)
    h.add('ref', 1000 * MS, 'r1000')
    h.add('other', 900 * MS, 'o900')
    assert h.t_last() == 1000 * MS  # other's 900 ms covers it, 100 ms older
    h.add('other', 1050 * MS, 'o1050')
    h.add('other', 1250 * MS, 'o1250')  # keeps 300 ms and 900, the one before its edge
    assert h.size('other') == 3 and h.t_last() == 1000 * MS
    h.add('other', 1400 * MS, 'o1400')  # 1050 is the one before the edge: 900 is dropped
    assert h.size('other') == 3
    assert h.t_last() is None
    refusal = h.assemble(now_ns=1400 * MS)
    assert isinstance(refusal, Refusal) and refusal.kind == 'gap'


def test_an_episode_start_forgets_the_covered_reference_time():
    """After start_episode the old episode's t_last is no t_last: kept, the new episode's
    first plan was made on the old one's time, its steps all padded from the new samples."""
    h = reference_history(n_obs=2)
    for t in (0, 100, 200):
        h.add('ref', t * MS, f'r{t}')
        h.add('other', t * MS, f'o{t}')
    assert h.t_last() == 200 * MS
    h.start_episode(300 * MS)
    h.add('ref', 300 * MS, 'r300')
    h.add('other', 400 * MS, 'o400')  # nothing of 'other' at or before 300 ms
    assert h.t_last() is None
    refusal = h.assemble(now_ns=400 * MS)
    assert isinstance(refusal, Refusal) and refusal.kind == 'gap'


def test_times_before_the_episode_take_the_first_covered_times_sample():
    """With three steps and one time before the episode start, that time is padded with the
    sample of the first time that has one (training's step 0), not with the newest step's."""
    h = ObservationHistory(['image', 'agent_pos'], 3, DT, 300 * MS)
    h.start_episode(1000 * MS)
    for t in (1000, 1100):
        h.add('image', t * MS, f'img{t}')
        h.add('agent_pos', t * MS, f'pos{t}')
    obs = h.assemble(now_ns=1100 * MS)
    assert obs.times_ns == [900 * MS, 1000 * MS, 1100 * MS]
    assert obs.values == {'image': ['img1000', 'img1000', 'img1100'],
                          'agent_pos': ['pos1000', 'pos1000', 'pos1100']}
    assert obs.stamps_ns['image'] == [1000 * MS, 1000 * MS, 1100 * MS]


def test_a_gap_refusal_gives_the_age_of_the_newest_sample_at_or_before_the_time():
    """'N ms older than that' is the newest sample at or before the time (95 ms for 280 ms:
    185 ms), not the stream's oldest: the number an operator tunes the tolerance by."""
    h = ObservationHistory(['image', 'agent_pos'], 2, DT, 500 * MS,
                           gap_ns={'image': 40 * MS})
    for t in (0, 30, 60, 95, 350, 380):
        h.add('image', t * MS, t)
    for t in range(0, 400, 10):
        h.add('agent_pos', t * MS, t)
    refusal = h.assemble(now_ns=380 * MS)
    assert refusal.kind == 'gap'
    assert re.match(r'image: newest sample at or before 280000000 ns is 185\.0 ms older than '
                    r'that \(limit 40\.0 ms', refusal.message), refusal.message


# ---------------------------------------------------------------------------- camera frames
def test_a_decode_giving_no_image_is_image_decode_every_time():
    """A decode function returning None is the frame's BadInput('image_decode') on every
    call, not a None image handed to the policy."""
    frame = CameraFrame(lambda: None)
    for _ in range(2):
        with pytest.raises(BadInput) as info:
            frame.image()
        assert info.value.kind == 'image_decode' and str(info.value) == 'decoding gave no image'


def test_a_decoded_frame_released_keeps_its_image():
    """release() drops only an undecoded message: a frame already decoded keeps its image and
    is not 'released' (asked for later it is no bug to report)."""
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    frame = CameraFrame(lambda: image)
    assert frame.image() is image
    frame.release()
    assert not frame.released and frame.decoded
    assert frame.image() is image


def filed(book: FrameBook, history: ObservationHistory, stream: str,
          stamps_ms: list[int]) -> dict[int, CameraFrame]:
    """Frames filed in the history and the book at `stamps_ms`, as the planning loop files
    them (the book only those the history took)."""
    frames = {}
    for t in stamps_ms:
        frames[t] = CameraFrame(lambda: np.zeros((1, 1, 3), np.uint8))
        assert history.add(stream, t * MS, frames[t])
        book.filed(stream, t * MS, frames[t])
    return frames


def test_a_frame_exactly_keep_ns_behind_its_streams_newest_is_kept():
    """The history keeps a sample stamped exactly keep_ns before its stream's newest (it may
    still be the one at or before the oldest time, max_age older): so does the book, else a
    released frame is handed out (the BAD_FRAME 'bug' wait)."""
    h = ObservationHistory(['cam'], 1, DT, 500 * MS, keep_ns=500 * MS)
    book = FrameBook()
    frames = filed(book, h, 'cam', [0, 500])
    book.release_before(0, h.oldest_stamp)
    assert h.size('cam') == 2
    assert not frames[0].released and not frames[500].released


def test_a_stream_of_exactly_max_samples_frames_keeps_them_all():
    """The history drops samples beyond max_samples, not at it: the book keeps max_samples
    frames too."""
    h = ObservationHistory(['cam'], 1, DT, 100 * MS, max_samples=3)
    book = FrameBook()
    frames = filed(book, h, 'cam', [0, 1, 2])
    book.release_before(-1, h.oldest_stamp)
    assert h.size('cam') == 3
    assert [f.released for f in frames.values()] == [False, False, False]


def test_a_camera_over_max_samples_keeps_the_frames_an_observation_needs():
    """Beyond max_samples the history drops only samples older than the span an observation
    needs (a camera faster than max_samples over that span keeps them all): the book keeps
    their frames too. It capped at max_samples whatever their age, so the observation was
    handed a released frame (the BAD_FRAME 'bug' wait)."""
    h = ObservationHistory(['cam'], 2, DT, 100 * MS, max_samples=3)  # needs 200 ms
    book = FrameBook()
    frames = filed(book, h, 'cam', [0, 50, 100, 150, 200])
    book.release_before(0, h.oldest_stamp)
    assert h.size('cam') == 5
    assert not any(f.released for f in frames.values())
    frames.update(filed(book, h, 'cam', [250, 300, 350]))  # 0..100 now beyond 200 ms
    book.release_before(0, h.oldest_stamp)
    assert h.oldest_stamp('cam') == 100 * MS  # the one at or before the 150 ms edge
    assert [t for t, f in frames.items() if f.released] == [0, 50]


def test_an_episode_starts_first_frame_stamped_at_the_start_is_kept():
    """An episode cut at its start keeps the frame stamped exactly then (a lockstep sim's
    first observation), as the history keeps its sample; older ones go, uncounted."""
    h = ObservationHistory(['cam'], 1, DT, 100 * MS)
    book = FrameBook()
    frames = filed(book, h, 'cam', [900, 1000])
    h.start_episode(1000 * MS)
    book.clear(1000 * MS)
    assert h.size('cam') == 1
    assert frames[900].released and not frames[1000].released
    assert book.superseded == 0
