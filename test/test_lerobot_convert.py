"""`dp-ros convert`: Push-T episodes zarr -> LeRobot -> zarr, key maps, all-or-nothing output,
one-line errors."""
from __future__ import annotations

import subprocess
import threading

import numpy as np
import pytest
import zarr
from support import PUSHT_DATASET, checkout_env, module_cmd, nonempty_lines, shortest_episodes

from training import lerobot_convert
from training.lerobot_convert import ConvertError, main
from training.lerobot_format import LeRobotReader, LeRobotWriter
from training.replay_buffer import ReplayBuffer

KEYS = ('img', 'state', 'action', 'keypoint', 'n_contacts')


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """The 3 shortest Push-T episodes as a zarr store in the paper's layout (float32 images)."""
    _, eps = shortest_episodes(PUSHT_DATASET, 3, keys=KEYS)
    data = {k: np.concatenate([ep[k] for ep in eps]) for k in KEYS}
    path = tmp_path_factory.mktemp('convert') / 'pusht3.zarr'
    ReplayBuffer.from_arrays(data, np.cumsum([len(ep['state']) for ep in eps])).save_to(
        path, progress=False)
    return path


def arrays(path):
    group = zarr.open_group(str(path), mode='r')
    return ({k: group['data'][k][:] for k in group['data'].array_keys()},
            group['meta/episode_ends'][:])


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if '.tmp-' in p.name)


def test_round_trip_keeps_states_and_actions_exactly(source, tmp_path, capsys):
    lerobot, back = tmp_path / 'pusht_lerobot', tmp_path / 'back.zarr'
    assert main([str(source), str(lerobot), '--fps', '10', '--task', 'push the T',
                 '--no-progress']) == 0
    assert 'zarr->lerobot: 3 episodes' in capsys.readouterr().out
    reader = LeRobotReader(lerobot)
    assert set(reader.features) >= {'observation.image', 'observation.state', 'action',
                                    'keypoint', 'n_contacts'}
    assert reader.tasks() == {0: 'push the T'}
    assert main([str(lerobot), str(back), '--no-progress', '--report',
                 str(tmp_path / 'report.json')]) == 0
    assert 'lerobot->zarr: 3 episodes' in capsys.readouterr().out
    assert ReplayBuffer.open(back).root_attrs()['fps'] == 10  # the rate comes back too
    (orig, orig_ends), (copy, copy_ends) = arrays(source), arrays(back)
    assert np.array_equal(orig_ends, copy_ends)
    assert set(copy) == set(orig)
    for key in ('state', 'action', 'keypoint', 'n_contacts'):
        assert copy[key].dtype == orig[key].dtype and np.array_equal(copy[key], orig[key]), key
    assert copy['img'].dtype == np.uint8 and copy['img'].shape == orig['img'].shape
    err = np.abs(copy['img'].astype(np.float32) - orig['img'])
    assert err.mean() < 2.0, err.mean()  # libsvtav1 CRF 30: about 1 per value
    assert leftovers(tmp_path) == []


def test_key_map_and_key_selection(source, tmp_path):
    lerobot, back = tmp_path / 'lr', tmp_path / 'back.zarr'
    main([str(source), str(lerobot), '--fps', '10', '--keys', 'img', 'state', 'action',
          '--map', 'state=observation.environment_state', '--map', 'img=observation.images.top',
          '--no-progress'])
    own = [k for k in LeRobotReader(lerobot).features
           if k in ('observation.images.top', 'observation.environment_state', 'action')]
    assert len(own) == 3
    assert 'keypoint' not in LeRobotReader(lerobot).features
    main([str(lerobot), str(back), '--map', 'state=observation.environment_state',
          '--no-progress'])
    copy, _ = arrays(back)
    assert set(copy) == {'observation.images.top', 'state', 'action'}
    assert np.array_equal(copy['state'], arrays(source)[0]['state'])


def test_the_camera_crop_and_topics_travel_to_lerobot_into_training_and_back(source, tmp_path):
    # bag2zarr's camera crop and recorded topics (attrs on data/img, data/action) are kept in
    # info.json, seen by training's shape_meta from the LeRobot copy, and restored on the way
    # back: never silently lost
    import json
    import shutil

    from training.dataset_meta import dataset_shape_meta

    cam = [{'kind': 'image', 'topic': '/cam/image_raw', 'width': None}]
    commands = [{'kind': 'joint_trajectory', 'topic': f'/{arm}/joint_trajectory', 'width': 1,
                 'prefix': f'{arm}_'} for arm in ('left', 'right')]  # two arms' prefixes too
    cropped = tmp_path / 'cropped.zarr'
    shutil.copytree(source, cropped)
    data = ReplayBuffer.open(cropped, mode='r+').data
    data['img'].attrs.update({'camera_crop': [1, 2, 300, 300], 'sources': cam})
    data['action'].attrs['sources'] = commands
    lerobot, back = tmp_path / 'lr', tmp_path / 'back.zarr'
    assert main([str(cropped), str(lerobot), '--fps', '10', '--keys', 'img', 'state', 'action',
                 '--no-progress']) == 0
    info = json.loads((lerobot / 'meta' / 'info.json').read_text())
    assert info['features']['observation.image']['camera_crop'] == [1, 2, 300, 300]
    assert info['features']['observation.image']['sources'] == cam
    assert info['features']['action']['sources'] == commands
    assert 'sources' not in info['features']['observation.state']  # none recorded
    meta = dataset_shape_meta(lerobot)
    assert meta['obs']['image']['camera_crop'] == [1, 2, 300, 300]
    assert meta['obs']['image']['sources'] == cam and meta['action']['sources'] == commands
    assert main([str(lerobot), str(back), '--no-progress']) == 0
    back_data = ReplayBuffer.open(back).data
    assert back_data['img'].attrs['camera_crop'] == [1, 2, 300, 300]
    assert back_data['img'].attrs['sources'] == cam
    assert back_data['action'].attrs['sources'] == commands
    assert 'camera_crop' not in ReplayBuffer.open(source).data['img'].attrs


def test_joint_names_travel_to_lerobot_into_training_and_back(source, tmp_path):
    # the names bag2zarr records (attrs names on data/state, data/action) are LeRobot's
    # feature names in info.json, reach shape_meta (sliced as the observation uses them)
    # and come back: the node checks its joint parameters against them
    import json
    import shutil

    from training.dataset_meta import dataset_shape_meta

    named = tmp_path / 'named.zarr'
    shutil.copytree(source, named)
    state_names = ['agent_x', 'agent_y', 'block_x', 'block_y', 'block_angle']
    store = ReplayBuffer.open(named, mode='r+')
    store.data['state'].attrs['names'] = state_names
    store.data['action'].attrs['names'] = ['agent_x', 'agent_y']
    lerobot, back = tmp_path / 'lr', tmp_path / 'back.zarr'
    assert main([str(named), str(lerobot), '--fps', '10', '--keys', 'img', 'state', 'action',
                 '--no-progress']) == 0
    features = json.loads((lerobot / 'meta' / 'info.json').read_text())['features']
    assert features['observation.state']['names'] == state_names
    assert features['action']['names'] == ['agent_x', 'agent_y']
    for path in (named, lerobot):
        meta = dataset_shape_meta(path)
        assert meta['obs']['agent_pos']['names'] == ['agent_x', 'agent_y']  # state[0:2]
        assert meta['action']['names'] == ['agent_x', 'agent_y']
    assert main([str(lerobot), str(back), '--no-progress']) == 0
    assert ReplayBuffer.open(back).data['state'].attrs['names'] == state_names
    # a dataset without names (the paper's) gives none: nothing is made up
    assert 'names' not in dataset_shape_meta(source)['action']


def test_a_failed_conversion_leaves_no_output_and_the_old_one_intact(source, tmp_path,
                                                                     monkeypatch):
    calls = []
    real = LeRobotWriter.add_episode

    def failing(self, episode, task=''):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as Ctrl-C in the middle
        return real(self, episode, task)

    monkeypatch.setattr(LeRobotWriter, 'add_episode', failing)
    out = tmp_path / 'lr'
    with pytest.raises(KeyboardInterrupt):
        main([str(source), str(out), '--fps', '10', '--no-progress'])
    assert not out.exists() and leftovers(tmp_path) == []
    (out / 'meta').mkdir(parents=True)  # an earlier dataset (--overwrite replaces only one)
    (out / 'meta' / 'info.json').write_text('{}')
    (out / 'keep.txt').write_text('old')
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        main([str(source), str(out), '--fps', '10', '--overwrite', '--no-progress'])
    assert (out / 'keep.txt').read_text() == 'old' and leftovers(tmp_path) == []


def hang_encoders(monkeypatch, where: str, hung: int | None) -> threading.Event:
    """The first `hung` encoders (None: all) block in `where` ('flush': their end-of-stream
    flush, 'frames': their first frame) until the event returned is set, as SVT-AV1 4.1.0
    does now and then; no progress counts as a hang after 0.5 s."""
    from training import lerobot_format

    released, calls = threading.Event(), []
    name = {'flush': '_flush', 'frames': '_encode'}[where]
    real = getattr(lerobot_format._Segment, name)
    seen: set[int] = set()

    def maybe_hanging(self, *args):
        if id(self) not in seen:
            seen.add(id(self))
            calls.append(self)
        if hung is None or calls.index(self) < hung:
            released.wait(600)
        return real(self, *args)

    monkeypatch.setattr(lerobot_format, 'STALL_S', 0.5)
    monkeypatch.setattr(lerobot_format._Segment, name, maybe_hanging)
    return released


def assert_same_dataset(out, clean) -> None:
    """`out` holds the files of `clean`, and its videos the same frames."""
    files = sorted(p.relative_to(out) for p in out.rglob('*') if p.is_file())
    assert files == sorted(p.relative_to(clean) for p in clean.rglob('*') if p.is_file())
    ours, theirs = LeRobotReader(out), LeRobotReader(clean)
    timestamps = ours.read_columns(['timestamp'])['timestamp'].reshape(-1)
    for key in ours.video_keys:
        np.testing.assert_array_equal(ours.video_frames(key, timestamps),
                                      theirs.video_frames(key, timestamps))


@pytest.mark.parametrize('where', ['flush', 'frames'])
def test_encoders_that_never_return_fail_the_conversion_and_leave_nothing(where, source,
                                                                          tmp_path,
                                                                          monkeypatch):
    """Every encoder hangs (at its flush, or inside a frame): the conversion fails once the
    episode's second encoder made no progress either, with a one-line reason and the way
    around it, not waits for good."""
    from training import lerobot_format

    released = hang_encoders(monkeypatch, where, None)
    out = tmp_path / 'lr'
    try:
        with pytest.raises(lerobot_format.LeRobotFormatError) as failure:
            main([str(source), str(out), '--fps', '10', '--no-progress'])
    finally:
        released.set()
    message = str(failure.value)
    assert 'encoder on frames 0-' in message and 'made no progress for 0.5 s, with 2 ' \
        'encoders in turn' in message, message
    assert '--vcodec h264' in message and '\n' not in message
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize('where', ['flush', 'frames'])
def test_an_encoder_that_hangs_costs_its_episode_a_fresh_encoder_not_the_conversion(
        where, source, tmp_path, monkeypatch, caplog):
    """The first episode's encoder hangs (CI saw SVT-AV1 hang at a flush; a loop here, inside a
    frame): the episode is encoded again by a fresh encoder, said once, and the dataset is
    frame for frame the one a conversion without the hang writes, with no file left over."""
    clean = tmp_path / 'clean'
    assert main([str(source), str(clean), '--fps', '10', '--no-progress']) == 0
    released = hang_encoders(monkeypatch, where, 1)
    out = tmp_path / 'lr'
    try:
        with caplog.at_level('WARNING', logger='training.lerobot_format'):
            assert main([str(source), str(out), '--fps', '10', '--no-progress']) == 0
    finally:
        released.set()
    said = [r.getMessage() for r in caplog.records if 'fresh encoder' in r.getMessage()]
    assert len(said) == 1 and 'encoder on frames 0-' in said[0], said
    assert_same_dataset(out, clean)


def refuse_packets(monkeypatch, refused: int | None) -> None:
    """The first `refused` encoders (None: all) give their first packet last, after their
    end-of-stream flush, as SVT-AV1 4.1.0 now and then gives one out of order: the mp4 muxer
    refused it ('non monotonically increasing dts', EINVAL) in a CI run."""
    from training import lerobot_format

    real_encode, real_flush = lerobot_format._Segment._encode, lerobot_format._Segment._flush
    segments: list = []

    def chosen(segment) -> bool:
        if segment not in segments:
            segments.append(segment)
            segment.held = []
        return refused is None or segments.index(segment) < refused

    def encode(self, frame):
        packets = real_encode(self, frame)
        if chosen(self) and not self.held and packets:
            self.held, packets = packets[:1], packets[1:]
        return packets

    def flush(self):
        return real_flush(self) + (self.held if chosen(self) else [])

    monkeypatch.setattr(lerobot_format._Segment, '_encode', encode)
    monkeypatch.setattr(lerobot_format._Segment, '_flush', flush)


def test_an_encoder_whose_packets_the_muxer_refuses_costs_its_episode_a_fresh_encoder(
        source, tmp_path, monkeypatch, caplog):
    """Defect: a packet SVT-AV1 returned out of order failed the whole conversion (CI: 'Invalid
    argument ... segment-4.mp4'; here 7 of 450 conversions of 10 small videos, three at
    once). The episode is encoded again by a fresh encoder, said once with FFmpeg's reason,
    and the dataset is frame for frame the one a conversion without it writes."""
    clean = tmp_path / 'clean'
    assert main([str(source), str(clean), '--fps', '10', '--no-progress']) == 0
    refuse_packets(monkeypatch, 1)
    out = tmp_path / 'lr'
    with caplog.at_level('WARNING', logger='training.lerobot_format'):
        assert main([str(source), str(out), '--fps', '10', '--no-progress']) == 0
    said = [r.getMessage() for r in caplog.records if 'fresh encoder' in r.getMessage()]
    assert len(said) == 1 and 'encoder on frames 0-' in said[0], said
    assert 'gave packets the mp4 muxer refused (a packet out of order: decoding time ' in \
        said[0], said
    assert_same_dataset(out, clean)


def test_encoders_whose_packets_are_always_refused_fail_the_conversion_and_leave_nothing(
        source, tmp_path, monkeypatch):
    """Every encoder's packets refused: one line naming the encoder, the frames, FFmpeg's
    reason and the way around it, after the episode's second encoder; nothing written."""
    from training import lerobot_format

    refuse_packets(monkeypatch, None)
    out = tmp_path / 'lr'
    with pytest.raises(lerobot_format.LeRobotFormatError) as failure:
        main([str(source), str(out), '--fps', '10', '--no-progress'])
    message = str(failure.value)
    assert 'encoder on frames 0-' in message and 'a packet out of order' in message
    assert 'with 2 encoders in turn' in message and '--vcodec h264' in message, message
    assert '\n' not in message
    assert not out.exists() and leftovers(tmp_path) == []


def test_an_existing_output_needs_overwrite(source, tmp_path):
    (tmp_path / 'lr').mkdir()
    with pytest.raises(ConvertError, match='--overwrite'):
        main([str(source), str(tmp_path / 'lr'), '--fps', '10', '--no-progress'])


def test_an_output_linked_to_another_folder_is_written_there_and_stays_a_link(source, tmp_path):
    """Defect: the swap replaced the link with a directory on the link's disk and left the
    link under a hidden name."""
    (tmp_path / 'big').mkdir()
    link = tmp_path / 'data' / 'lr'
    link.parent.mkdir()
    link.symlink_to(tmp_path / 'big' / 'lr')
    for extra in ([], ['--overwrite']):
        assert main([str(source), str(link), '--fps', '10', '--no-progress', *extra]) == 0
        assert link.is_symlink() and LeRobotReader(tmp_path / 'big' / 'lr').tasks()
        assert sorted(p.name for p in link.parent.iterdir()) == ['lr']
        assert sorted(p.name for p in (tmp_path / 'big').iterdir()) == ['lr']


def test_bad_arguments_are_refused(source, tmp_path):
    with pytest.raises(ConvertError, match='ZARR_KEY=LEROBOT_KEY'):
        main([str(source), str(tmp_path / 'x'), '--fps', '10', '--map', 'img'])
    with pytest.raises(ConvertError, match='has no data/bogus'):
        main([str(source), str(tmp_path / 'x'), '--fps', '10', '--keys', 'bogus',
              '--no-progress'])
    with pytest.raises(ConvertError, match='several zarr keys'):
        lerobot_convert.parse_key_map(['state=x', 'action=x'])
    # a map to a default's LeRobot name replaces that default; with both keys in the store
    # the conversion is refused, naming them
    assert lerobot_convert.parse_key_map(['state=action']) == {
        'img': 'observation.image', 'state': 'action'}
    with pytest.raises(ConvertError, match="'action' and 'state' would both become"):
        main([str(source), str(tmp_path / 'x'), '--fps', '10', '--map', 'state=action',
              '--no-progress'])
    assert not (tmp_path / 'x').exists()


def test_a_key_mapped_to_a_default_name_takes_it_when_the_store_has_no_such_key(
        source, tmp_path):
    """`--map my_action=action` on a store whose actions are `my_action` (bag2zarr with a
    renamed key) converts, and back again."""
    data, ends = arrays(source)
    data['my_action'] = data.pop('action')
    renamed = tmp_path / 'renamed.zarr'
    ReplayBuffer.from_arrays(data, ends).save_to(renamed, progress=False)
    lerobot, back = tmp_path / 'lr', tmp_path / 'back.zarr'
    assert main([str(renamed), str(lerobot), '--fps', '10', '--keys', 'state', 'my_action',
                 '--map', 'my_action=action', '--no-progress']) == 0
    assert {'action', 'observation.state'} <= set(LeRobotReader(lerobot).features)
    assert 'my_action' not in LeRobotReader(lerobot).features
    assert main([str(lerobot), str(back), '--map', 'my_action=action', '--no-progress']) == 0
    copy, _ = arrays(back)
    assert set(copy) == {'state', 'my_action'}
    assert np.array_equal(copy['my_action'], data['my_action'])


@pytest.mark.parametrize('case', ['missing source', 'no fps', 'existing output', 'slash',
                                  'collision'])
def test_errors_are_one_line_and_exit_2(case, source, tmp_path):
    out = [str(source), str(tmp_path / 'out'), '--fps', '10']
    args = {'missing source': [str(tmp_path / 'absent.zarr'), str(tmp_path / 'out')],
            'no fps': [str(source), str(tmp_path / 'out')],
            'existing output': [str(source), str(tmp_path), '--fps', '10'],
            'slash': [*out, '--map', 'state=observation/state'],  # lerobot refuses '/'
            'collision': [*out, '--map', 'keypoint=n_contacts']}[case]  # two keys, one name
    words = {'missing source': 'absent.zarr', 'no fps': '--fps',
             'existing output': '--overwrite', 'slash': "'/'", 'collision': "'n_contacts'"}[case]
    proc = subprocess.run(module_cmd('dp_ros.cli', 'convert', *args, '--no-progress'),
                          env=checkout_env(), capture_output=True, text=True, timeout=120)
    lines = nonempty_lines(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith('dp-ros convert: '), proc.stderr
    assert words in lines[0]
    assert not (tmp_path / 'out').exists()
