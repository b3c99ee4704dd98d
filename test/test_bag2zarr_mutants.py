"""training/bag2zarr.py and training/bag2zarr_config.py where a mutation review found changes no
other test noticed: the hour's bound on times either way and at its edge, the shortest
period itself, a pose's default fields, a camera offset behind, key names with spaces, a
future key's dtype, the episode defaults; what each source records (prefix, yaw wrap,
reference), the report's episode lengths; the refusals of an append (bags held already and
how many, other keys, a period a little off) and what it lets through (offsets recorded for
some sources only, a key moved to a command topic, a camera without a crop changing size);
two crops of one camera, --image-dtype, an overwrite of the bags' own folder, recordings that
differ past their first MiB, which bags count as converted, and the clock notes and flag.
And two defects it found: a dtype beside an image source was ignored, and a key dtype that
is no number was accepted.

Configs are parsed with config_from_dict; bags are small real mcap bags written with the
project's BagRecorder (bag_support's camera + joint-state demonstration, the joint-renames
arm bag, the sim-time bag), converted into real zarr stores.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from bag_support import (
    CAMERA,
    CAMERA_JOINTS_CONFIG,
    JOINT_STATES,
    POSITIONS_THEN_VELOCITIES_KEYS,
    T0,
    write_camera_joints,
    write_positions_then_velocities,
)
from support import MS
from test_bag2zarr_joint_renames import NEW
from test_bag2zarr_joint_renames import write_bag as write_arm_bag
from test_bag_sim_time import CONFIG as SIM_CONFIG
from test_bag_sim_time import _bag as sim_or_wall_bag

from dp_ros.bags.reader import BagError
from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from dp_ros.recorded_sources import on_sim_time
from training import bag2zarr
from training.bag2zarr_config import ConfigError, config_from_dict
from training.bag_episodes import BagReport
from training.replay_buffer import ReplayBuffer

STATE = {'joint_state': '/js', 'joints': ['j1']}


def with_keys(**keys) -> dict:
    return {'control_period_s': 0.1, 'reference_topic': '/js', 'keys': keys}


def camera_joints_bag(path, frames):
    """A bag of bag_support's 10 Hz camera and 100 Hz joint states, frames `frames`."""
    with BagRecorder(path) as rec:
        write_camera_joints(rec, frames)
    return path


def convert(bags, output, **config):
    """bag2zarr.convert of `bags` with CAMERA_JOINTS_CONFIG (its top-level entries changed
    by `config`), without progress bars."""
    return bag2zarr.convert(bags, config_from_dict({**CAMERA_JOINTS_CONFIG, **config}), output,
                            progress=False)


# ---------------------------------------------------------------------------- the config
@pytest.mark.parametrize('offset', [3600, -3600])
def test_an_offset_of_an_hour_either_way_is_valid(offset):
    """The hour is the bound (MAX_SECONDS), itself valid, ahead or behind: a source sampled an
    hour earlier is as valid as one an hour later."""
    config = config_from_dict(with_keys(state=STATE, action={**STATE, 'offset': offset}))
    assert config.keys['action'].sources[0].offset_s == offset


@pytest.mark.parametrize('offset', [3600.5, -3600.5])
def test_an_offset_past_an_hour_either_way_is_refused_naming_it(offset):
    """An offset past the hour, ahead or behind, is a typo (and past int64 ns no grid): the
    message names the entry and the bound, whichever the sign."""
    with pytest.raises(ConfigError) as info:
        config_from_dict(with_keys(state=STATE, action={**STATE, 'offset': offset}))
    assert str(info.value) == f'keys.action: offset must be within 3600 s, got {offset:g}'


def test_a_pose_without_fields_gives_x_y_and_yaw():
    """A pose source without `fields` reads x, y and yaw (the documented default, Push-T's
    block pose), in that order, its yaw wrapped from -pi: the dataset's widths and names
    depend on it."""
    config = config_from_dict(with_keys(state=STATE, block={'pose': '/block',
                                                             'prefix': 'b_'}))
    source = config.keys['block'].sources[0]
    assert source.fields == ['x', 'y', 'yaw']
    assert config.keys['block'].value_names == ['b_x', 'b_y', 'b_yaw']
    assert source.yaw_min == pytest.approx(-3.141592653589793)


def test_a_camera_sampled_earlier_is_refused_as_one_sampled_later():
    """An image's offset is refused whichever its sign: the node takes a camera at the
    observation time, neither ahead nor behind (a negative one would train on frames the
    node never pairs with that step)."""
    with pytest.raises(ConfigError) as info:
        config_from_dict(with_keys(state=STATE, img={'image': '/cam', 'offset': -0.1}))
    assert str(info.value).startswith('keys.img: image /cam has offset -0.1 s, but a camera '
                                      'is an observation')


def test_the_shortest_control_period_itself_is_valid():
    """control_period_s 1e-6 (MIN_PERIOD_S, a 1 MHz grid of 1000 ns steps) is the bound and
    valid; only shorter ones are refused."""
    config = config_from_dict({**with_keys(state=STATE), 'control_period_s': 1e-6})
    assert config.period_ns == 1000
    with pytest.raises(ConfigError, match=r'control_period_s must be >= 1e-06 s, got 9e-07'):
        config_from_dict({**with_keys(state=STATE), 'control_period_s': 9e-7})


@pytest.mark.parametrize('name', ['state ', ' state'])
def test_a_key_name_with_spaces_around_it_is_refused(name):
    """'state ' would make an array data/'state ' that training's 'state' never finds (or a
    key that looks like another): refused naming it, as '/' and a leading '.' are."""
    with pytest.raises(ConfigError) as info:
        config_from_dict(with_keys(**{name: STATE}))
    assert str(info.value).startswith(f'keys: {name!r} cannot name an array of the store')


def test_a_future_key_keeps_the_dtype_of_the_key_it_copies():
    """future_of copies the other key's dtype with its sources: a float64 state's future is a
    float64 action, not float32 (the action would lose the precision the user asked for)."""
    config = config_from_dict(with_keys(state={**STATE, 'dtype': 'float64'},
                                        action={'future_of': 'state'}))
    assert (config.keys['state'].dtype, config.keys['action'].dtype) == ('float64', 'float64')


def test_the_episode_defaults_are_two_steps_ended_by_the_marker_split_on_gaps():
    """Without an `episodes:` section a piece needs 2 steps (one step is no transition to
    train on), a marker message ends an episode (a String/Empty marker that started them
    would cut each demonstration from the previous one's end), and a gap splits."""
    config = config_from_dict(with_keys(state=STATE))
    assert (config.episodes.min_steps, config.episodes.marker_role, config.episodes.on_gap,
            config.episodes.marker) == (2, 'end', 'split', None)
    marked = config_from_dict({**with_keys(state=STATE), 'episodes': {'marker': '/done'}})
    assert (marked.episodes.min_steps, marked.episodes.marker_role) == (2, 'end')


def test_a_dtype_beside_an_image_source_is_refused_naming_image_dtype():
    """`img: {image: /cam, dtype: uint8}` was accepted and then stored as float32 (the
    config's image_dtype default), 4x the disk the user asked for, without a word (a defect
    the review found); every other option that would be ignored is refused. Now refused
    naming image_dtype, the one place an image's dtype is set; the same dtype as
    image_dtype is taken."""
    with pytest.raises(ConfigError, match=r"keys.img: an image key is stored as the config's "
                                          r'image_dtype \(float32\), not a dtype of its own: '
                                          r'give image_dtype: uint8'):
        config_from_dict(with_keys(state=STATE, img={'image': '/cam', 'dtype': 'uint8'}))
    with pytest.raises(ConfigError, match=r"keys.img: .*image_dtype, one of .*, not 'int16'"):
        config_from_dict(with_keys(state=STATE, img={'image': '/cam', 'dtype': 'int16'}))
    raw = {**with_keys(state=STATE, img={'image': '/cam', 'dtype': 'uint8'}),
           'image_dtype': 'uint8'}
    assert config_from_dict(raw).keys['img'].dtype == 'uint8'


@pytest.mark.parametrize('dtype', ['str', 'object', 'U8', 'datetime64[s]', 'V4', 'complex64'])
def test_a_key_dtype_that_is_no_number_is_refused_naming_it(dtype):
    """`dtype: str` beside a joint source parses as a numpy dtype but holds no number: the
    command exited 0 having written the joint values as text (StringDType; 'U8': '0.0',
    '1.0', ...; datetime64 and void lost them), which training cannot use, and 'object'
    stopped with a zarr ValueError traceback (a defect the review found). Refused, naming
    the key, before any bag is read; the number dtypes are taken."""
    with pytest.raises(ConfigError, match=re.escape(f'keys.state: dtype {dtype!r} holds no '
                                                    'number')):
        config_from_dict(with_keys(state={**STATE, 'dtype': dtype}))
    for number in ('float64', 'float16', 'int32', 'uint8', 'bool'):
        assert config_from_dict(with_keys(state={**STATE, 'dtype': number})).keys[
            'state'].dtype == number


# ---------------------------------------------------------------------------- the record
def test_each_source_records_a_prefix_a_yaw_wrap_and_the_grid_only_where_it_has_them():
    """recorded_attrs, exactly: a source without a prefix records none (not ''), a pose
    without yaw no yaw wrap (nothing for the node to wrap), and only the grid's own stream
    at offset 0 is the reference: the future_of action of that topic, sampled a period
    later, is not (the node would anchor its grid on a stream sampled ahead)."""
    config = config_from_dict(with_keys(state=[STATE, {'pose': '/p', 'fields': ['x', 'y']}],
                                        action={'future_of': 'state'}))
    joint = {'kind': 'joint_state', 'topic': '/js', 'width': 1, 'field': 'position',
             'tolerance_s': 0.05, 'align': 'at_or_before'}
    pose = {'kind': 'pose', 'topic': '/p', 'width': 2, 'tolerance_s': 0.05,
            'align': 'at_or_before'}
    assert bag2zarr.recorded_attrs(config) == {
        'state': {'names': ['j1', 'x', 'y'],
                  'sources': [{**joint, 'offset_s': 0.0, 'reference': True},
                              {**pose, 'offset_s': 0.0}]},
        'action': {'names': ['j1', 'x', 'y'],
                   'sources': [{**joint, 'offset_s': 0.1}, {**pose, 'offset_s': 0.1}]}}


@pytest.mark.parametrize('lengths, shown', [([5], False), ([5, 6], True),
                                            (list(range(2, 14)), True),
                                            (list(range(2, 15)), False)])
def test_the_report_lists_episode_lengths_from_two_to_twelve_episodes(lengths, shown):
    """One episode's length is its steps already; 13 or more would flood the line: only 2..12
    episodes list their lengths."""
    report = BagReport('/bags/a', episode_lengths=lengths)
    line = bag2zarr.format_reports([report]).splitlines()[0]
    head = f'/bags/a: {len(lengths)} episode(s), {sum(lengths)} steps'
    assert line == (f'{head} (lengths {lengths})' if shown else head)


# ---------------------------------------------------------------------------- conversions
def test_an_append_of_bags_converted_already_names_the_first_and_counts_the_others(tmp_path):
    """Two of three bags held already: the refusal names the first and says '(and 1 more)',
    so the user knows that dropping that one bag is not enough; one bag held: no count."""
    a = camera_joints_bag(tmp_path / 'a', range(10))
    b = camera_joints_bag(tmp_path / 'b', range(20, 35))
    c = camera_joints_bag(tmp_path / 'c', range(40, 52))
    out = tmp_path / 'out.zarr'
    convert([a, b], out)
    with pytest.raises(BagError) as info:
        convert([a, b, c], out)
    assert str(info.value).startswith(f'{out} holds bag {a} (and 1 more) already (converted '
                                      f'from {a}): appending it again')
    with pytest.raises(BagError) as info:
        convert([c, b], out)
    assert str(info.value).startswith(f'{out} holds bag {b} already (converted from {b}):')
    assert ReplayBuffer.open(out).n_episodes == 2


def test_a_store_that_records_some_sources_offsets_only_is_not_contradicted(tmp_path):
    """A key whose stored sources record an offset for some but not all (an older store,
    hand-repaired): the offsets are unknown, so the append is not checked against them and
    goes ahead, rather than failing on the source without one (a KeyError traceback)."""
    bags = []
    for frames in (12, 14):
        with BagRecorder(tmp_path / f'bag{frames}') as rec:
            write_positions_then_velocities(rec, frames)
        bags.append(tmp_path / f'bag{frames}')
    out = tmp_path / 'out.zarr'
    convert(bags[:1], out, keys=POSITIONS_THEN_VELOCITIES_KEYS)
    attrs_file = out / 'data' / 'state' / '.zattrs'
    attrs = json.loads(attrs_file.read_text())
    del attrs['sources'][0]['offset_s']
    attrs_file.write_text(json.dumps(attrs))
    summary = convert(bags[1:], out, keys=POSITIONS_THEN_VELOCITIES_KEYS)
    assert (summary.episodes_added, summary.total_episodes) == (1, 2)


def test_a_key_now_taken_from_a_command_topic_is_not_refused_for_its_alignment(tmp_path):
    """A state once sampled from joint states (align at_or_before) and now taken from the
    commanded trajectory (the point due: no alignment rule) at the same offset: other
    topics, not another rule on one topic, so the append goes ahead and the key forgets its
    sources, rather than being refused as 'align at_or_before there, None here'."""
    write_arm_bag(tmp_path / 'a', NEW, bag=0)
    write_arm_bag(tmp_path / 'b', NEW, bag=1)
    out = tmp_path / 'arm.zarr'
    base = {'control_period_s': 0.1, 'tolerance': 0.05, 'reference_topic': '/cam'}
    measured = {'img': {'image': '/cam'}, 'state': {'joint_state': '/joint_states',
                                                    'joints': NEW}}
    bag2zarr.convert([tmp_path / 'a'], config_from_dict({**base, 'keys': measured}), out,
                     progress=False)
    commanded = {**measured, 'state': {'joint_trajectory': '/cmd', 'joints': NEW}}
    summary = bag2zarr.convert([tmp_path / 'b'], config_from_dict({**base, 'keys': commanded}),
                               out, progress=False)
    assert summary.total_episodes == 2
    store = ReplayBuffer.open(out)
    assert 'sources' not in store.attrs('state') and store.attrs('state')['names'] == NEW


def test_only_bags_that_gave_episodes_are_recorded_as_converted(tmp_path):
    """A bag whose only piece was too short, and two empty recordings alike (a recorder
    started and stopped, on two days), are skipped, not refused as one recording given
    twice, and not recorded as converted: the short one appended later (min_steps 1) is
    converted, not refused as held already."""
    a = camera_joints_bag(tmp_path / 'a', range(10))
    short = camera_joints_bag(tmp_path / 'short', range(30, 31))
    for day in ('mon', 'tue'):
        with BagRecorder(tmp_path / day / 'bag') as rec:
            rec.add_topic(CAMERA, 'sensor_msgs/msg/Image')
            rec.add_topic(JOINT_STATES, 'sensor_msgs/msg/JointState')
    out = tmp_path / 'out.zarr'
    summary = convert([a, short, tmp_path / 'mon' / 'bag', tmp_path / 'tue' / 'bag'], out)
    assert [r.episode_lengths for r in summary.bags] == [[10], [], [], []]
    converted = ReplayBuffer.open(out).root_attrs()['converted_bags']
    assert [(c['bag'], c['episodes']) for c in converted] == [(str(a), 1)]
    again = convert([short], out, episodes={'min_steps': 1})
    assert (again.episodes_added, again.total_episodes) == (1, 2)


def camera_bag(path, size: int, frames: int = 10):
    """`frames` frames of a 10 Hz size x size camera (frame i: column x holds 10 * x + i)
    and 100 Hz joint states of j1, as bag_support's demonstration."""
    pixels = (10 * np.arange(size)[None, :, None] + np.zeros((size, 1, 3))).astype(np.uint8)
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for i in range(frames):
            t = T0 + i * 100 * MS
            rec.write(CAMERA, 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, pixels + i, t))
            for k in range(10):
                tj = t + k * 10 * MS
                rec.write(JOINT_STATES, 'sensor_msgs/msg/JointState', tj + MS,
                          joint_state_message(ts, ['j1'], [i + k / 10], tj))
    return path


def test_two_keys_of_one_camera_are_each_cut_by_their_own_crop(tmp_path):
    """Two image keys of one camera (a wide view and a close-up) with other crop boxes: each
    key's frames are cut by its own box, not both by the first's (sources decoding a topic
    alike share one decoded frame; another crop is another decoding)."""
    bag = camera_bag(tmp_path / 'bag', size=8)
    out = tmp_path / 'out.zarr'
    convert([bag], out, keys={'wide': {'image': CAMERA, 'crop': [0, 0, 8, 8]},
                              'close': {'image': CAMERA, 'crop': [4, 2, 2, 2]},
                              'state': CAMERA_JOINTS_CONFIG['keys']['state']})
    store = ReplayBuffer.open(out)
    wide, close = store.data['wide'][:], store.data['close'][:]
    assert wide.shape == (10, 8, 8, 3) and close.shape == (10, 2, 2, 3)
    np.testing.assert_array_equal(close, wide[:, 2:4, 4:6])
    assert store.attrs('close')['camera_crop'] == [4, 2, 2, 2]


def test_a_camera_without_a_crop_may_change_size_across_an_append(tmp_path):
    """A camera without a crop box recorded at 8x8, then at 16x16 (a driver setting), both
    fitted to shape [4, 4]: the append goes ahead and the key forgets the frame size (no
    longer one); only a crop box, in camera pixels, makes another size a refusal."""
    out = tmp_path / 'out.zarr'
    keys = {'img': {'image': CAMERA, 'shape': [4, 4]},
            'state': CAMERA_JOINTS_CONFIG['keys']['state']}
    convert([camera_bag(tmp_path / 'small', size=8)], out, keys=keys)
    assert ReplayBuffer.open(out).attrs('img')['sources'][0]['frame_size'] == [8, 8]
    summary = convert([camera_bag(tmp_path / 'large', size=16)], out, keys=keys)
    assert summary.total_episodes == 2
    source = ReplayBuffer.open(out).attrs('img')['sources'][0]
    assert source['topic'] == CAMERA and 'frame_size' not in source


def test_an_overwrite_never_replaces_the_folder_holding_the_bags_or_writes_inside_one(
        tmp_path):
    """-o pointing at the bags' folder with --overwrite would swap the whole folder out,
    deleting the recordings; an output inside a bag would write into it: both are refused
    before anything is read or written, the bag left whole."""
    bags = tmp_path / 'bags'
    bag = camera_joints_bag(bags / 'a', range(10))
    files = sorted(p.name for p in bag.iterdir())
    config = config_from_dict(CAMERA_JOINTS_CONFIG)
    with pytest.raises(BagError, match=f'output {bags} holds the source {bag}: replacing it'):
        bag2zarr.convert([bags], config, bags, overwrite=True, progress=False)
    with pytest.raises(BagError, match=f'output {bag / "out.zarr"} is inside the source'):
        bag2zarr.convert([bag], config, bag / 'out.zarr', progress=False)
    assert sorted(p.name for p in bag.iterdir()) == files


def big_camera_bag(path, last: int):
    """10 frames of a 256 x 256 camera (2 MB uncompressed: past the MiB that bag_identity
    hashes of a file's head), every frame alike but the last, whose pixels are `last`."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for i in range(10):
            t = T0 + i * 100 * MS
            frame = np.full((256, 256, 3), last if i == 9 else 7, np.uint8)
            rec.write(CAMERA, 'sensor_msgs/msg/Image', t + 5 * MS, image_message(ts, frame, t))
            rec.write(JOINT_STATES, 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], [0.0], t))
    return path


def test_recordings_that_differ_only_past_their_first_mib_are_two(tmp_path):
    """Two recordings alike in their times, counts, sizes and first MiB but not their end
    (the last frame) are two recordings, not one given twice: bag_identity hashes each
    file's tail too."""
    bags = [big_camera_bag(tmp_path / day / 'bag', last) for day, last in (('mon', 1),
                                                                          ('tue', 2))]
    assert len({(b / 'bag.mcap').stat().st_size for b in bags}) == 1
    summary = convert(bags, tmp_path / 'out.zarr')
    assert summary.total_episodes == 2
    last = ReplayBuffer.open(tmp_path / 'out.zarr').data['img'][:]
    assert (last[9, 0, 0, 0], last[19, 0, 0, 0]) == (1, 2)


def test_a_wall_clock_bag_that_gave_no_episode_leaves_the_sim_time_said(tmp_path):
    """Bags on a sim's time beside a wall-clock bag whose only piece was too short: the store
    holds only sim-time episodes and says so (the node's use_sim_time), the bag that gave
    nothing having no say."""
    sim_or_wall_bag(tmp_path / 'sim', 5_000 * MS, clock=False)
    short = camera_joints_bag(tmp_path / 'short', range(30, 31))
    summary = bag2zarr.convert([tmp_path / 'sim', short], config_from_dict(SIM_CONFIG),
                               tmp_path / 'out.zarr', progress=False)
    assert [len(r.episode_lengths) for r in summary.bags] == [1, 0]
    store = ReplayBuffer.open(tmp_path / 'out.zarr')
    assert [on_sim_time(store.attrs(k)['sources']) for k in ('img', 'state')] == [True, True]


def test_an_append_on_another_clock_is_noted_on_the_last_bag(tmp_path):
    """Wall-clock bags appended to a store of sim-time episodes (and back): the report notes
    that the store no longer says use_sim_time, in words naming which clock is which; bags
    on the store's own clock get no note."""
    out = tmp_path / 'out.zarr'
    config = config_from_dict(SIM_CONFIG)
    sim_or_wall_bag(tmp_path / 'sim', 5_000 * MS, clock=False)
    sim_or_wall_bag(tmp_path / 'wall', T0, clock=False)
    sim_or_wall_bag(tmp_path / 'sim2', 9_000 * MS, clock=False)
    sim_or_wall_bag(tmp_path / 'sim3', 7_000 * MS, clock=False)
    bag2zarr.convert([tmp_path / 'sim'], config, out, progress=False)
    same = bag2zarr.convert([tmp_path / 'sim3'], config, out, progress=False)
    assert same.appended_to_existing and same.bags[-1].notes == []  # one clock: no note
    wall = bag2zarr.convert([tmp_path / 'wall'], config, out, progress=False)
    assert wall.bags[-1].notes == [
        "these bags' stamps are a wall clock's time, the store's episodes a sim's: one store "
        'of both (the store no longer says use_sim_time; convert them apart if the node runs '
        'on one clock)']
    other = tmp_path / 'other.zarr'
    bag2zarr.convert([tmp_path / 'wall'], config, other, progress=False)
    sim = bag2zarr.convert([tmp_path / 'sim2'], config, other, progress=False)
    assert sim.bags[-1].notes == [
        "these bags' stamps are a sim's time, the store's episodes a wall clock's: one store "
        'of both (the store no longer says use_sim_time; convert them apart if the node runs '
        'on one clock)']


@pytest.mark.parametrize('configured, asked', [('float32', 'uint8'), ('uint8', 'float32')])
def test_the_image_dtype_option_sets_the_stored_image_dtype(tmp_path, configured, asked):
    """--image-dtype overrides the config's image_dtype for the camera key's array itself,
    not only the config's field: uint8 asked is uint8 stored (4x smaller), and back."""
    bag = camera_joints_bag(tmp_path / 'bag', range(10))
    cfg = tmp_path / 'config.yaml'
    cfg.write_text(json.dumps({**CAMERA_JOINTS_CONFIG, 'image_dtype': configured}))
    out = tmp_path / 'out.zarr'
    assert bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(out), '--no-progress',
                          '--image-dtype', asked]) == 0
    store = ReplayBuffer.open(out)
    assert (str(store.data['img'].dtype), str(store.data['state'].dtype)) == (asked, 'float32')


def test_an_append_with_other_keys_is_refused_naming_both_sets_before_any_bag_is_read(
        tmp_path):
    """A config making a key more (an action) than the store holds: refused naming the keys
    on both sides, before a bag is converted (not by a shape or attribute error later), the
    store as it was."""
    out = tmp_path / 'out.zarr'
    convert([camera_joints_bag(tmp_path / 'a', range(10))], out)
    more = {**CAMERA_JOINTS_CONFIG['keys'], 'action': {'future_of': 'state'}}
    reports = []
    with pytest.raises(BagError) as info:
        bag2zarr.convert([camera_joints_bag(tmp_path / 'b', range(20, 32))],
                         config_from_dict({**CAMERA_JOINTS_CONFIG, 'keys': more}), out,
                         progress=False, reports=reports)
    assert str(info.value) == (f"cannot append to {out}: it holds keys ['img', 'state'], the "
                               "config makes ['action', 'img', 'state']")
    assert reports == [] and ReplayBuffer.open(out).n_episodes == 1


def test_an_append_at_a_period_a_fifth_of_a_percent_off_is_refused(tmp_path):
    """A store sampled every 0.1 s refuses bags at 0.1002 s (a typo'd period, 0.2 % off): the
    periods must agree to a millionth, not roughly; the store keeps its one episode."""
    out = tmp_path / 'out.zarr'
    convert([camera_joints_bag(tmp_path / 'a', range(10))], out)
    with pytest.raises(BagError) as info:
        convert([camera_joints_bag(tmp_path / 'b', range(20, 32))], out,
                control_period_s=0.1002)
    assert str(info.value).startswith(f'cannot append to {out}: its episodes were sampled '
                                      'every 0.1 s (')
    assert str(info.value).endswith('the config says control_period_s 0.1002; convert into '
                                    'another store')
    assert ReplayBuffer.open(out).n_episodes == 1
