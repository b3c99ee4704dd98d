"""Behaviour of training/bag2zarr.py that a second mutation review found unpinned by its other
tests: the clock note of an append lands on the last bag; an append on another clock keeps a
key's sources but drops their sim-time flag; an append of a key mixing joints and poses
keeps its sources; converted_bags counts each bag's episodes; an existing empty store is
appended to; an append's summary counts the whole store and gives one step's shapes; a pose
topic without a frame records none; a camera's frame size is (height, width); a topic
without a rate in one bag leaves the others' rate; only joint-state sources record a
JointState field; a hand-edited converted_bags entry that is no mapping is passed over; the
report's lines for unstamped topics, trimmed streams and dropped steps; --memory-limit-mb
inf and a --summary-json that is a folder refused before anything is written; and what an
interrupted run says of an output it never wrote.

Each test kills a mutant the module's other tests let live. Configs are parsed with
config_from_dict; bags are small real mcap bags written with the project's BagRecorder (the
helpers of bag_support, test_bag2zarr_edges, test_bag2zarr and test_bag_sim_time),
converted into real zarr stores.
"""
from __future__ import annotations

import json

import pytest
import zarr
from bag_support import CAMERA_JOINTS_CONFIG, JOINT_STATES, T0, write_camera_joints
from support import MS
from test_bag2zarr import write_pose_bag
from test_bag2zarr_edges import camera_config, raw_config, write_bag, write_camera_bag
from test_bag_sim_time import CONFIG as SIM_CONFIG
from test_bag_sim_time import _bag as sim_or_wall_bag

from dp_ros.bags.recorder import BagRecorder
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.bag_episodes import BagReport, TopicReport
from training.replay_buffer import ReplayBuffer


def convert(bags, config: dict, output):
    return bag2zarr.convert(bags, config_from_dict(config), output, progress=False)


# ---------------------------------------------------------------------------- appends
def test_the_clock_note_of_an_append_of_several_bags_is_on_the_last_one(tmp_path):
    """Two wall-clock bags appended to a store of sim-time episodes: the note that the store no
    longer says use_sim_time is on the last bag's report (printed last, after every bag's
    lines), once, not on the first."""
    out = tmp_path / 'out.zarr'
    sim_or_wall_bag(tmp_path / 'sim', 5_000 * MS, clock=False)
    sim_or_wall_bag(tmp_path / 'wall1', T0, clock=False)
    sim_or_wall_bag(tmp_path / 'wall2', T0 + 60_000 * MS, clock=False)
    convert([tmp_path / 'sim'], SIM_CONFIG, out)
    summary = convert([tmp_path / 'wall1', tmp_path / 'wall2'], SIM_CONFIG, out)
    first, last = summary.bags
    assert not any('use_sim_time' in note for note in first.notes)
    assert [note for note in last.notes if 'use_sim_time' in note] == [
        "these bags' stamps are a wall clock's time, the store's episodes a sim's: one store "
        'of both (the store no longer says use_sim_time; convert them apart if the node runs '
        'on one clock)']


def test_an_append_on_another_clock_keeps_the_sources_without_the_sim_time_flag(tmp_path):
    """Wall-clock bags of the same topics appended to a store of sim-time episodes: each key
    keeps its sources (same topics), but no source says sim_time any more (the node would
    run on a sim's clock for episodes stamped on a wall clock), while the reference, true on
    both sides, stays."""
    out = tmp_path / 'out.zarr'
    sim_or_wall_bag(tmp_path / 'sim', 5_000 * MS, clock=False)
    sim_or_wall_bag(tmp_path / 'wall', T0, clock=False)
    convert([tmp_path / 'sim'], SIM_CONFIG, out)
    assert ReplayBuffer.open(out).attrs('state')['sources'][0]['sim_time'] is True
    convert([tmp_path / 'wall'], SIM_CONFIG, out)
    store = ReplayBuffer.open(out)
    for key in ('img', 'state'):
        sources = store.attrs(key)['sources']
        assert len(sources) == 1 and 'sim_time' not in sources[0]
    (state,) = store.attrs('state')['sources']
    assert state['topic'] == JOINT_STATES and state.get('reference') is None
    (img,) = store.attrs('img')['sources']
    assert img['reference'] is True


def test_sim_time_and_wall_clock_bags_converted_together_say_no_clock(tmp_path):
    """A sim-time bag and a wall-clock bag that both gave episodes, converted at once: the
    store says sim_time on no source (the node cannot run on both clocks), not because one
    of them was on a sim's time."""
    sim_or_wall_bag(tmp_path / 'sim', 5_000 * MS, clock=False)
    sim_or_wall_bag(tmp_path / 'wall', T0, clock=False)
    summary = convert([tmp_path / 'sim', tmp_path / 'wall'], SIM_CONFIG, tmp_path / 'out.zarr')
    assert [len(r.episode_lengths) for r in summary.bags] == [1, 1]
    store = ReplayBuffer.open(tmp_path / 'out.zarr')
    assert not any('sim_time' in s for k in ('img', 'state') for s in store.attrs(k)['sources'])


def test_an_append_of_a_key_of_joints_and_a_pose_keeps_its_sources(tmp_path):
    """A state of a joint (which records its JointState field) beside a pose (which records
    none) appended to with the same config: the sources are the same, so they are kept (not
    forgotten because only some of them record a field)."""
    out = tmp_path / 'out.zarr'
    convert([write_bag(tmp_path / 'a', steps=20)], raw_config(), out)
    before = ReplayBuffer.open(out).attrs('state')['sources']
    assert [s['kind'] for s in before] == ['joint_state', 'pose']
    summary = convert([write_bag(tmp_path / 'b', steps=24)], raw_config(), out)
    assert summary.total_episodes == 2
    assert ReplayBuffer.open(out).attrs('state')['sources'] == before


def test_a_converted_bags_entry_that_is_no_mapping_is_passed_over(tmp_path):
    """A store whose converted_bags list holds a stray entry (a path string, hand-edited)
    takes an append of a new bag, the entry kept, rather than stopping with an
    AttributeError traceback; a bag held already is still refused."""
    out = tmp_path / 'out.zarr'
    a = tmp_path / 'a'
    with BagRecorder(a) as rec:
        write_camera_joints(rec, range(10))
    b = tmp_path / 'b'
    with BagRecorder(b) as rec:
        write_camera_joints(rec, range(20, 32))
    convert([a], CAMERA_JOINTS_CONFIG, out)
    group = zarr.open_group(str(out), mode='r+')
    group.attrs['converted_bags'] = ['/somewhere/else', *group.attrs['converted_bags']]
    summary = convert([b], CAMERA_JOINTS_CONFIG, out)
    assert summary.total_episodes == 2
    converted = ReplayBuffer.open(out).root_attrs()['converted_bags']
    assert converted[0] == '/somewhere/else' and [c['bag'] for c in converted[1:]] == [
        str(a), str(b)]


def test_the_converted_bags_record_how_many_episodes_each_gave(tmp_path):
    """A bag whose camera stopped for half a second gives two episodes (split at the gap): its
    converted_bags entry says 2, the episodes of the store that came from it."""
    bag = tmp_path / 'bag'
    with BagRecorder(bag) as rec:
        write_camera_joints(rec, [*range(10), *range(15, 25)])
    summary = convert([bag], CAMERA_JOINTS_CONFIG, tmp_path / 'out.zarr')
    assert summary.total_episodes == 2
    (entry,) = ReplayBuffer.open(tmp_path / 'out.zarr').root_attrs()['converted_bags']
    assert (entry['bag'], entry['episodes']) == (str(bag), 2)


def test_bags_converted_into_an_existing_empty_store_are_appended_to_it(tmp_path):
    """An output that exists but holds no episodes (created empty) is appended to: the
    summary says so ('appended to'), as for any existing output."""
    out = tmp_path / 'out.zarr'
    ReplayBuffer.create(out)
    bag = tmp_path / 'bag'
    with BagRecorder(bag) as rec:
        write_camera_joints(rec, range(10))
    summary = convert([bag], CAMERA_JOINTS_CONFIG, out)
    assert summary.appended_to_existing and summary.total_episodes == 1
    assert f'appended to {out}: +1 episodes' in bag2zarr.format_summary(summary)


def test_the_summary_of_an_append_counts_the_whole_store_and_gives_step_shapes(tmp_path):
    """After an append the summary's totals are the store's (old and new steps), its added
    counts this run's, and each key's shape is one step's, without the step axis."""
    out = tmp_path / 'out.zarr'
    bags = []
    for name, frames in (('a', range(10)), ('b', range(20, 32))):
        with BagRecorder(tmp_path / name) as rec:
            write_camera_joints(rec, frames)
        bags.append(tmp_path / name)
    convert(bags[:1], CAMERA_JOINTS_CONFIG, out)
    summary = convert(bags[1:], CAMERA_JOINTS_CONFIG, out)
    assert (summary.steps_added, summary.total_steps) == (12, 22)
    assert (summary.episodes_added, summary.total_episodes) == (1, 2)
    assert summary.keys == {'img': [[4, 4, 3], 'uint8'], 'state': [[1], 'float32']}


# ---------------------------------------------------------------------------- the record
def test_a_pose_topic_stamped_without_a_frame_records_no_frame(tmp_path):
    """Poses whose header.frame_id is empty name no frame: the source records none (not ''),
    so the node does not demand poses in the frame ''."""
    write_pose_bag(tmp_path / 'bag', ['', ''])
    config = {'control_period_s': 0.1, 'reference_topic': '/joint_states',
              'keys': {'state': [{'joint_state': '/joint_states', 'joints': ['j1']},
                                 {'pose': '/ee_pose', 'fields': ['x', 'y']}]}}
    convert([tmp_path / 'bag'], config, tmp_path / 'out.zarr')
    joint, pose = ReplayBuffer.open(tmp_path / 'out.zarr').attrs('state')['sources']
    assert pose['kind'] == 'pose' and 'frame_id' not in pose


def test_a_cameras_frame_size_is_recorded_height_then_width(tmp_path):
    """A 4 x 6 px (height x width) camera records frame_size [4, 6], the order of the node's
    check and of the image's shape, not [6, 4]."""
    bag = write_camera_bag(tmp_path / 'bag', (4, 6))
    convert([bag], camera_config(), tmp_path / 'out.zarr')
    (source,) = ReplayBuffer.open(tmp_path / 'out.zarr').attrs('img')['sources']
    assert source['frame_size'] == [4, 6]


def test_a_topic_without_a_rate_in_one_bag_keeps_the_others_rate():
    """A bag in which a topic had no rate (one message: 0 Hz) has no say: the topic's
    recorded rate is the slowest of the bags that measured one, not 0 (a 0 Hz rate would
    never let the node warn about a slow input)."""
    def report(rate: float) -> BagReport:
        return BagReport('b', topics=[TopicReport('/cam', 'sensor_msgs/msg/Image', 10, rate, 0,
                                                  0.1, True)])

    assert bag2zarr.topic_rates([report(0.0), report(12.5)]) == {'/cam': 12.5}
    assert bag2zarr.topic_rates([report(0.0)]) == {}


def test_only_a_joint_state_source_records_a_joint_state_field():
    """The JointState field is recorded for joint-state sources only: a commanded
    trajectory's points and a camera have no such field, and record none."""
    config = config_from_dict({'control_period_s': 0.1, 'reference_topic': '/cam',
                               'keys': {'img': {'image': '/cam'},
                                        'state': {'joint_trajectory': '/cmd',
                                                  'joints': ['j1']}}})
    attrs = bag2zarr.recorded_attrs(config)
    assert [s['kind'] for s in attrs['state']['sources']] == ['joint_trajectory']
    assert all('field' not in s for key in ('img', 'state') for s in attrs[key]['sources'])


# ---------------------------------------------------------------------------- the report
def test_the_report_names_unstamped_topics_trimmed_streams_and_dropped_steps():
    """A topic read by receive times says so; the trimmed steps name the streams that were not
    there yet or any more; dropped steps get their line."""
    report = BagReport('/bags/a', episode_lengths=[5], trimmed_steps=3,
                       trimmed_streams=['/cam', '/js'], dropped_steps=4,
                       topics=[TopicReport('/js', 'sensor_msgs/msg/JointState', 50, 10.0, 0,
                                           0.1, False)])
    lines = bag2zarr.format_reports([report]).splitlines()
    assert lines[1].endswith('max gap 0.100 s  (receive times)')
    assert lines[2:] == [
        '  trimmed 3 step(s) at episode ends (streams start/stop at different times: /cam, '
        '/js not there yet or any more)',
        '  dropped 4 step(s)']


# ---------------------------------------------------------------------------- the command
def _main(tmp_path, *extra: str) -> int:
    bag = tmp_path / 'bag'
    if not bag.exists():
        with BagRecorder(bag) as rec:
            write_camera_joints(rec, range(10))
    cfg = tmp_path / 'config.yaml'
    cfg.write_text(json.dumps(CAMERA_JOINTS_CONFIG))
    return bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(tmp_path / 'out.zarr'),
                          '--no-progress', *extra])


def test_an_infinite_memory_limit_is_refused_before_anything_is_written(tmp_path, capsys):
    """--memory-limit-mb inf is no positive number of MB (it would hold every episode in
    memory): exit 2 naming the option, no output written."""
    assert _main(tmp_path, '--memory-limit-mb', 'inf') == 2
    assert '--memory-limit-mb must be a positive number of MB, got inf' in capsys.readouterr().err
    assert not (tmp_path / 'out.zarr').exists()


def test_a_summary_json_that_is_a_folder_is_refused_before_the_store_is_written(tmp_path,
                                                                              capsys):
    """--summary-json naming a folder is refused before the conversion (exit 2 naming the
    option), not after it wrote the store: the output is not written."""
    (tmp_path / 'reports').mkdir()
    assert _main(tmp_path, '--summary-json', str(tmp_path / 'reports')) == 2
    assert '--summary-json' in capsys.readouterr().err
    assert not (tmp_path / 'out.zarr').exists()


def test_an_interrupt_before_a_store_was_staged_says_the_output_was_not_written(tmp_path):
    """Interrupted before its store had an identity (staged [None]) with no output there: 'not
    written', not 'written before the interrupt' (no identity matches a missing output);
    an output that is there 'was not changed'."""
    out = tmp_path / 'out.zarr'
    assert bag2zarr._unchanged(out, [None]) == f'{out} was not written'
    assert bag2zarr._unchanged(out, []) == f'{out} was not written'
    out.mkdir()
    assert bag2zarr._unchanged(out, [None]) == f'{out} was not changed'


@pytest.mark.parametrize('limit', ['0', '-1', 'nan'])
def test_a_memory_limit_of_no_positive_number_is_refused(tmp_path, capsys, limit):
    """--memory-limit-mb 0, negative or nan: exit 2 naming the option, no output written."""
    assert _main(tmp_path, '--memory-limit-mb', limit) == 2
    assert '--memory-limit-mb must be a positive number of MB' in capsys.readouterr().err
    assert not (tmp_path / 'out.zarr').exists()
