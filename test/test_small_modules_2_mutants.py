"""Behaviour of five small modules that their other tests left unpinned (a mutation review of
training/warm_start.py, training/train_metrics.py, sim_bridge/pusht_render.py,
sim_bridge/arm_sensors.py and dp_ros/app/node_control.py): train.init_from refuses a
policy.json that is a directory as no checkpoint, reads an old key's policy without a
DeprecationWarning, names the fields that differ sorted and comma-separated, says an
observation order apart from other shape_meta differences (not both), names four sources
recorded otherwise and counts the rest, and drops a frame size the checkpoint never recorded;
the validation episodes a warm start trained on are found for the very dataset it trained on
too, and a split without train_episodes or a digest (or None) says nothing. The validation
loss deals batches round-robin over the ranks with a generator per rank and sums over them; a
rank's closed-loop evaluation runs its own seeds, its sampling seed and video episodes from
the config (a tile labelled with its own seed), writes no video (nor warns) without frames
and warns of one it cannot write; the action MSE samples with eval.sampler. The Push-T canvas
is an array of its own (not a view of the reused surface, nor the one resize gives back); the
walls' corner where two segments begin is rounded, a rotated block's outline is offset by the
normalised orthogonal, contacts are anti-aliased; the action marker is truncated to the pixel
as the paper's astype, int(8/96*size) wide, and drawn on a frame smaller than 96 px. A camera
schedule's defaults are 30 Hz from t=0, a NaN rate is refused and substep stamps since the
epoch do not overflow. `dp-ros node`'s name checks, requests and timeout defaults, the
managed node named when no node answers `state`, and an answer without a message said as its
action (a real node).

A defect it found, mended and pinned: a --node name too long for a ROS service name (rcl's
247 characters with /change_state) was accepted, and rclpy's InvalidServiceNameException
was a traceback; it is a one-line error naming --node.

Each test kills a mutant the modules' other tests let live. Everything runs on tiny inputs: a
tiny random checkpoint, synthetic windows, closed-loop episodes of 8 to 30 steps.
"""
from __future__ import annotations

import contextlib
import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from support import make_tiny_checkpoint, one_torch_thread, tiny_pusht_config  # noqa: F401
from test_train_metrics_edges import _Windows

from dp_ros.errors import UserError
from dp_ros.policy.config import PolicyConfig
from training.errors import TrainConfigError


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('ck') / 'ck')


def _edited(tiny_checkpoint: Path, tmp_path: Path, edit) -> Path:
    copy = Path(shutil.copytree(tiny_checkpoint, tmp_path / 'edited'))
    meta = json.loads((copy / 'policy.json').read_text())
    edit(meta)
    (copy / 'policy.json').write_text(json.dumps(meta))
    return copy


# --- training/warm_start.py -----------------------------------------------------------------

def test_a_policy_json_that_is_a_directory_is_no_checkpoint(tmp_path):
    from training.warm_start import init_checkpoint

    (tmp_path / 'policy.json').mkdir()
    with pytest.raises(FileNotFoundError, match='no policy checkpoint'):
        init_checkpoint(tmp_path)


def test_an_old_keys_policy_is_checked_without_a_deprecation_warning(tiny_checkpoint,
                                                                     tmp_path):
    """load_policy warns once about 'control_period', later: not the config check too."""
    from training.warm_start import check_init_policy

    old = _edited(tiny_checkpoint, tmp_path,
                  lambda m: m.__setitem__('control_period', m.pop('control_period_s')))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert check_init_policy(old, tiny_pusht_config()) == old
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning)], caught


def test_the_fields_that_differ_are_named_sorted_and_comma_separated(tiny_checkpoint):
    from training.warm_start import check_init_policy

    with pytest.raises(TrainConfigError, match=r'differs from this config in down_dims, '
                                               r'n_obs_steps$'):
        check_init_policy(tiny_checkpoint, tiny_pusht_config(n_obs_steps=1,
                                                             down_dims=(16, 32, 64)))


def _obs_reversed(config: PolicyConfig, **shape_edit) -> PolicyConfig:
    d = config.to_dict()
    obs = d['shape_meta']['obs']
    for key, shape in shape_edit.items():
        obs[key]['shape'] = shape
    d['shape_meta']['obs'] = dict(reversed(list(obs.items())))
    return PolicyConfig.from_dict(d)


def test_an_observation_order_is_said_once_and_only_when_shape_meta_is_otherwise_equal(
        tiny_checkpoint):
    from training.warm_start import check_init_policy

    with pytest.raises(TrainConfigError, match=r'in shape_meta \(its observations in the order '
                                               r'image, agent_pos, this config.s agent_pos, '
                                               r'image: the order of their features\)$'):
        check_init_policy(tiny_checkpoint, _obs_reversed(tiny_pusht_config()))
    with pytest.raises(TrainConfigError, match=r'differs from this config in shape_meta$'):
        check_init_policy(tiny_checkpoint,
                          _obs_reversed(tiny_pusht_config(), agent_pos=[3]))


def _with_sources(meta: dict, topic: str, rates: tuple[str, ...] = ()) -> None:
    """Sources of the action, agent_pos and image on topics /<topic>_<key>; rates (10 Hz)
    recorded for the keys in `rates`."""
    for key, entry, kind, width in [('action', meta['action'], 'float_array', 2),
                                    ('agent_pos', meta['obs']['agent_pos'], 'joint_state', 2),
                                    ('image', meta['obs']['image'], 'image', None)]:
        entry['sources'] = [{'kind': kind, 'topic': f'/{topic}_{key}', 'width': width,
                             **({'rate_hz': 10.0} if key in rates else {})}]


@pytest.mark.parametrize('rates, more', [(('action', 'agent_pos', 'image'), '; 2 more'),
                                         (('image',), '')])
def test_the_warning_of_data_recorded_otherwise_names_four_differences_and_counts_the_rest(
        tiny_checkpoint, tmp_path, caplog, rates, more):
    """Topics and rates of three entries: six differences, four named and '2 more'; three
    topics and a rate: all four, nothing more."""
    from training.warm_start import check_init_policy

    theirs = _edited(tiny_checkpoint, tmp_path,
                     lambda m: _with_sources(m['config']['shape_meta'], 'old'))
    ours = tiny_pusht_config().to_dict()
    _with_sources(ours['shape_meta'], 'new', rates)
    with caplog.at_level('WARNING', logger='training.warm_start'):
        assert check_init_policy(theirs, PolicyConfig.from_dict(ours)) == theirs
    said = caplog.text.split('its data was recorded otherwise (')[1].split('); the weights')[0]
    assert said.count(' -> ') == 4 and said.count('; ') == 3 + bool(more), said
    assert said.endswith(more or '/new_image'), said


def test_a_frame_size_the_checkpoint_did_not_record_is_dropped():
    from training.warm_start import names_only_where_recorded

    ours = {'obs': {'image': {'shape': [3, 8, 8], 'frame_size': [480, 640]}},
            'action': {'shape': [2]}}
    theirs = {'obs': {'image': {'shape': [3, 8, 8]}}, 'action': {'shape': [2]}}
    assert names_only_where_recorded(ours, theirs) == theirs


def test_without_sources_leaves_its_argument_as_it_was():
    from training.warm_start import without_sources

    meta = {'obs': {'s': {'shape': [1], 'sources': [{'topic': '/a'}]}},
            'action': {'shape': [1], 'sources': [{'topic': '/b'}]}}
    assert without_sources(meta) == {'obs': {'s': {'shape': [1]}}, 'action': {'shape': [1]}}
    assert meta['action']['sources'] == [{'topic': '/b'}]
    assert meta['obs']['s']['sources'] == [{'topic': '/a'}]


def test_validation_trained_on_the_very_dataset_and_a_split_without_train_episodes():
    from training.dataset_meta import episodes_digest
    from training.warm_start import validation_trained_on

    ends = np.arange(1, 13) * 10
    split = {'n_episodes': 12, 'episode_ends_sha256': episodes_digest(ends),
             'val_episodes': [0], 'train_episodes': list(range(1, 12))}
    # the same dataset, its split drawn anew (another seed or val_ratio); sorted ({9, 2}
    # iterates 9 first)
    assert validation_trained_on({'split': split}, {'val_episodes': [9, 2]}, ends) == [2, 9]
    no_train = {k: v for k, v in split.items() if k != 'train_episodes'}
    assert validation_trained_on({'split': no_train}, {'val_episodes': [1]}, ends) == []
    assert validation_trained_on({'split': None}, {'val_episodes': [1]}, ends) == []
    no_digest = {k: v for k, v in split.items() if k != 'episode_ends_sha256'}
    assert validation_trained_on({'split': no_digest}, {'val_episodes': [1]}, ends) == []


# --- training/train_metrics.py --------------------------------------------------------------

class _SeedRecordingLoss(torch.nn.Module):
    """A stand-in policy: its loss the batch's mean; records its generator's seed."""

    def __init__(self) -> None:
        super().__init__()
        self.seeds: list[int] = []

    def compute_loss(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        self.seeds.append(generator.initial_seed())
        return batch['x'].mean()


class _SecondOfTwoRanks:
    """Rank 1 of 2 on the CPU; reduce('sum') adds rank 0's part (its batches 0 and 2)."""

    process_index, num_processes, device = 1, 2, torch.device('cpu')

    def __init__(self) -> None:
        self.others = [torch.tensor(0.5 + 4.5), torch.tensor(2.0)]  # total, count

    def autocast(self):
        return contextlib.nullcontext()

    def reduce(self, tensor: torch.Tensor, op: str) -> torch.Tensor:
        assert op == 'sum'
        return tensor + self.others.pop(0)


def test_validation_loss_deals_batches_over_the_ranks_and_sums_them():
    """Batches [0, 1], [2, 3], [4, 5], [6]: rank 1 measures the 2nd and 4th (2.5 and 6.0),
    with a generator of its own seed; the ranks' totals and counts are summed: the mean of
    all four batches."""
    from training.config import DataConfig
    from training.train_metrics import validation_loss

    policy = _SeedRecordingLoss()
    loss = validation_loss(policy, _Windows(7), DataConfig(batch_size=2), _SecondOfTwoRanks(),
                           seed=10, max_batches=None)
    assert loss == pytest.approx(np.mean([0.5, 2.5, 4.5, 6.0]))
    assert policy.seeds == [11, 11]


@pytest.fixture(scope='module')
def tiny_policy(tiny_checkpoint):
    from dp_ros.policy.checkpoint import load_policy

    return load_policy(tiny_checkpoint)


def _eval(**kwargs):
    from training.config import EvalConfig

    return EvalConfig(**{'n_episodes': 2, 'max_steps': 8, 'n_video_episodes': 0, **kwargs})


def test_a_ranks_closed_loop_evaluation_runs_its_own_seeds_without_a_video(tiny_policy,
                                                                          tmp_path, caplog):
    """Rank 1 of 2 runs the 2nd of 3 seeds alone (gather_object outside a distributed run
    gives its own part back); the video's first episode is rank 0's: none here, and no warning of
    a video it could not write."""
    from training.train_metrics import closed_loop_metrics

    with caplog.at_level('WARNING', logger='dp_ros.train'):
        out = closed_loop_metrics(tiny_policy, _eval(start_seed=7, n_episodes=3,
                                                     n_video_episodes=1),
                                  rank=1, world=2, progress=False, should_stop=lambda: False,
                                  video_path=tmp_path / 'v.gif')
    assert list(out['test/scores']) == ['8'] and out['test/n_episodes'] == 1
    assert 'video' not in out and not (tmp_path / 'v.gif').exists()
    assert caplog.text == ''


def test_the_closed_loop_evaluation_samples_with_its_configs_sample_seed(tiny_policy):
    from training.closed_loop import run_closed_loop
    from training.train_metrics import closed_loop_metrics

    e = _eval(n_episodes=1, start_seed=100001, sample_seed=3, max_steps=30)
    out = closed_loop_metrics(tiny_policy, e, rank=0, world=1, progress=False,
                              should_stop=lambda: False)
    kwargs = dict(max_steps=30, sampler=e.sampler, num_inference_steps=e.num_inference_steps,
                  progress=False)
    three = run_closed_loop(tiny_policy, e.seeds, sample_seed=3, **kwargs)
    zero = run_closed_loop(tiny_policy, e.seeds, sample_seed=0, **kwargs)
    assert three.scores != zero.scores  # else this test says nothing
    assert out['test/scores'] == {str(e.seeds[0]): three.scores[0]}


# --- sim_bridge/pusht_render.py -------------------------------------------------------------

def _red(img: np.ndarray) -> np.ndarray:
    return (img[..., 0] == 255) & (img[..., 1] == 0) & (img[..., 2] == 0)


def test_a_canvas_is_its_own_array_not_the_reused_surfaces_pixels():
    """The env reuses one surface for every frame: a frame already given back (a video's
    list of them) stays as it was when the next is drawn, and resize to the canvas's own
    size gives a copy (the action marker is drawn on what it gives)."""
    from sim_bridge import pusht_render as pr

    surface = pr.new_surface()
    first = pr.draw_scene((100.0, 100.0), [], [], surface=surface)
    kept = first.copy()
    pr.draw_scene((300.0, 300.0), [], [], surface=surface)
    assert np.array_equal(first, kept)
    same_size = pr.resize(first, first.shape[0])
    assert np.array_equal(same_size, first) and not np.shares_memory(same_size, first)
    pr.draw_action_marker(same_size, [256.0, 256.0])
    assert np.array_equal(first, kept)


def test_the_action_marker_is_truncated_to_the_pixel_as_the_papers_astype():
    """255.9 / 512 * 96 = 47.98: the paper's astype(np.int32) puts the cross at 47, not 48."""
    from sim_bridge import pusht_render as pr

    img = np.full((96, 96, 3), 255, dtype=np.uint8)
    pr.draw_action_marker(img, [255.9, 100.0])
    ys, xs = np.nonzero(_red(img))
    assert xs.min() + xs.max() == 2 * 47 and ys.min() + ys.max() == 2 * 18


def test_the_action_marker_is_drawn_on_a_frame_smaller_than_96_px():
    """int(1/96*48) is 0, which cv2 refuses: at least 1 px thick."""
    from sim_bridge import pusht_render as pr

    img = np.full((48, 48, 3), 255, dtype=np.uint8)
    pr.draw_action_marker(img, [256.0, 256.0])
    assert _red(img)[24, 24] and _red(img).sum() >= 5


@pytest.mark.parametrize('size', [96, 108])
def test_the_action_marker_is_int_8_96ths_of_the_frame_wide(size):
    """cv2's cross spans markerSize // 2 either side: int(8/96*108) = 9 gives 4, not 5."""
    from sim_bridge import pusht_render as pr

    img = np.full((size, size, 3), 255, dtype=np.uint8)
    pr.draw_action_marker(img, [256.0, 256.0])
    xs = np.nonzero(_red(img))[1]
    assert xs.max() - xs.min() + 1 == 2 * (int(8 / 96 * size) // 2) + 1


def test_the_walls_corner_where_two_segments_begin_is_rounded():
    """(5, 506) begins two wall segments and ends none: its round cap is the p1 end's."""
    from sim_bridge import pusht_render as pr

    img = pr.draw_scene((100.0, 100.0), [], [])
    assert tuple(img[507, 4]) == (211, 211, 211)  # LightGray


def test_a_rotated_blocks_outline_is_offset_by_the_normalised_orthogonal():
    """The override's fat segment offsets its corners by radius / |orthogonal|: at 1 rad
    the stem's outline covers these pixels (radius / (|dx| + |dy|) left them white)."""
    from sim_bridge import pusht_render as pr
    from sim_bridge.pusht_geometry import T_PARTS, pose_to_world

    block = [pose_to_world(np.array(p), np.array((256.0, 300.0, 1.0))) for p in T_PARTS]
    img = pr.draw_scene((100.0, 100.0), block, [])
    for y, x in [(250, 220), (251, 218), (252, 216)]:
        assert tuple(img[y, x]) == (119, 136, 153), (y, x)  # LightSlateGray


def test_a_contact_segment_is_drawn_anti_aliased():
    from sim_bridge import pusht_render as pr

    img = pr.draw_scene((100.0, 100.0), [], [], contacts=[((100.0, 200.0), (150.0, 220.0))])
    region = img[195:226, 95:156].reshape(-1, 3)
    exact = (region == (231, 76, 60)).all(-1)
    white = (region == 255).all(-1)
    assert exact.sum() >= 10 and (~exact & ~white).sum() >= 10


# --- sim_bridge/arm_sensors.py --------------------------------------------------------------

def test_a_camera_schedules_defaults_are_30_hz_from_time_zero():
    from sim_bridge.arm_sensors import CameraSchedule

    cam = CameraSchedule()
    assert cam.rate_hz == 30.0
    assert cam.due(0) and cam.next_due_ns() == 33_333_333


def test_a_nan_camera_rate_is_refused():
    from sim_bridge.arm_sensors import CameraSchedule

    with pytest.raises(ValueError, match='camera rate'):
        CameraSchedule(rate_hz=math.nan)


@pytest.mark.parametrize('rate', [30.0, 7.0, 29.97])
def test_a_frame_due_long_after_the_start_is_found_at_once(rate):
    """A substep at an epoch stamp against a schedule started at 0 (no reset): the frame due,
    the next one after it, found without stepping through the 5e10 frames missed (it did)."""
    from sim_bridge.arm_sensors import CameraSchedule

    cam = CameraSchedule(rate_hz=rate)
    t = 1_765_000_000 * 10 ** 9 + 123_456_789
    assert cam.due(t) and not cam.due(t)
    n = cam._n
    assert cam.next_due_ns() > t >= cam.start_ns + round((n - 1) * 1e9 / rate)
    # near the start, every frame as before: the first 10 ms substep at or after each due time
    cam = CameraSchedule(rate_hz=rate)
    ticks = [k * 10_000_000 for k in range(300)]
    taken = {-(-round(n * 1e9 / rate) // 10_000_000) * 10_000_000 for n in range(200)}
    assert [t for t in ticks if cam.due(t)] == sorted(t for t in taken if t <= ticks[-1])


def test_substep_stamps_since_the_epoch_do_not_overflow():
    """A node's clock counts ns since 1970 (1.7e18): beyond int32."""
    from sim_bridge.arm_sensors import SUBSTEP_NS, substep_stamps

    start = 1_765_000_000 * 10 ** 9
    stamps = substep_stamps(start)
    assert stamps.dtype == np.int64
    assert stamps.tolist() == [start + k * SUBSTEP_NS for k in range(1, 11)]


# --- dp_ros/app/node_control.py -------------------------------------------------------------

@pytest.mark.parametrize('given, full', [
    (' /dp_policy ', '/dp_policy'), ('/dp_policy/', '/dp_policy'),
    ('left/dp_policy', '/left/dp_policy'), ('_a1/b_2', '/_a1/b_2')])
def test_a_node_name_is_made_absolute(given, full):
    from dp_ros.app.node_control import node_name

    assert node_name(given) == full


@pytest.mark.parametrize('given', ['', '/', '1abc', '/left/2nd', 'a-b', 'dp.policy', 'a b',
                                   '//dp_policy', '/left//dp_policy'])
def test_a_name_ros_cannot_take_is_refused(given):
    from dp_ros.app.node_control import node_name

    with pytest.raises(UserError, match='is not a node name'):
        node_name(given)


def test_a_node_name_too_long_for_its_services_is_refused():
    from dp_ros.app.node_control import node_name

    with pytest.raises(UserError, match=r"--node '/a{79}\.\.\. \(221 more characters\)' is no "
                       r"name a node's services can have: .* \(308 characters\) is not a valid "
                       r'service name \(topic length should not exceed'):
        node_name('/' + 'a' * 300)
    assert node_name('a' * 233) == '/' + 'a' * 233  # /change_state: 247, rcl's bound
    with pytest.raises(UserError, match=r'\(248 characters\)'):
        node_name('a' * 234)


def test_each_action_asks_its_service():
    from lifecycle_msgs.srv import ChangeState, GetState
    from std_srvs.srv import SetBool, Trigger

    from dp_ros.app.node_control import ACTIONS, TRANSITIONS, request_for

    assert set(ACTIONS) == {'enable', 'disable', 'reset', 'state', *TRANSITIONS}
    kind, service, request = request_for('enable')
    assert (kind, service, request.data) == (SetBool, 'enable', True)
    kind, service, request = request_for('disable')
    assert (kind, service, request.data) == (SetBool, 'enable', False)
    kind, service, _ = request_for('reset')
    assert (kind, service) == (Trigger, 'reset')
    kind, service, _ = request_for('state')
    assert (kind, service) == (GetState, 'get_state')
    for action in TRANSITIONS:
        kind, service, request = request_for(action)
        assert (kind, service, request.transition.label) == (ChangeState, 'change_state',
                                                             action)


@pytest.mark.parametrize('timeout', ['0', '-1', 'nan'])
def test_a_timeout_that_is_not_positive_is_refused(timeout):
    from dp_ros.app import node_control

    with pytest.raises(UserError, match='--timeout must be > 0 s'):
        node_control.main(['enable', '--timeout', timeout])


def test_a_configure_waits_longer_than_any_other_action():
    """Unless --timeout says: a configure 120 s (it loads and warms up the policy), the rest
    10 s (the exit codes of a refusal and of no answer: test/ros/test_node_control.py)."""
    from dp_ros.app.node_control import ACTIONS, default_timeout

    assert default_timeout('configure') == 120.0
    assert {default_timeout(a) for a in ACTIONS if a != 'configure'} == {10.0}


def test_the_action_mse_samples_with_the_evaluations_sampler(tiny_policy):
    """eval.sampler 'ddpm' on a policy that samples with DDIM: the MSE of DDPM's samples."""
    from training.train_metrics import action_mse

    gen = torch.Generator().manual_seed(1)
    b, h = 2, tiny_policy.config.horizon
    batch = {'obs': {'image': torch.rand(b, 4, 3, 96, 96, generator=gen),
                     'agent_pos': torch.rand(b, 4, 2, generator=gen) * 400 + 50},
             'action': torch.rand(b, h, 2, generator=gen) * 400 + 50}
    n_obs = tiny_policy.config.n_obs_steps
    obs = {k: v[:, :n_obs] for k, v in batch['obs'].items()}

    def mse(sampler: str) -> float:
        pred = tiny_policy.predict_action(obs, generator=torch.Generator().manual_seed(5),
                                          sampler=sampler, num_inference_steps=3)
        return ((pred['action_pred'] - batch['action']) ** 2).mean().item()

    assert tiny_policy.config.sampler == 'ddim' and mse('ddpm') != pytest.approx(mse('ddim'))
    out = action_mse(tiny_policy, batch, _eval(sampler='ddpm', num_inference_steps=3), seed=5)
    assert out['train_action_mse'] == pytest.approx(mse('ddpm'), rel=1e-5)


def test_a_video_it_cannot_write_is_a_warning_and_the_metrics_stay(tiny_policy, tmp_path,
                                                                   caplog):
    from training.train_metrics import closed_loop_metrics

    (tmp_path / 'a_file').write_text('')
    with caplog.at_level('WARNING', logger='dp_ros.train'):
        out = closed_loop_metrics(tiny_policy, _eval(n_episodes=1, n_video_episodes=1),
                                  rank=0, world=1, progress=False, should_stop=lambda: False,
                                  video_path=tmp_path / 'a_file' / 'v.gif')
    assert out['test/n_episodes'] == 1 and 'video' not in out
    assert 'could not write the evaluation video' in caplog.text


def test_a_ranks_video_tile_is_labelled_with_its_own_seed(tiny_policy, tmp_path):
    """Rank 1 of 2 with two video episodes films the 2nd (its first): the same video as a
    run of that seed alone, labelled with it (not with the first seed)."""
    from training.train_metrics import closed_loop_metrics

    kwargs = dict(progress=False, should_stop=lambda: False)
    ranks = closed_loop_metrics(tiny_policy, _eval(start_seed=7, n_episodes=2,
                                                   n_video_episodes=2),
                                rank=1, world=2, video_path=tmp_path / 'rank1.gif', **kwargs)
    alone = closed_loop_metrics(tiny_policy, _eval(start_seed=8, n_episodes=1,
                                                   n_video_episodes=1),
                                rank=0, world=1, video_path=tmp_path / 'alone.gif', **kwargs)
    assert ranks['test/scores'] == alone['test/scores']
    assert Path(ranks['video']).read_bytes() == Path(alone['video']).read_bytes()


def test_a_lifecycle_action_no_node_answers_asks_for_the_managed_node():
    """`state` and the transitions are the managed node's services: that is the node the
    one line asks about (`enable`'s asks about the policy node: test_cli_errors.py)."""
    import subprocess

    from support import checkout_env, module_cmd

    proc = subprocess.run(module_cmd('dp_ros.cli', 'node', 'state', '--node', 'nobody',
                                     '--timeout', '1'),
                          env=checkout_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        'dp-ros node: service /nobody/get_state not available after 1 s: is the managed node '
        '(policy_lifecycle_node) running as /nobody (--node), in this ROS_DOMAIN_ID and '
        'discovery range?'], proc.stderr


QUIET_RESET = '''
import rclpy
from std_srvs.srv import Trigger
rclpy.init()
node = rclpy.create_node('quiet')
def answer(request, response):
    response.success = True  # and no message
    return response
node.create_service(Trigger, '/quiet/reset', answer)
rclpy.spin(node)
'''


@pytest.mark.ros
def test_an_answer_without_a_message_is_said_as_the_action(ros_processes):
    """A node that accepts and says nothing: '/quiet: reset', not '/quiet: '."""
    import sys

    from support import module_cmd

    ros_processes.start('quiet', [sys.executable, '-c', QUIET_RESET])
    # the timeout covers discovering the node's service too
    control = ros_processes.start('control', module_cmd('dp_ros.cli', 'node', 'reset',
                                                        '--node', '/quiet', '--timeout', '60'))
    assert control.popen.wait(90) == 0, control.log()
    assert control.log().strip() == '/quiet: reset', control.log()
