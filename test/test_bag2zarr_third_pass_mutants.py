"""Behaviour of training/bag2zarr.py that a third mutation review found unpinned by its other
tests: an append of sim-time bags to a store whose sources were removed by hand (its clock
unknown) notes no change of clock and keeps no sources; bags of one cropped camera at two
frame sizes, converted in one run, are refused before anything is written; two recordings
that differ only within the last MiB of their file (not its last half MiB) are two; an
append at a smaller action offset than the store's is refused, as a larger one is; and an
append whose key's joints moved to other topics forgets the key's sources.

The review found one defect, mended with these tests: an append whose key has another number
of sources than the store recorded (j2 moved from /js2 onto /js) skipped the offset and
alignment checks (paired source by source), so one array silently held episodes sampled at
two action offsets or by two alignment rules; they are paired by value column now.

Configs are parsed with config_from_dict; bags are small real mcap bags written with the
project's BagRecorder (the helpers of bag_support, test_bag2zarr_edges,
test_bag2zarr_append_checks and test_bag_sim_time), converted into real zarr stores.
"""
from __future__ import annotations

import numpy as np
import pytest
import zarr
from bag_support import CAMERA, CAMERA_JOINTS_CONFIG, JOINT_STATES, T0
from support import MS
from test_bag2zarr_append_checks import _bag as checks_bag
from test_bag2zarr_append_checks import _bag2zarr as run_checks_bag2zarr
from test_bag2zarr_append_checks import _config as checks_config
from test_bag2zarr_edges import camera_config, write_camera_bag
from test_bag2zarr_second_pass_mutants import convert
from test_bag_sim_time import CONFIG as SIM_CONFIG
from test_bag_sim_time import _bag as sim_or_wall_bag

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training.bag_episodes import BagError
from training.replay_buffer import ReplayBuffer


def test_an_append_to_a_store_without_sources_notes_no_change_of_clock(tmp_path):
    """A store of wall-clock episodes whose sources were removed by hand records no clock:
    sim-time bags appended to it get no note that the store's episodes were on a wall
    clock (unknown, not contradicted), and the store still records no sources."""
    out = tmp_path / 'out.zarr'
    sim_or_wall_bag(tmp_path / 'wall', T0, clock=False)
    sim_or_wall_bag(tmp_path / 'sim', 5_000 * MS, clock=False)
    convert([tmp_path / 'wall'], SIM_CONFIG, out)
    group = zarr.open_group(str(out), mode='r+')
    for key in ('img', 'state'):
        del group['data'][key].attrs['sources']
    summary = convert([tmp_path / 'sim'], SIM_CONFIG, out)
    (report,) = summary.bags
    assert summary.total_episodes == 2 and report.sim_time
    assert not any('use_sim_time' in note for note in report.notes), report.notes
    store = ReplayBuffer.open(out)
    assert not any('sources' in store.attrs(key) for key in ('img', 'state'))


def test_bags_of_one_cropped_camera_at_two_sizes_are_refused_in_one_run(tmp_path):
    """Two bags of one camera, 4 x 4 and 6 x 6 px, converted together under a crop box (in
    camera pixels, so it would cut another part of the scene from each size): refused,
    naming both sizes, and no store is written."""
    small = write_camera_bag(tmp_path / 'a', (4, 4))
    large = write_camera_bag(tmp_path / 'b', (6, 6))
    out = tmp_path / 'out.zarr'
    with pytest.raises(BagError, match=r'camera /cam recorded frames of 4x4, 6x6 px with the '
                                       r'crop \[0, 0, 4, 4\]'):
        convert([small, large], camera_config(crop=[0, 0, 4, 4], shape=[4, 4]), out)
    assert not out.exists()


def camera_bag(path, frames: int, odd: int):
    """`frames` frames of a 256 x 256 camera (192 KiB each, uncompressed) and joint states,
    every frame alike (7) but frame `odd` (its pixels odd + 100)."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for i in range(frames):
            t = T0 + i * 100 * MS
            frame = np.full((256, 256, 3), odd + 100 if i == odd else 7, np.uint8)
            rec.write(CAMERA, 'sensor_msgs/msg/Image', t + 5 * MS, image_message(ts, frame, t))
            rec.write(JOINT_STATES, 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], [0.0], t))
    return path


def test_recordings_that_differ_in_their_last_mib_are_two(tmp_path):
    """Two 4 MB recordings alike in times, counts, sizes and all but two frames near their
    end, which lie within the last MiB of the file but before its last half MiB: two
    recordings (bag_identity hashes each file's whole last MiB), both converted."""
    bags = [camera_bag(tmp_path / day / 'bag', 20, odd) for day, odd in (('mon', 16),
                                                                        ('tue', 15))]
    sizes = {(b / 'bag.mcap').stat().st_size for b in bags}
    (size,) = sizes
    assert size > 2 * 2**20
    summary = convert(bags, CAMERA_JOINTS_CONFIG, tmp_path / 'out.zarr')
    assert summary.total_episodes == 2


def test_an_append_at_a_smaller_action_offset_is_refused(tmp_path, capsys):
    """A store whose action is the state 0.5 s ahead refuses bags converted with the action
    0.1 s ahead (another task in one array), as it refuses a larger offset: the store is
    left as it was."""
    out = tmp_path / 'out.zarr'
    assert run_checks_bag2zarr(checks_bag(tmp_path / 'a', 100_000_000, n=20),
                               checks_config(tmp_path, 0.1, offset=0.5), out) == 0
    capsys.readouterr()
    assert run_checks_bag2zarr(checks_bag(tmp_path / 'b', 100_000_000, n=20),
                               checks_config(tmp_path, 0.1, offset=0.1), out) == 2
    err = capsys.readouterr().err
    assert ('its values from /joint_states were sampled at grid time + 0.5 s there, + 0.1 s '
            'here') in err, err
    assert ReplayBuffer.open(out).n_episodes == 1


def two_joint_bag(path, one_topic: bool):
    """20 steps (100 ms apart) of joints j1 and j2, stamped 3 ms after each grid time: on one
    topic /js (one_topic) or j1 on /js and j2 on /js2."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for k in range(20):
            t = T0 + k * 100 * MS
            if one_topic:
                rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                          joint_state_message(ts, ['j1', 'j2'], [k / 10, k / 5], t + 3 * MS))
            else:
                rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                          joint_state_message(ts, ['j1'], [k / 10], t + 3 * MS))
                rec.write('/js2', 'sensor_msgs/msg/JointState', t + 2 * MS,
                          joint_state_message(ts, ['j2'], [k / 5], t + 3 * MS))
    return path


def two_joint_config(one_topic: bool, align: str = 'nearest', offset: float = 0.1) -> dict:
    state = ({'joint_state': '/js', 'joints': ['j1', 'j2']} if one_topic else
             [{'joint_state': '/js', 'joints': ['j1']}, {'joint_state': '/js2', 'joints': ['j2']}])
    return {'control_period_s': 0.1, 'align': align,
            'keys': {'state': state, 'action': {'future_of': 'state', 'offset': offset}}}


def test_an_append_under_another_alignment_is_refused_when_the_topics_changed(tmp_path):
    """A nearest-aligned store of j1 on /js and j2 on /js2, appended with at_or_before bags
    of both joints on /js (the same value names, other topics): the two rules pick other
    samples, so the append is refused, as with the same topics, and the store left as was."""
    out = tmp_path / 'out.zarr'
    convert([two_joint_bag(tmp_path / 'a', False)], two_joint_config(False), out)
    with pytest.raises(BagError, match='align nearest there, at_or_before here;'):
        convert([two_joint_bag(tmp_path / 'b', True)],
                two_joint_config(True, align='at_or_before'), out)
    assert ReplayBuffer.open(out).n_episodes == 1


def test_an_append_at_another_action_offset_is_refused_when_the_topics_changed(tmp_path):
    """A store whose action is the state 0.1 s ahead (j1 on /js, j2 on /js2), appended with
    bags of both joints on /js and the action 0.5 s ahead: another task in one array, so
    refused as with the same topics, the store left as was."""
    out = tmp_path / 'out.zarr'
    convert([two_joint_bag(tmp_path / 'a', False)], two_joint_config(False), out)
    with pytest.raises(BagError, match=r'sampled at grid time \+ 0.1 s there, \+ 0.5 s here'):
        convert([two_joint_bag(tmp_path / 'b', True)], two_joint_config(True, offset=0.5), out)
    assert ReplayBuffer.open(out).n_episodes == 1


def test_an_append_whose_joints_moved_to_one_topic_forgets_the_sources(tmp_path):
    """Bags of the same joints under the same rules but from other topics (j2 moved onto
    /js) are appended: the value names are kept, the sources (no longer the store's topics)
    forgotten."""
    out = tmp_path / 'out.zarr'
    convert([two_joint_bag(tmp_path / 'a', False)], two_joint_config(False), out)
    summary = convert([two_joint_bag(tmp_path / 'b', True)], two_joint_config(True), out)
    assert summary.total_episodes == 2
    assert ReplayBuffer.open(out).attrs('state') == {'names': ['j1', 'j2']}


def test_a_refused_append_names_the_topic_a_moved_joint_comes_from_now(tmp_path):
    """A store of j1 from /js2 and j2 from /js, appended with both joints from /js and the
    action 0.5 s ahead instead of 0.1 s: the refusal names where j1's values came from there
    (/js2) and where they come from here (/js)."""
    out = tmp_path / 'out.zarr'
    with BagRecorder(tmp_path / 'a') as rec:
        for k in range(20):
            t = T0 + k * 100 * MS
            for topic, joint, value in (('/js2', 'j1', k / 10), ('/js', 'j2', k / 5)):
                rec.write(topic, 'sensor_msgs/msg/JointState', t + MS,
                          joint_state_message(rec.typestore, [joint], [value], t + 3 * MS))
    swapped = two_joint_config(False)
    swapped['keys']['state'] = [{'joint_state': '/js2', 'joints': ['j1']},
                                {'joint_state': '/js', 'joints': ['j2']}]
    convert([tmp_path / 'a'], swapped, out)
    with pytest.raises(BagError, match=r'its values from /js2 were sampled at grid time \+ 0.1 s '
                                       r'there, \+ 0.5 s here \(from /js\)'):
        convert([two_joint_bag(tmp_path / 'b', True)], two_joint_config(True, offset=0.5), out)
    assert ReplayBuffer.open(out).n_episodes == 1
