"""bag2zarr on stamps and frames that go wrong in recordings: a stamp left unset (0) among
wall-clock stamps, a stamp far from the others, stamps that restart inside a bag without a
marker (a sim clock reset), a camera that changes resolution. Each gives the right data or a
one-line error naming the bag, never a memory error, a numpy traceback or lost data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from support import MS, nonempty_lines

from dp_ros.bags.reader import UNSET_STAMP_MIN_NS, place_unset_stamps
from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training import bag2zarr
from training.inspect_bags import summarize_bag
from training.replay_buffer import ReplayBuffer
from training.resample import stamp_restarts

WALL = 1_700_000_000 * 10**9  # a wall-clock receive time (2023)
PERIOD = 100 * MS


def run(bags: list[Path], config: Path, output: Path) -> int:
    return bag2zarr.main([*map(str, bags), '-c', str(config), '-o', str(output),
                          '--no-progress'])


def error_line(capsys) -> str:
    lines = nonempty_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith('dp-ros bag2zarr: '), lines
    return lines[0]


def write_config(path: Path, image: dict | None = None, **extra) -> Path:
    """A camera as the reference, a one-joint state; the action the state a period later."""
    raw = {'control_period_s': 0.1, 'reference_topic': '/cam',
           'keys': {'img': {'image': '/cam', **(image or {})},
                    'state': {'joint_state': '/js', 'joints': ['j1']},
                    'action': {'future_of': 'state'}}, **extra}
    path.write_text(yaml.safe_dump(raw))
    return path


def write_bag(path: Path, cam_stamps: list[int], recv: list[int],
              js_stamps: list[int] | None = None, sizes: list[tuple[int, int]] | None = None,
              markers: tuple = (), js_recv: list[int] | None = None) -> None:
    """Frame i (every pixel i % 256) received at recv[i] + 5 ms, stamped cam_stamps[i]; a
    joint state (j1 = i) received 4 ms before it (or at js_recv[i]), stamped js_stamps[i]
    (default: the frame's stamp, or its receive time when that is 0); markers: (receive
    time, Bool)."""
    sizes = sizes or [(4, 4)] * len(cam_stamps)
    js_stamps = js_stamps or [s or r for s, r in zip(cam_stamps, recv, strict=True)]
    js_recv = js_recv or [t + MS for t in recv]
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for i, (stamp, t) in enumerate(zip(cam_stamps, recv, strict=True)):
            rec.write('/js', 'sensor_msgs/msg/JointState', js_recv[i],
                      joint_state_message(ts, ['j1'], np.array([float(i)]), js_stamps[i]))
            rec.write('/cam', 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, np.full((*sizes[i], 3), i % 256, np.uint8), stamp))
        for t, on in markers:
            rec.write('/marker', 'std_msgs/msg/Bool', t, ts.types['std_msgs/msg/Bool'](data=on))


def episodes(output: Path) -> list[dict[str, np.ndarray]]:
    buffer = ReplayBuffer.open(output)
    return [buffer.get_episode(i) for i in range(buffer.n_episodes)]


# --- a stamp left unset ----------------------------------------------------------------------

def test_a_zero_stamp_among_wall_clock_stamps_is_unset_and_placed_by_its_neighbour():
    h = UNSET_STAMP_MIN_NS
    recv = np.array([10, 20, 30, 40, 50]) * MS + WALL
    # the neighbour nearest in receive time lends its offset (stamp - receive time): -3 ms
    stamps = recv - 3 * MS
    stamps[[0, 3]] = 0
    times, n = place_unset_stamps(stamps, recv)
    assert n == 2
    np.testing.assert_array_equal(times, recv - 3 * MS)
    # out of receive order in the list: neighbours are still taken in receive order
    shuffle = np.array([4, 0, 2, 3, 1])
    times, n = place_unset_stamps(stamps[shuffle], recv[shuffle])
    assert n == 2 and (times == (recv - 3 * MS)[shuffle]).all()
    # sim time: a 0 among stamps near 0 is the clock's start, a real time
    sim = np.array([0, 100, 200, 300]) * MS
    assert place_unset_stamps(sim, sim + WALL)[1] == 0
    # one neighbour within the hour of 0 is enough to take it as sim time
    assert place_unset_stamps(np.array([h - 1, 0, h + 10**9]), np.arange(3) + WALL)[1] == 0
    assert place_unset_stamps(np.array([h + 1, 0, h + 10**9]), np.arange(3) + WALL)[1] == 1
    # all zero: not stamped at all, nothing to place (receive times stand in)
    assert place_unset_stamps(np.zeros(3, np.int64), recv[:3])[1] == 0


def test_a_camera_whose_first_stamp_is_unset_converts_as_if_it_were_set(tmp_path, capsys):
    """A driver that leaves its first frame's stamp 0 in a wall-clock bag: that frame sits
    at its receive time on the camera's clock, not in 1970 (where the grid would span 54
    years: a 127 GiB allocation)."""
    recv = [WALL + i * PERIOD for i in range(20)]
    set_stamps = list(recv)
    unset = [0, *recv[1:]]
    config = write_config(tmp_path / 'c.yaml')
    write_bag(tmp_path / 'set', set_stamps, recv)
    write_bag(tmp_path / 'unset', unset, recv, js_stamps=set_stamps)
    assert run([tmp_path / 'set'], config, tmp_path / 'set.zarr') == 0
    capsys.readouterr()
    assert run([tmp_path / 'unset'], config, tmp_path / 'unset.zarr') == 0
    out = capsys.readouterr().out
    assert '/cam: 1 message(s) stamped 0 among wall-clock stamps (unset): placed by receive ' \
           'time' in out
    (want,), (got,) = episodes(tmp_path / 'set.zarr'), episodes(tmp_path / 'unset.zarr')
    assert len(got['img']) == 19  # the last step's future state is past the bag's end
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
    assert got['img'][0, 0, 0, 0] == 0 and got['state'][0, 0] == 0  # frame 0 is there


def test_a_sim_time_stamp_0_stays_a_real_time(tmp_path, capsys):
    """Sim time starts at 0: the camera's first frame stamped 0 is the grid's first step."""
    recv = [WALL + i * PERIOD for i in range(10)]
    stamps = [i * PERIOD for i in range(10)]
    write_bag(tmp_path / 'sim', stamps, recv, js_stamps=stamps)
    assert run([tmp_path / 'sim'], write_config(tmp_path / 'c.yaml'), tmp_path / 'o.zarr') == 0
    assert 'unset' not in capsys.readouterr().out
    (ep,) = episodes(tmp_path / 'o.zarr')
    np.testing.assert_array_equal(ep['state'][:, 0], np.arange(9, dtype=np.float32))


def test_a_stamp_far_from_the_others_is_a_clear_error_not_a_huge_grid(tmp_path, capsys):
    """A clock jump: one frame stamped 2.3 days after the others would make a grid of two
    million steps for 20 frames; the bag is refused, the span and the cause named."""
    recv = [WALL + i * PERIOD for i in range(20)]
    stamps = list(recv)
    stamps[-1] += 200_000 * 10**9
    write_bag(tmp_path / 'jump', stamps, recv, js_stamps=list(recv))
    assert run([tmp_path / 'jump'], write_config(tmp_path / 'c.yaml'), tmp_path / 'o.zarr') == 2
    err = error_line(capsys)
    assert f'bag {tmp_path / "jump"}' in err and 'reference topic /cam' in err
    assert 'span 200002 s' in err and 'for 20 message(s)' in err
    assert 'unset, or a clock jump' in err
    assert not (tmp_path / 'o.zarr').exists()


def test_inspect_names_zero_stamps_among_wall_clock_ones(tmp_path):
    recv = [WALL + i * PERIOD for i in range(10)]
    write_bag(tmp_path / 'unset', [0, *recv[1:]], recv, js_stamps=list(recv))
    topics = {t.topic: t for t in summarize_bag(tmp_path / 'unset').topics}
    (problem,) = topics['/cam'].problems
    assert '1 of 10 header stamps are 0 among wall-clock stamps (the first: message 0)' in problem
    assert not topics['/js'].problems
    assert abs(topics['/cam'].stamp_offset_s + 0.005) < 1e-6  # the placed stamp counts
    # sim time starting at 0 is no problem
    write_bag(tmp_path / 'sim', [i * PERIOD for i in range(10)], recv)
    topics = {t.topic: t for t in summarize_bag(tmp_path / 'sim').topics}
    assert not any('wall-clock' in p for p in topics['/cam'].problems)


# --- a camera that changes size --------------------------------------------------------------

def test_frames_that_change_size_in_a_bag_are_named_with_the_remedy(tmp_path, capsys):
    recv = [WALL + i * PERIOD for i in range(20)]
    write_bag(tmp_path / 'a', list(recv), recv, sizes=[(8, 8)] * 10 + [(6, 10)] * 10)
    assert run([tmp_path / 'a'], write_config(tmp_path / 'c.yaml'), tmp_path / 'o.zarr') == 2
    err = error_line(capsys)
    assert f'bag {tmp_path / "a"}: topic /cam: message 10 is 6x10 px, the first frame 8x8 px ' \
           '(height x width)' in err
    assert "give key 'img' a `shape: [height, width]`" in err
    assert not (tmp_path / 'o.zarr').exists()
    # the remedy: every frame resized to the shape
    config = write_config(tmp_path / 'c2.yaml', {'shape': [8, 8]})
    assert run([tmp_path / 'a'], config, tmp_path / 'o.zarr') == 0
    assert ReplayBuffer.open(tmp_path / 'o.zarr').data['img'].shape == (19, 8, 8, 3)


def test_frames_that_change_size_between_episodes_of_a_bag_are_named(tmp_path, capsys):
    """Each episode alike inside, the second at another resolution than the first."""
    recv = [WALL + i * PERIOD for i in range(20)]
    markers = ((WALL - MS, True), (WALL + 950 * MS, False), (WALL + 960 * MS, True),
               (WALL + 2100 * MS, False))
    write_bag(tmp_path / 'a', list(recv), recv, sizes=[(8, 8)] * 10 + [(6, 10)] * 10,
              markers=markers)
    config = write_config(tmp_path / 'c.yaml', episodes={'marker': '/marker'})
    assert run([tmp_path / 'a'], config, tmp_path / 'o.zarr') == 2
    assert 'topic /cam: message 10 is 6x10 px, the first frame 8x8 px' in error_line(capsys)


# --- stamps that restart without a marker ----------------------------------------------------

def test_stamp_restarts_are_confirmed_and_placed_between_the_runs():
    margin = PERIOD // 2
    recv = WALL + np.arange(40) * PERIOD
    run = np.arange(1, 21) * PERIOD
    stamps = np.concatenate([run, run])
    (cut,) = stamp_restarts(recv, stamps, margin)
    assert cut == recv[19] + PERIOD // 2  # half way between the runs' receive times
    # the same in a shuffled list: receive order counts
    shuffle = np.random.default_rng(0).permutation(40)
    np.testing.assert_array_equal(stamp_restarts(recv[shuffle], stamps[shuffle], margin), [cut])
    # stamps that never go back, or go back once (one message late), restart nothing
    assert len(stamp_restarts(recv, np.arange(40) * PERIOD, margin)) == 0
    late = np.arange(40) * PERIOD
    late[[10, 11]] = late[[11, 10]]
    assert len(stamp_restarts(recv, late, margin)) == 0
    # a late frame of the first run received after the second began starts no third
    stamps_late = stamps.copy()
    stamps_late[[19, 21]] = stamps[[21, 19]]
    assert len(stamp_restarts(recv, stamps_late, margin)) == 1
    # a run of a single message is a run
    assert len(stamp_restarts(recv[:7], np.array([5, 1, 2, 3, 1, 2, 3]) * PERIOD, margin)) == 2


def test_a_sim_clock_reset_without_a_marker_splits_the_bag_and_keeps_both_runs(tmp_path,
                                                                             capsys):
    """Two runs recorded back to back, the sim clock back at 0.1 s for the second: sorted by
    stamp they overlapped and the second overwrote the first (20 steps out of 40 frames)."""
    recv = [WALL + i * PERIOD for i in range(40)]
    stamps = [(i % 20 + 1) * PERIOD for i in range(40)]
    write_bag(tmp_path / 'reset', stamps, recv, js_stamps=stamps)
    config = write_config(tmp_path / 'c.yaml')
    assert run([tmp_path / 'reset'], config, tmp_path / 'o.zarr') == 0
    assert '/cam stamps go backwards at 1 point(s): episodes split there by receive time' \
        in capsys.readouterr().out
    first, second = episodes(tmp_path / 'o.zarr')
    # each run's frames with its own states; the last step of each has no future state
    np.testing.assert_array_equal(first['state'][:, 0], np.arange(19, dtype=np.float32))
    np.testing.assert_array_equal(second['state'][:, 0], np.arange(20, 39, dtype=np.float32))
    np.testing.assert_array_equal(first['img'][:, 0, 0, 0], np.arange(19))
    np.testing.assert_array_equal(second['img'][:, 0, 0, 0], np.arange(20, 39))
    np.testing.assert_array_equal(second['action'][:, 0], np.arange(21, 40, dtype=np.float32))


def test_a_late_message_of_another_stream_stays_with_its_run_across_a_clock_reset(tmp_path,
                                                                                 capsys):
    """The last joint state of the first run (20 steps) received late, 45 ms past the point
    where the camera's stamps restart (but before the next joint state): split by receive
    time at the camera's restart it moved to the second run (30 steps, so its old stamp lies
    inside the new run's), where sorted by stamp it was sampled as the second run's state at
    step 19 (and the first run lost its last state). Each stream is split where its own stamps
    restart: the message stays with its run. The joint states are stamped 3 ms before their
    frame; the first run's clock 2 ms ahead of the second's."""
    recv = [WALL + i * PERIOD for i in range(50)]
    cam = [(i + 1) * PERIOD + 2 * MS for i in range(20)] + [(i + 1) * PERIOD for i in range(30)]
    js = [s - 3 * MS for s in cam]
    js_recv = [t + MS for t in recv]
    js_recv[19] = recv[20]  # the camera's restart is cut half way: at recv[19] + 55 ms
    write_bag(tmp_path / 'reset', cam, recv, js_stamps=js, js_recv=js_recv)
    assert run([tmp_path / 'reset'], write_config(tmp_path / 'c.yaml'), tmp_path / 'o.zarr') == 0
    out = capsys.readouterr().out
    first, second = episodes(tmp_path / 'o.zarr')
    np.testing.assert_array_equal(second['state'][:, 0], np.arange(20, 49, dtype=np.float32))
    np.testing.assert_array_equal(second['action'][:, 0], np.arange(21, 50, dtype=np.float32))
    np.testing.assert_array_equal(second['img'][:, 0, 0, 0], np.arange(20, 49))
    np.testing.assert_array_equal(first['state'][:, 0], np.arange(19, dtype=np.float32))
    np.testing.assert_array_equal(first['action'][:, 0], np.arange(1, 20, dtype=np.float32))
    assert '/cam stamps go backwards at 1 point(s)' in out and 'note: /js' not in out


def test_a_stream_whose_stamps_restart_elsewhere_is_split_at_the_references_restarts(tmp_path,
                                                                                   capsys):
    """The joint states' stamps restart once more than the camera's (half way through the
    second run): no run of theirs to match to each episode, so they are split where the
    camera's stamps restart, by receive time, as before, and the report says so."""
    recv = [WALL + i * PERIOD for i in range(40)]
    cam = [(i % 20 + 1) * PERIOD for i in range(40)]
    js = cam[:30] + [(k + 1) * PERIOD for k in range(10)]
    write_bag(tmp_path / 'reset', cam, recv, js_stamps=js)
    assert run([tmp_path / 'reset'], write_config(tmp_path / 'c.yaml'), tmp_path / 'o.zarr') == 0
    assert 'note: /js stamps restart at 2 point(s), not where the /cam stamps do: split at ' \
           'those of /cam, by receive time' in capsys.readouterr().out
    first, _ = episodes(tmp_path / 'o.zarr')
    np.testing.assert_array_equal(first['state'][:, 0], np.arange(19, dtype=np.float32))
