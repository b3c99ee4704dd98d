"""Behaviour of six modules that their other tests left unpinned (a mutation review of
dp_ros/policy/noise_schedule.py, dp_ros/policy/step_arithmetic.py,
dp_ros/policy/color_jitter.py, dp_ros/runtime/twist_servo.py, dp_ros/runtime/alignment.py and
dp_ros/runtime/observation_log.py): an unknown beta schedule is refused naming the known ones,
NoiseSchedule.of follows the config's clip_sample; brightness above 1 draws over [0, 1 + s], a
window of 0 frames is a ValueError, saturation blends each pixel with its own grey, hue turns
both ways, and the factors come from a CPU generator for CUDA images (CUDA only);
twist_toward_plan's seam between two plans (shorter than min_span_ns: the next segment's
velocity; exactly that long: its own; the last segment: none; by default no seam at all); the 1
us same-instant allowance at its bound, the jitter allowance at its bound, off by default and no
stand-in after a stale last sample, a 2-D list of times keeping its shape, the allowance rounded
down; the observation log's folders made at any depth, the node's log rotating at its own
max_bytes, a small 2-D sample logged in its shape, a whole last record without its newline kept.

Each test kills a mutant the modules' other tests let live; the whole file runs in seconds. The
defect it found, mended: read_observation_log's error for a bad record before the last was a
bare JSONDecodeError naming neither the file nor the line (its "line 1" was the record's).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from support import tiny_pusht_config

from dp_ros.policy.color_jitter import RGB_TO_YIQ, color_jitter
from dp_ros.policy.noise_schedule import NoiseSchedule, betas
from dp_ros.runtime.alignment import index_at_or_before, jitter_allowance_ns, sample_at_or_before
from dp_ros.runtime.observation_history import Observation
from dp_ros.runtime.observation_log import (
    ObservationLog,
    append_observation,
    observation_record,
    read_observation_log,
    rotated_path,
)
from dp_ros.runtime.twist_servo import TwistLimits, twist_toward_plan

MS = 1_000_000
YAW_POSE = ('x', 'y', 'z', 'yaw')
FREE = TwistLimits(gain=5.0, max_linear=1000.0, max_angular=1000.0)  # no clamping


# --- dp_ros/policy/noise_schedule.py ---------------------------------------------------------

def test_an_unknown_beta_schedule_is_refused_naming_the_known_ones():
    """The error lists the schedules there are, not the bad name twice."""
    with pytest.raises(ValueError, match=r"beta_schedule 'cosine' is not one of "
                                         r"\('linear', 'scaled_linear', 'squaredcos_cap_v2'\)"):
        betas('cosine', 100)


@pytest.mark.parametrize('clip_sample,clip_range', [(True, 1.0), (False, None)])
def test_the_schedule_of_a_config_follows_its_clip_sample(clip_sample: bool,
                                                          clip_range: float | None):
    """NoiseSchedule.of takes the config's clip_sample, its prediction type and its K."""
    config = tiny_pusht_config(clip_sample=clip_sample)
    schedule = NoiseSchedule.of(config)
    assert schedule.clip_range == clip_range
    assert schedule.prediction_type == config.prediction_type
    assert schedule.num_train_timesteps == config.num_train_timesteps


# --- dp_ros/policy/color_jitter.py ----------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_images_jitter_from_a_cpu_generator_as_cpu_images_do():
    """The factors are drawn on the generator's device (the CPU), then moved to the images'."""
    images = torch.linspace(-1, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    strengths = (0.3, 0.3, 0.2, 0.05)
    on_cpu = color_jitter(images, strengths, torch.Generator().manual_seed(3))
    on_cuda = color_jitter(images.cuda(), strengths, torch.Generator().manual_seed(3))
    torch.testing.assert_close(on_cuda.cpu(), on_cpu, atol=1e-5, rtol=1e-5)


def test_a_window_of_zero_frames_is_a_value_error():
    """window 0 is refused with the windows named, not a ZeroDivisionError."""
    with pytest.raises(ValueError, match='do not split into windows of 0 frames'):
        color_jitter(torch.zeros(2, 3, 2, 2), (0.1, 0.0, 0.0, 0.0), window=0)


def test_saturation_blends_each_pixel_with_its_grey_by_the_drawn_factor():
    """x -> grey + f (x - grey), f = 1 + s (2u - 1) from the generator's first draws."""
    rgb = torch.tensor([0.6, 0.4, 0.3])
    images = (rgb * 2.0 - 1.0).view(1, 3, 1, 1).repeat(4, 1, 1, 1)
    out = color_jitter(images, (0.0, 0.0, 0.5, 0.0), torch.Generator().manual_seed(5))
    factors = 1.0 + 0.5 * (2.0 * torch.rand(4, generator=torch.Generator().manual_seed(5)) - 1.0)
    grey = float((rgb * torch.tensor([0.299, 0.587, 0.114])).sum())
    want = grey + factors.view(4, 1) * (rgb - grey).view(1, 3)
    torch.testing.assert_close((out[:, :, 0, 0] + 1.0) / 2.0, want, atol=1e-5, rtol=1e-5)


def test_hue_turns_both_ways_round_the_colour_wheel():
    """Turns are drawn from [-h, h]: a pale colour's chroma angle (YIQ) moves both ways."""
    rgb = torch.tensor([0.55, 0.5, 0.45], dtype=torch.float64)
    images = (rgb * 2.0 - 1.0).view(1, 3, 1, 1).repeat(400, 1, 1, 1)
    out = color_jitter(images, (0.0, 0.0, 0.0, 0.25), torch.Generator().manual_seed(0))
    iq = torch.tensor(RGB_TO_YIQ[1:], dtype=torch.float64)

    def angle(x: torch.Tensor) -> torch.Tensor:
        chroma = x @ iq.T
        return torch.atan2(chroma[..., 1], chroma[..., 0])

    turns = torch.remainder(angle((out[:, :, 0, 0] + 1.0) / 2.0) - angle(rgb) + math.pi,
                            2 * math.pi) - math.pi
    turns = turns / (2 * math.pi)
    assert float(turns.abs().max()) <= 0.25 + 1e-6
    assert float(turns.min()) < -0.2 and float(turns.max()) > 0.2


def test_brightness_above_one_reaches_one_plus_its_strength():
    """A strength of 1.5 draws factors over [0, 2.5] (torchvision's range), not [0, 1.5]:
    a dark image (0.05 of full scale) shows each factor unclamped."""
    images = torch.full((2000, 3, 1, 1), -0.9)
    out = color_jitter(images, (1.5, 0.0, 0.0, 0.0), torch.Generator().manual_seed(0))
    factors = ((out[:, 0, 0, 0] + 1.0) / 2.0 / 0.05).double()
    assert float(factors.min()) >= 0.0 and float(factors.max()) <= 2.5 + 1e-4
    assert float(factors.max()) > 2.4 and float((factors > 1.5).double().mean()) > 0.3
    assert float(factors.min()) < 0.05  # down to black: no floor under the range


# --- dp_ros/runtime/twist_servo.py -----------------------------------------------------------

def along_x(*xs: float) -> np.ndarray:
    """A plan of yaw poses at x = xs (y 0, z 0.2, yaw 0)."""
    return np.array([[x, 0.0, 0.2, 0.0] for x in xs])


def linear_on_the_plan(due_ms: list[int], xs: tuple[float, ...], t_ms: float,
                       min_span_ms: int | None) -> np.ndarray:
    """The linear twist of an arm exactly on the plan's pose at t: the feedforward alone
    (min_span_ms None: twist_toward_plan's default)."""
    due = np.array(due_ms, dtype=np.int64) * MS
    plan = along_x(*xs)
    t_ns = int(t_ms * MS)
    i = int(np.searchsorted(due, t_ns, side='right')) - 1
    share = (t_ns - int(due[i])) / (int(due[i + 1]) - int(due[i]))
    measured = plan[i] + share * (plan[i + 1] - plan[i])
    seam = {} if min_span_ms is None else {'min_span_ns': min_span_ms * MS}
    linear, angular = twist_toward_plan(due, plan, YAW_POSE, t_ns, measured, FREE, **seam)
    np.testing.assert_allclose(angular, 0.0, atol=1e-12)
    return linear


def test_a_seam_shorter_than_min_span_takes_the_next_segments_velocity():
    """The old plan ends at 0.1 m at 100 ms, the new one starts at 0.2 m 1 ms later and goes
    on at 1 m/s: inside the seam the feedforward is the new plan's 1 m/s, not 100 m/s."""
    linear = linear_on_the_plan([0, 100, 101, 201], (0.0, 0.1, 0.2, 0.3), 100.5, 50)
    np.testing.assert_allclose(linear, [1.0, 0.0, 0.0], atol=1e-9)


def test_a_segment_exactly_min_span_long_keeps_its_own_velocity():
    """'shorter than min_span_ns': a segment of exactly a control period is the plan's own."""
    linear = linear_on_the_plan([0, 100, 200], (0.0, 0.1, 0.5), 50, 100)
    np.testing.assert_allclose(linear, [1.0, 0.0, 0.0], atol=1e-9)


def test_by_default_a_short_segment_is_no_seam():
    """min_span_ns defaults to 0: a 1 ms segment's own velocity (100 m/s) is the feedforward."""
    linear = linear_on_the_plan([0, 100, 101, 201], (0.0, 0.1, 0.2, 0.3), 100.5, None)
    np.testing.assert_allclose(linear, [100.0, 0.0, 0.0], rtol=1e-9)


def test_a_seam_that_is_the_last_segment_has_no_feedforward():
    """A seam with no segment after it: no velocity at all (the plan ends there)."""
    linear = linear_on_the_plan([0, 100, 101], (0.0, 0.1, 0.2), 100.5, 50)
    np.testing.assert_allclose(linear, [0.0, 0.0, 0.0], atol=1e-9)


# --- dp_ros/runtime/alignment.py -------------------------------------------------------------

@pytest.mark.parametrize('as_list', [False, True])
def test_a_stamp_exactly_one_microsecond_after_is_at_the_time_and_one_ns_more_is_not(
        as_list: bool):
    """SAME_INSTANT_NS is 1 us, inclusive: t + 1000 ns stands for t, t + 1001 ns does not."""
    for late_by, want in ((1000, 1), (1001, 0)):
        stamps = [0, 10 * MS + late_by]
        stamps = stamps if as_list else np.array(stamps, dtype=np.int64)
        assert index_at_or_before(stamps, [10 * MS]).tolist() == [want], late_by


@pytest.mark.parametrize('as_list', [False, True])
def test_a_sample_stamped_exactly_late_ns_after_stands_in(as_list: bool):
    """'stamped at most late_ns after it': the bound is inclusive; one ns more is a gap."""
    stamps = [0, 100 * MS]
    stamps = stamps if as_list else np.array(stamps, dtype=np.int64)
    index, valid = sample_at_or_before(stamps, [50 * MS, 50 * MS - 1], 10 * MS,
                                       late_ns=50 * MS)
    assert index.tolist() == [1, 0] and valid.tolist() == [True, False]


def test_without_an_allowance_a_sample_after_the_time_never_stands_in():
    """late_ns defaults to 0: a frame 2 ms late is a gap, whatever the period."""
    index, valid = sample_at_or_before(np.array([0, 102 * MS]), [100 * MS], 10 * MS)
    assert index.tolist() == [0] and valid.tolist() == [False]


@pytest.mark.parametrize('as_list', [False, True])
def test_a_time_after_a_stale_last_sample_is_a_gap_with_an_allowance(as_list: bool):
    """No sample after the time: the stale last one is no stand-in (and no IndexError)."""
    stamps = [0, 100 * MS]
    stamps = stamps if as_list else np.array(stamps, dtype=np.int64)
    index, valid = sample_at_or_before(stamps, [500 * MS, 105 * MS], 10 * MS, late_ns=50 * MS)
    assert index.tolist() == [0, 1] and valid.tolist() == [False, True]


def test_a_2d_list_of_stamps_keeps_the_times_shape():
    """A list (the node's ring buffer) answers in the times' shape, as an array does."""
    times = np.array([[0, 10 * MS], [5 * MS, 20 * MS]])
    from_list = index_at_or_before([0, 10 * MS], times)
    assert from_list.shape == (2, 2)
    assert from_list.tolist() == index_at_or_before(np.array([0, 10 * MS]), times).tolist()
    assert from_list.tolist() == [[0, 1], [0, 1]]


def test_the_jitter_allowance_is_a_tenth_of_the_period_rounded_down():
    """Integer nanoseconds, rounded down: 19 ns gives 1, 10 Hz gives 10 ms."""
    assert jitter_allowance_ns(19) == 1
    assert jitter_allowance_ns(100 * MS) == 10 * MS


# --- dp_ros/runtime/observation_log.py -------------------------------------------------------

def one_sample_observation(t_ns: int) -> Observation:
    return Observation(t_ns=t_ns, times_ns=[t_ns], values={'s': [np.array([1.0, 2.0])]},
                       stamps_ns={'s': [t_ns - 1]})


def test_the_log_creates_its_missing_folders_at_any_depth(tmp_path: Path):
    """observation_log_path in folders that do not exist yet, two levels deep."""
    path = tmp_path / 'a' / 'b' / 'obs.jsonl'
    append_observation(path, one_sample_observation(7))
    assert [r['t_obs_ns'] for r in read_observation_log(path)] == [7]


def test_the_nodes_log_rotates_at_its_own_max_bytes(tmp_path: Path):
    """ObservationLog passes its max_bytes on: a 1-byte limit rotates at the second append."""
    path = tmp_path / 'obs.jsonl'
    log = ObservationLog(path, max_bytes=1)
    assert log.append(one_sample_observation(1)) is None
    assert log.append(one_sample_observation(2)) is None
    assert [r['t_obs_ns'] for r in read_observation_log(rotated_path(path))] == [1]
    assert [r['t_obs_ns'] for r in read_observation_log(path)] == [2]


def test_a_small_2d_sample_is_logged_with_its_shape():
    """Values up to MAX_LOGGED_VALUES are logged as nested lists of the sample's shape."""
    sample = np.arange(6, dtype=np.int32).reshape(2, 3)
    obs = Observation(t_ns=5, times_ns=[5], values={'s': [sample]}, stamps_ns={'s': [4]})
    record = observation_record(obs)['streams']['s']
    assert record['values'] == [[[0, 1, 2], [3, 4, 5]]] and record['shape'] == [2, 3]


def test_a_last_record_without_its_newline_that_is_whole_is_kept(tmp_path: Path):
    """Only a cut-off record is left out: a whole one missing its newline still reads."""
    path = tmp_path / 'obs.jsonl'
    path.write_text('{"t_obs_ns": 1}\n{"t_obs_ns": 2}')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert [r['t_obs_ns'] for r in read_observation_log(path)] == [1, 2]


def test_a_bad_record_before_the_last_is_an_error_naming_the_file_and_line(tmp_path: Path):
    """A hand-edited log with a broken third record: the error says which file and line."""
    path = tmp_path / 'obs.jsonl'
    path.write_text('{"t_obs_ns": 1}\n{"t_obs_ns": 2}\n{"t_obs_ns": 3, "tim\n{"t_obs_ns": 4}\n')
    with pytest.raises(ValueError, match=r'obs\.jsonl: line 3 is no JSON record \(Unterminated '
                       r'string starting at: column 17\)'):
        read_observation_log(path)
