"""Behaviour of `dp-ros eval`'s arguments and report, `dp-ros push` and `dp-ros replay` that
their other tests left unpinned (a mutation review of dp_ros/app/eval_report.py,
dp_ros/app/push.py and sim_bridge/replay.py).

eval: --dtype takes a padded name; a seed outside the sim's range is refused naming it, a
repeat named in order; the parser's defaults (cpu, float32, the paper's 50 seeds...); the
in-process video clash is found for a relative --output too, and not over ROS (its videos are
<stem>_epN); --num-inference-steps is checked against the checkpoint up front; a realtime
episode with one skipped period says so; the report holds plain ints and floats (numpy's
too), its own copy of the config, format version 1, and every setting as given.

push: the card's front matter (the imitation-learning tag follows the dataset), commands,
rows (low-dim observations, horizon/executed, every weights dtype, no empty rows), metrics
and provenance (0 and False are shown, a float saved_at in UTC), the training config in its
own key order and the model config indented; a hand-edited policy.json is refused; the
upload (an HfApi stand-in recording its calls, no network) stages beside the policy, passes
--private, the branch, the message and the token, and says each failure (HTTP, no token,
OSError, httpx/httpcore transport) as one HubError, re-raising anything else.

replay: an absolute --dataset taken as given; a store with meta/ but no episode_ends is no
LeRobotDataset; the messages naming a store without both datasets, one whose actions are not
2-D, and a states-only (arm-record) check; the reset reply's negative stamp; the parser's
defaults; the client (the existing ROS-free pattern: a failed reset, typed parameters and a
short reply, a sim with only some joints, a service timeout's hint, a later connection wait
keeping its sim); a synthetic 8-step episode (PushTEnv-made, its recorded states offset by
known amounts, one angle a whole turn apart) through a sim it starts: steps, rewards, max and
final reward, the three maximum errors, the episode result, the progress lines, the node's
mode (realtime too) and name; on a running node, mode 'running node'.

Defects the review found, mended and pinned at the end: an episode with no steps (a repeated
episode end) loaded as an empty episode (an IndexError traceback with --start-sim); a --json
that cannot be written was found only after the replay ran; on a running node the result of
the episode the replay's reset ended was reported as the replayed episode's (results are
now matched by the episode's start stamp); `dp-ros push --card-only` made the card's folders
for a directory it then refused.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import time
import types
from pathlib import Path

import numpy as np
import pytest
from support import (
    checkout_env,
    make_tiny_checkpoint,
    module_cmd,
    set_episode_ends,
    sim_node_cmd,
)

from dp_ros.app import push
from dp_ros.app.eval_report import (
    build_eval_parser,
    check_eval_args,
    dtype_name,
    eval_config_dict,
    make_eval_report,
    parse_seeds,
    skipped_note,
)
from dp_ros.errors import UserError
from dp_ros.policy.checkpoint import CheckpointError, read_policy_metadata
from dp_ros.policy.hub import HubError
from sim_bridge import replay
from sim_bridge.sim_node_config import MAX_SEED
from training.replay_buffer import ReplayBuffer


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('tiny') / 'policy')


def eval_args(ckpt: Path, output: Path | str, *extra: str) -> argparse.Namespace:
    return build_eval_parser().parse_args(['--checkpoint', str(ckpt), '--output', str(output),
                                           '--seeds', '1:4', *extra])


# ============================================================================ eval_report
def test_a_dtype_with_spaces_around_it_is_taken():
    assert dtype_name(' bf16 ') == 'bfloat16'


@pytest.mark.parametrize('seed', [-1, MAX_SEED + 1])
def test_a_seed_outside_the_sims_range_is_refused_naming_it(seed):
    with pytest.raises(argparse.ArgumentTypeError,
                       match=rf"seeds '{seed}': {seed} is not in the sim's range 0\.\.{MAX_SEED}"):
        parse_seeds(str(seed))
    assert parse_seeds(f'0,{MAX_SEED}') == [0, MAX_SEED]


def test_repeated_seeds_are_named_in_order():
    with pytest.raises(argparse.ArgumentTypeError, match=r'seeds \[1, 3\] given more than once'):
        parse_seeds('3,1,3,1')


def test_the_eval_parsers_defaults(tiny, tmp_path):
    """Without flags: in process, the point robot, lockstep, replace, the paper's 50 seeds,
    300 steps, sample seed 0, episode 0 filmed as mp4, on the CPU in float32, TorchScript."""
    args = build_eval_parser().parse_args(['--checkpoint', str(tiny), '--output',
                                           str(tmp_path / 'r.json')])
    assert (args.via, args.robot, args.mode, args.execution_mode) == (
        'inprocess', 'point', 'lockstep', 'replace')
    assert args.seeds == list(range(100000, 100050))
    assert (args.max_steps, args.sample_seed, args.video_episodes, args.video_format) == (
        300, 0, [0], 'mp4')
    assert (args.device, args.dtype, args.eager) == ('cpu', 'float32', False)
    assert args.sampler is None and args.num_inference_steps is None and args.threads is None


def test_a_relative_output_at_the_videos_path_is_refused(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match='the video would be written there too'):
        check_eval_args(eval_args(tiny, 'rep.gif', '--video-format', 'gif'))


def test_over_ros_a_report_named_like_a_video_is_taken(tiny, tmp_path):
    """--via ros films each episode as <stem>_epN.<format>: rep.mp4 is no clash there."""
    check_eval_args(eval_args(tiny, tmp_path / 'rep.mp4', '--via', 'ros'))


def test_inference_steps_beyond_the_checkpoints_are_refused_up_front(tiny, tmp_path):
    with pytest.raises(UserError, match='--num-inference-steps 101 must be in 1..100'):
        check_eval_args(eval_args(tiny, tmp_path / 'r.json', '--num-inference-steps', '101'))
    check_eval_args(eval_args(tiny, tmp_path / 'r.json', '--num-inference-steps', '100'))


def test_one_skipped_control_period_is_said():
    assert skipped_note(1) == '; 1 control period(s) skipped (not a clean realtime score)'
    assert skipped_note(0) == ''


def test_the_report_holds_plain_numbers_and_its_own_config():
    """numpy seeds and scores (what a batched run hands over) become int and float, so the
    report is JSON; the config is a copy; format dp_ros.eval version 1."""
    config = {'sampler': 'ddim'}
    report = make_eval_report(np.array([5, 6], np.int64), [np.float32(0.25), np.float32(0.5)],
                              config)
    json.dumps(report)
    assert [type(e['seed']) for e in report['episodes']] == [int, int]
    assert [type(e['score']) for e in report['episodes']] == [float, float]
    assert report['format'] == 'dp_ros.eval' and report['format_version'] == 1
    config['sampler'] = 'ddpm'
    assert report['config'] == {'sampler': 'ddim'}


def test_the_reports_config_is_every_setting_as_given(tiny, tmp_path):
    args = eval_args(tiny, tmp_path / 'r.json', '--via', 'ros', '--mode', 'realtime',
                     '--execution-mode', 'blend', '--sampler', 'ddim', '--num-inference-steps',
                     '7', '--sample-seed', '9', '--threads', '3', '--dtype', 'bf16',
                     '--max-steps', '11')
    check_eval_args(args)
    config = eval_config_dict(args)
    assert {k: config[k] for k in ('via', 'mode', 'execution_mode', 'sampler',
                                   'num_inference_steps', 'sample_seed', 'threads', 'dtype',
                                   'max_steps', 'device', 'robot')} == {
        'via': 'ros', 'mode': 'realtime', 'execution_mode': 'blend', 'sampler': 'ddim',
        'num_inference_steps': 7, 'sample_seed': 9, 'threads': 3, 'dtype': 'bfloat16',
        'max_steps': 11, 'device': 'cpu', 'robot': 'point'}


# ============================================================================ push: the card
def full_meta(**prov_over) -> dict:
    prov = {'step': 100, 'epoch': 0, 'ema': False, 'dataset': 'data/pusht.zarr',
            'run_dir': 'runs/x', 'saved_at': 1700000000.5,
            'metrics': {'train/loss': 0.5},
            'train_config': {'zeta': 1, 'alpha': {'horizon': 16}}}
    prov.update(prov_over)
    return {'config': {'n_obs_steps': 2, 'horizon': 16, 'n_action_steps': 8,
                       'sampler': 'ddim', 'num_inference_steps': 10},
            'obs_keys': {'rgb': ['image'], 'low_dim': ['agent_pos']},
            'obs_shapes': {'image': [3, 96, 96], 'agent_pos': [2]}, 'action_dim': 3,
            'control_period_s': 0.1,
            'weights': {'num_parameters': 1234567, 'dtypes': ['float32', 'bfloat16']},
            'provenance': prov}


@pytest.fixture
def tokyo(monkeypatch):
    """The local time zone is not UTC (the card's time must not follow it)."""
    monkeypatch.setenv('TZ', 'Asia/Tokyo')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_cards_front_matter_commands_and_rows(tokyo):
    card = push.model_card(full_meta(), 'org/x')
    lines = card.splitlines()
    assert card.startswith('---\nlibrary_name: dp_ros\npipeline_tag: robotics\ntags:\n'
                           '- robotics\n- diffusion-policy\n- ros2\n- dp_ros\n'
                           '- imitation-learning\n---\n')
    for line in ('dp-ros eval --via inprocess --checkpoint hf://org/x --output eval.json',
                 'ros2 run dp_ros policy_node --ros-args -p checkpoint:=hf://org/x',
                 '| observation `image` | image, 3x96x96 |',
                 '| observation `agent_pos` | low-dim, 2 |',
                 '| action dimensions | 3 |', '| observation steps | 2 |',
                 '| action horizon / executed | 16 / 8 |',
                 '| weights dtype | float32, bfloat16 |',
                 '- step: `100`', '- epoch: `0`', '- EMA weights: `False`',
                 '- dataset: `data/pusht.zarr`', '- run directory: `runs/x`',
                 '- saved: `2023-11-14 22:13 UTC`'):
        assert line in lines, line
    assert 'Pin a commit with `hf://org/x@<commit>`.' in card
    assert '```yaml\nzeta: 1\nalpha:\n  horizon: 16\n```' in card
    assert '```json\n{\n  "n_obs_steps": 2,\n  "horizon": 16,' in card
    assert card.endswith('```\n')


def test_the_metrics_note_and_the_none_recorded_lines():
    """The test/mean_score note only with that metric; 'None recorded' under Metrics when
    there are none, under provenance when there is none."""
    card = push.model_card(full_meta(), 'org/x')
    assert 'test/mean_score:' not in card and 'None recorded' not in card
    metrics, prov = push.model_card(full_meta(metrics={}), 'org/x').split(
        '## Training provenance')
    assert 'None recorded in policy.json.' in metrics and 'None recorded' not in prov
    bare = full_meta()
    del bare['provenance']
    metrics, prov = push.model_card(bare, 'org/x').split('## Training provenance')
    assert 'None recorded in policy.json.' in metrics and 'None recorded in policy.json.' in prov


def test_the_imitation_learning_tag_follows_the_dataset_not_the_metrics():
    def front(**prov) -> str:
        return push.model_card(full_meta(**prov), 'org/x').split('---')[1]

    assert 'imitation-learning' not in front(dataset=None)
    assert 'imitation-learning' in front(metrics={})


def test_rows_without_a_value_are_left_out():
    meta = full_meta()
    meta['weights'] = {'num_parameters': 12.5, 'dtypes': []}
    card = push.model_card(meta, 'org/x')
    assert 'weights dtype' not in card and 'parameters |' not in card
    assert '| None |' not in card and '|  |' not in card


def test_a_hand_edited_policy_is_not_pushed(tiny, tmp_path):
    policy = tmp_path / 'policy'
    policy.mkdir()
    (policy / 'model.safetensors').write_bytes((tiny / 'model.safetensors').read_bytes())
    meta = json.loads((tiny / 'policy.json').read_text())
    meta['config']['num_train_timesteps'] += 1  # a training setting, not the sampler's
    (policy / 'policy.json').write_text(json.dumps(meta))
    out = tmp_path / 'card.md'
    with pytest.raises(CheckpointError):
        push.main([str(policy), 'hf://org/x', '--card-only', str(out)])  # num_train_timesteps
    assert not out.exists()


# ============================================================================ push: the upload
class FakeHub:
    """huggingface_hub.HfApi as push_policy uses it: records every call (and what the upload
    folder held), answers a commit, or raises `fail` from upload_folder."""

    calls: list = []
    fail: BaseException | None = None

    def __init__(self, token=None, library_name=None):
        FakeHub.calls.append(('init', token, library_name))

    def create_repo(self, repo_id, repo_type, private, exist_ok):
        FakeHub.calls.append(('create_repo', repo_id, repo_type, private, exist_ok))

    def create_branch(self, repo_id, branch, exist_ok):
        FakeHub.calls.append(('create_branch', repo_id, branch, exist_ok))

    def upload_folder(self, repo_id, folder_path, revision, commit_message):
        folder = Path(folder_path)
        FakeHub.calls.append(('upload_folder', repo_id, folder.parent, revision, commit_message,
                              {p.name: p.read_bytes() for p in folder.iterdir()}))
        if FakeHub.fail is not None:
            raise FakeHub.fail
        return types.SimpleNamespace(commit_url='https://hub.test/org/x/commit/abc')


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub

    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    monkeypatch.setattr(huggingface_hub, 'HfApi', FakeHub)
    FakeHub.calls, FakeHub.fail = [], None
    return FakeHub


def test_push_stages_beside_the_policy_and_passes_every_setting(tiny, hub):
    url = push.push_policy(tiny, 'hf://org/tiny@dev', private=True, message='first',
                           token='hf_x')
    assert url == 'https://hub.test/org/x/commit/abc'
    init, create, branch, upload = hub.calls
    assert init == ('init', 'hf_x', 'dp_ros')
    assert create == ('create_repo', 'org/tiny', 'model', True, True)
    assert branch == ('create_branch', 'org/tiny', 'dev', True)
    assert upload[:5] == ('upload_folder', 'org/tiny', tiny.parent, 'dev', 'first')
    card = push.model_card(read_policy_metadata(tiny), 'org/tiny')
    assert upload[5] == {'README.md': card.encode(),
                         'policy.json': (tiny / 'policy.json').read_bytes(),
                         'model.safetensors': (tiny / 'model.safetensors').read_bytes()}
    assert not [p for p in tiny.parent.iterdir() if p.name.startswith('.push-')]


def test_push_to_main_makes_no_branch_and_names_the_folder(tiny, hub, capsys):
    assert push.main([str(tiny), 'hf://org/tiny']) == 0
    assert [c[0] for c in hub.calls] == ['init', 'create_repo', 'upload_folder']
    assert hub.calls[1][3] is False
    assert hub.calls[2][3:5] == (None, 'dp_ros policy from policy')
    assert capsys.readouterr().out == (f'dp-ros push: {tiny} -> '
                                       'https://hub.test/org/x/commit/abc\n')


def test_push_main_passes_private_and_message(tiny, hub):
    assert push.main([str(tiny), 'hf://org/tiny', '--private', '--message', 'hello']) == 0
    assert hub.calls[1][3] is True and hub.calls[2][4] == 'hello'


def _http_error():
    from huggingface_hub import errors as hf_errors

    return hf_errors.HfHubHTTPError('403 Forbidden\nno write access',
                                    response=types.SimpleNamespace(headers={}, request=None))


def _no_token():
    from huggingface_hub import errors as hf_errors

    return hf_errors.LocalTokenNotFoundError('no token found')


def _transport():
    import httpcore2

    return httpcore2.ConnectError('connection refused')


@pytest.mark.parametrize('fail, said', [
    (_http_error, 'cannot push to hf://org/tiny: 403 Forbidden no write access (a write '
                  'token: `hf auth login` or HF_TOKEN)'),
    (_no_token, 'cannot push to hf://org/tiny: no token found (a write token'),
    (lambda: PermissionError(13, 'Permission denied'),
     'cannot push to hf://org/tiny: [Errno 13] Permission denied'),
    (_transport, 'cannot push to hf://org/tiny: the Hub cannot be reached (ConnectError: '
                 'connection refused)')])
def test_each_upload_failure_is_one_hub_error(tiny, hub, fail, said):
    hub.fail = fail()
    with pytest.raises(HubError) as info:
        push.push_policy(tiny, 'hf://org/tiny')
    assert str(info.value).startswith(said) and '\n' not in str(info.value)
    assert not [p for p in tiny.parent.iterdir() if p.name.startswith('.push-')]


def test_an_unexpected_upload_error_is_not_called_a_hub_error(tiny, hub):
    hub.fail = KeyError('bug')
    with pytest.raises(KeyError):
        push.push_policy(tiny, 'hf://org/tiny')


def test_a_refused_card_only_leaves_no_folder(tmp_path):
    out = tmp_path / 'new' / 'card.md'
    with pytest.raises(CheckpointError):
        push.main([str(tmp_path), 'hf://org/x', '--card-only', str(out)])
    assert not (tmp_path / 'new').exists()


# ============================================================================ replay, no ROS
def _store(path: Path, state: np.ndarray, action: np.ndarray, ends: list[int]) -> Path:
    ReplayBuffer.from_arrays({'state': state.astype(np.float32),
                              'action': action.astype(np.float32)},
                             np.array(ends)).save_to(path, progress=False)
    return path


def test_an_absolute_dataset_is_taken_as_given(tmp_path):
    """Not resolved through a link: the messages name the path the user gave."""
    store = _store(tmp_path / 's.zarr', np.zeros((3, 5)), np.zeros((3, 2)), [3])
    (tmp_path / 'link.zarr').symlink_to(store)
    assert replay.resolve_dataset(tmp_path / 'link.zarr') == tmp_path / 'link.zarr'


def test_a_store_with_meta_but_no_episode_ends_is_no_lerobot_dataset(tmp_path):
    import zarr

    root = zarr.open_group(str(tmp_path / 's.zarr'), mode='w')
    root.create_array('meta/other', data=np.array([3], np.int64))
    with pytest.raises(ValueError, match='is not a zarr replay buffer .*no meta/episode_ends'):
        replay.load_episode(tmp_path / 's.zarr', 0)


def test_a_store_without_states_or_actions_names_both(tmp_path):
    import zarr

    root = zarr.open_group(str(tmp_path / 's.zarr'), mode='w')
    root.create_array('meta/episode_ends', data=np.array([3], np.int64))
    root.create_array('data/img', data=np.zeros((3, 2), np.uint8))
    with pytest.raises(ValueError, match='has no data/state or data/action: replay plays'):
        replay.load_episode(tmp_path / 's.zarr', 0)


def test_a_store_whose_actions_are_not_2_d_is_refused(tmp_path):
    store = _store(tmp_path / 's.zarr', np.zeros((4, 5)), np.zeros((4, 3)), [4])
    with pytest.raises(ValueError, match=r'holds states \[5\] and actions \[3\] per step; '
                                         r'replay plays Push-T episodes: states \[5\] .*, '
                                         r'actions \[2\]$'):
        replay.load_episode(store, 0)


def test_a_states_only_check_does_not_ask_for_actions(tmp_path):
    """arm-record reads the states alone: its refusal names no action width."""
    store = _store(tmp_path / 's.zarr', np.zeros((4, 3)), np.zeros((4, 2)), [4])
    with pytest.raises(ValueError) as info:
        replay.open_pusht_store(store, 'arm-record', keys=('state',))
    assert str(info.value).endswith('holds states [3] per step; arm-record plays Push-T '
                                    'episodes: states [5] (agent x, y, block x, y, angle)')


def test_a_negative_reset_stamp_is_read_with_its_sign():
    assert replay.parse_reset_message('episode 2 started (stamp_ns=-42)') == -42


def test_the_replay_parsers_defaults():
    args = replay.build_parser().parse_args([])
    assert (args.namespace, args.node_name, args.timeout) == ('/pusht', 'pusht_sim', 30.0)
    assert (args.start_sim, args.video, args.json) == (False, '', None)
    assert args.dataset == replay.DEFAULT_DATASET


def test_a_sim_with_only_some_of_the_joints_is_refused():
    """agent_x alone (of agent_x, agent_y) is not the point robot: refused at once."""
    from sensor_msgs.msg import JointState

    client = replay.ReplayClient.__new__(replay.ReplayClient)  # no ROS node: check_joints
    client.ns, client.joint_names = '/pusht', replay.JOINTS     # needs none
    with pytest.raises(RuntimeError, match=r"publishes joints \['agent_x', 'gripper'\]"):
        client.check_joints(JointState(name=['agent_x', 'gripper']))
    client.check_joints(JointState(name=['agent_y', 'agent_x', 'gripper']))


def test_a_service_that_never_answers_points_at_start_sim():
    from test_replay_client_sim_exit import _client, _Unanswered

    client = _client(None)
    client.ros = _Unanswered()
    with pytest.raises(TimeoutError, match=r'no reply from /pusht/reset after 0.2 s \(is the '
                                           r'sim node running\? see --start-sim\)'):
        client.call(None, '/pusht/reset', None, 0.2)


class _Answering:
    """BackgroundNode.call answered at once with `reply`; the requests kept."""

    def __init__(self, reply):
        self.reply, self.requests = reply, []

    def call(self, srv_type, name, request, timeout, while_waiting=None):
        self.requests.append((name, request))
        return self.reply


def _answered(reply) -> replay.ReplayClient:
    from test_replay_client_sim_exit import _client

    client = _client(None)
    client.ns, client.node_path, client.ros = '/pusht', '/pusht/pusht_sim', _Answering(reply)
    return client


def test_a_failed_reset_is_said_with_the_nodes_reason():
    from std_srvs.srv import Trigger

    client = _answered(Trigger.Response(success=False, message='all 3 seeds are used up'))
    with pytest.raises(RuntimeError, match='reset of /pusht failed: all 3 seeds are used up'):
        client.reset(1.0)


def test_parameters_are_typed_and_a_short_answer_is_a_refusal():
    """An int goes as an integer parameter, a list as doubles; a reply with fewer results
    than parameters (none set) is refused, not taken as success."""
    from rcl_interfaces.msg import ParameterType, SetParametersResult
    from rcl_interfaces.srv import SetParameters

    client = _answered(SetParameters.Response(results=[SetParametersResult(successful=True)]))
    with pytest.raises(RuntimeError, match='/pusht/pusht_sim refused the parameters'):
        client.set_parameters({'max_steps': 5, 'initial_state': [1.0, 2.0]}, 1.0)
    name, request = client.ros.requests[0]
    assert name == '/pusht/pusht_sim/set_parameters'
    steps, state = request.parameters
    assert steps.value.type == ParameterType.PARAMETER_INTEGER and steps.value.integer_value == 5
    assert state.value.type == ParameterType.PARAMETER_DOUBLE_ARRAY
    assert list(state.value.double_array_value) == [1.0, 2.0]


def test_a_later_connection_wait_keeps_the_sim_it_was_given():
    from test_replay_client_sim_exit import _client, _exited_sim, _Unmatched

    client = _client(_exited_sim())
    client.ns, client.traj_pub, client.subscriptions = '/pusht', _Unmatched(), [_Unmatched()]
    with pytest.raises(RuntimeError, match='the sim node exited with code 3'):
        client.wait_connected(1.0)


def test_an_episode_without_steps_is_refused(tmp_path):
    store = _store(tmp_path / 's.zarr', np.zeros((6, 5)), np.zeros((6, 2)), [3, 6])
    set_episode_ends(store, [3, 3, 6])
    with pytest.raises(ValueError, match=r'episode 1 of .*s\.zarr is empty \(its end in '
                       r'episode_ends, 3, is where it starts\): nothing to replay'):
        replay.load_episode(store, 1)


def test_a_json_below_a_file_is_refused_before_ros_starts(tmp_path, capsys):
    store = _store(tmp_path / 's.zarr', np.zeros((3, 5)), np.zeros((3, 2)), [3])
    (tmp_path / 'file').write_text('')
    code = replay.main(['--dataset', str(store), '--namespace', '/nobody_mutants', '--timeout',
                        '0.5', '--json', str(tmp_path / 'file' / 'summary.json')])
    assert code == 2
    assert capsys.readouterr().err == (
        f"dp-ros replay: --json {tmp_path / 'file' / 'summary.json'}: {tmp_path / 'file'} is not "
        'a directory, so the file cannot be written there\n')


# ============================================================================ replay over ROS
AGENT_OFFSET, BLOCK_OFFSET, ANGLE_OFFSET = 0.5, 2.0, 0.05  # per step: the recording's error


@pytest.fixture(scope='module')
def offset_episode(tmp_path_factory):
    """An 8-step episode PushTEnv plays (the agent pushes the T off its start near the goal:
    the reward rises, then falls), recorded with step k's states off by k times the offsets,
    one angle a whole turn apart (the same angle): (store, summary expected)."""
    from sim_bridge.pusht_env import PushTEnv

    env = PushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(options={'state': np.array([256.0, 120.0, 256.0, 256.0, math.pi / 4 + 0.4])})
    actions = np.array([[256.0, 150.0 + 30 * k] for k in range(8)])
    states, rewards = [], []
    for a in actions:
        states.append(env.get_state())
        rewards.append(env.step(a)[1])
    states = np.array(states)
    k = np.arange(len(states))
    recorded = states.copy()
    recorded[:, 0] += AGENT_OFFSET * k
    recorded[:, 3] += BLOCK_OFFSET * k
    recorded[:, 4] += ANGLE_OFFSET * k
    recorded[3, 4] += 2 * math.pi
    store = _store(tmp_path_factory.mktemp('replay') / 'offset.zarr', recorded, actions, [8])
    assert max(rewards) > rewards[-1] + 0.1  # the max and the final reward differ
    return store, rewards


def run_replay(store: Path, tmp_path: Path, ns: str, *extra: str) -> dict:
    summary = tmp_path / f'{ns.strip("/")}.json'
    proc = subprocess.run(module_cmd('dp_ros.cli', 'replay', '--dataset', str(store),
                                     '--namespace', ns, '--timeout', '60',
                                     '--print-every', '0', '--json', str(summary), *extra),
                          env=checkout_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr
    return {**json.loads(summary.read_text()), 'stdout': proc.stdout}


@pytest.mark.ros
def test_the_summary_of_a_replay_through_its_own_sim(offset_episode, tmp_path):
    store, rewards = offset_episode
    summary = run_replay(store, tmp_path, '/replay_mutants', '--start-sim', '--print-every', '5')
    steps = [line.split()[1] for line in summary['stdout'].splitlines()
             if line.startswith('step ')]
    assert steps == ['1/8', '6/8', '8/8']  # every 5th step, and the last
    assert summary['steps'] == 8 and summary['mode'] == 'lockstep'
    np.testing.assert_allclose(summary['rewards'], rewards, atol=1e-5)
    assert summary['max_reward'] == pytest.approx(max(rewards), abs=1e-5)
    assert summary['final_reward'] == pytest.approx(rewards[-1], abs=1e-5)
    assert summary['max_agent_error_px'] == pytest.approx(7 * AGENT_OFFSET, abs=1e-3)
    assert summary['max_block_error_px'] == pytest.approx(7 * BLOCK_OFFSET, abs=1e-3)
    assert summary['max_block_angle_error_rad'] == pytest.approx(7 * ANGLE_OFFSET, abs=1e-3)
    result = summary['episode_result']
    assert result['steps'] == 8 and result['reason'] == 'max_steps'
    assert result['mode'] == 'lockstep'


@pytest.mark.ros
def test_a_realtime_replay_starts_a_realtime_sim(offset_episode, tmp_path):
    store, _ = offset_episode
    summary = run_replay(store, tmp_path, '/replay_mutants_rt', '--start-sim', '--mode', 'realtime',
                         '--node-name', 'other_sim')
    assert summary['mode'] == 'realtime' and summary['episode_result']['mode'] == 'realtime'
    assert summary['steps'] == 8 and len(summary['rewards']) == 8


@pytest.fixture(scope='module')
def running_node_summary(offset_episode, tmp_path_factory):
    """The summary of a replay on a sim node already running its episode 0 (default
    max_steps: more than the recording's 8)."""
    from ros_harness import ProcessGroup

    store, _ = offset_episode
    tmp = tmp_path_factory.mktemp('running')
    group = ProcessGroup(tmp / 'proc_logs')
    try:
        group.start('sim', sim_node_cmd(namespace='/replay_mutants_run'))
        yield run_replay(store, tmp, '/replay_mutants_run')
    finally:
        group.stop_all()


@pytest.mark.ros
def test_a_replay_on_a_running_node(offset_episode, running_node_summary):
    """Answered as the running node's mode wants ('running node': stamps 0), the recording
    reproduced."""
    _, rewards = offset_episode
    assert running_node_summary['mode'] == 'running node'
    np.testing.assert_allclose(running_node_summary['rewards'], rewards, atol=1e-5)


@pytest.mark.ros
def test_a_replay_on_a_running_node_reports_no_earlier_episodes_result(running_node_summary):
    """The replayed episode goes on past the recording (the node's max_steps is larger): no
    result of its own within the wait, and the one of the episode its reset ended is not it."""
    assert running_node_summary['episode_result'] is None
