"""What a mutation review of dp_ros/app/sim_launcher.py, ros_eval.py and evaluate.py found the
other tests let through, checked without ROS processes: each robot's parameter files, the
size at which a sim parameter leaves the command line (and the file it goes to), the node
environment's checks, the launch parameter files' node names and folder, overrides winning,
`dp-ros sim`'s defaults and arguments reaching the session, a dead node named with its exit
code, the crowded-graph clock, the video line. (The driver's episode loop and `eval --via
ros`'s wiring are left to the tests that run the nodes: test/ros/.)"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import CONFIG_DIR, SHIPPED_CHECKPOINT

from dp_ros.app import sim_launcher
from dp_ros.app.eval_report import MAX_EPISODES, parse_seeds
from dp_ros.app.sim_launcher import (
    SessionConfig,
    SimError,
    SimSession,
    build_parser,
    launch_parameter_files,
    node_environment,
    policy_command,
    resolve_checkpoint,
    session_from_args,
    sim_command,
)
from dp_ros.errors import UserError
from dp_ros.policy.checkpoint import CheckpointError
from dp_ros.ros.processes import installed_rmw_implementations

MAX_ARG_STRLEN = 131072  # linux/binfmts.h: the most one exec argument takes


def params_files(argv: list[str]) -> list[Path]:
    """The --params-file arguments of a node command, in order."""
    return [Path(argv[i + 1]) for i, a in enumerate(argv) if a == '--params-file']


def rules(argv: list[str]) -> dict:
    """The -p name:=value overrides of a node command, values read as YAML."""
    return {name: yaml.safe_load(value) for flag, rule in zip(argv, argv[1:], strict=False)
            if flag == '-p' for name, value in [rule.split(':=', 1)]}


@pytest.mark.parametrize(('robot', 'sim_file', 'policy_file'), [
    ('point', 'pusht_sim.yaml', 'policy_pusht.yaml'),
    ('arm', 'pusht_arm_sim.yaml', 'policy_pusht_arm.yaml')])
def test_each_robot_starts_its_nodes_with_its_own_parameter_files(robot: str, sim_file: str,
                                                                  policy_file: str) -> None:
    """The point's sim is no arm (and the reverse): each node's robot file comes first."""
    cfg = SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=[1], robot=robot)
    assert params_files(sim_command(cfg)) == [CONFIG_DIR / sim_file]
    assert params_files(policy_command(cfg)) == [CONFIG_DIR / policy_file]


def test_a_sim_parameter_exec_would_refuse_leaves_the_command_line(tmp_path: Path) -> None:
    """Seeds between MAX_ARG_BYTES and Linux's limit go into a parameter file of the sim."""
    seeds = list(range(100000, 100000 + 19000))  # `seeds:=[...]`: about 133,000 bytes
    assert len(f'seeds:={seeds}'.replace(' ', '').encode()) > MAX_ARG_STRLEN
    argv = sim_command(SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=seeds), tmp_path)
    assert max(len(a.encode()) for a in argv) < MAX_ARG_STRLEN
    robot_file, long_file = params_files(argv)
    # the file's node is the sim's (a file of another node's name would leave seeds unset)
    node, section, rule = long_file.read_text().splitlines()
    assert (node, section) == ('/**/pusht_sim:', '  ros__parameters:')
    assert rule.startswith('    seeds: [') and json.loads(rule.split(': ', 1)[1]) == seeds


def test_another_session_names_domain_0_when_none_is_set(monkeypatch) -> None:
    """Unset ROS_DOMAIN_ID is rcl's 0: the message names the domain both sessions share."""
    monkeypatch.delenv('ROS_DOMAIN_ID', raising=False)
    assert 'ROS_DOMAIN_ID 0 (two /dp_policy nodes)' in sim_launcher.another_session(
        ['/dp_policy'])


def test_a_file_where_the_default_checkpoint_would_be_copied_is_not_taken(tmp_path: Path,
                                                                          monkeypatch) -> None:
    """Only a folder checkpoints/pusht_default in the current folder replaces the package's."""
    (tmp_path / 'checkpoints').mkdir()
    (tmp_path / 'checkpoints' / 'pusht_default').write_text('')
    monkeypatch.chdir(tmp_path)
    assert resolve_checkpoint(None) == SHIPPED_CHECKPOINT.resolve()


def test_a_missing_default_checkpoint_names_the_callers_option(tmp_path: Path,
                                                               monkeypatch) -> None:
    """resolve_checkpoint(None, option=...): the hint names the caller's option."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sim_launcher, 'DEFAULT_CHECKPOINT', Path('checkpoints/no_such_policy'))
    with pytest.raises(CheckpointError, match='default one is missing.*or pass checkpoint:=DIR$'):
        resolve_checkpoint(None, option='checkpoint:=DIR')


def test_the_node_environment_refuses_a_domain_id_rcl_cannot_use() -> None:
    """node_environment is the sim path's one environment check: ROS_DOMAIN_ID=abc and an
    RMW_IMPLEMENTATION that is not installed are one UserError, before rclpy loads."""
    with pytest.raises(UserError, match='ROS_DOMAIN_ID'):
        node_environment({'ROS_DOMAIN_ID': 'abc'})
    prefix = {'AMENT_PREFIX_PATH': sys.prefix}  # the venv's ament index lists its RMWs
    if installed_rmw_implementations(prefix):
        with pytest.raises(UserError, match='RMW_IMPLEMENTATION'):
            node_environment({**prefix, 'RMW_IMPLEMENTATION': 'rmw_no_such_dds'})


def test_launch_parameter_files_are_each_nodes_own_in_the_folder_given(tmp_path: Path) -> None:
    """The sim's file names the sim node, the policy's the policy node; written where asked."""
    sim, policy = launch_parameter_files(SHIPPED_CHECKPOINT, 'point', tmp_path)
    assert (sim.parent, policy.parent) == (tmp_path, tmp_path)
    assert list(yaml.safe_load(sim.read_text())) == ['/**/pusht_sim']
    assert list(yaml.safe_load(policy.read_text())) == ['/**/dp_policy']


def test_the_sim_runs_in_the_namespace_the_policys_topics_name() -> None:
    """The sim's node is remapped into /pusht (__ns), where the policy files' topics are."""
    argv = sim_command(SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=[1]))
    assert argv[argv.index('-r') + 1] == '__ns:=/pusht'


def test_a_tuple_override_reaches_the_node_as_a_list() -> None:
    """_yaml writes a tuple as a list, as it does a list (its contract), not as its repr."""
    cfg = SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=[1],
                        policy_overrides={'action_joint_names': ('x', 'y')})
    assert rules(policy_command(cfg))['action_joint_names'] == ['x', 'y']


def test_sim_overrides_win_over_the_sessions_own_sim_parameters() -> None:
    """SessionConfig: overrides are given after the node's own parameters and win."""
    cfg = SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=[1],
                        sim_overrides={'autostart': True, 'max_steps': 7})
    p = rules(sim_command(cfg))
    assert p['autostart'] is True and p['max_steps'] == 7


def test_the_policy_node_gets_the_sessions_model_settings() -> None:
    """checkpoint, device, dtype and denoising steps reach the node's -p rules."""
    cfg = SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=[1], device='cpu',
                        dtype='bfloat16', num_inference_steps=5)
    p = rules(policy_command(cfg))
    assert p['checkpoint'] == str(SHIPPED_CHECKPOINT) and p['device'] == 'cpu'
    assert p['dtype'] == 'bfloat16' and p['num_inference_steps'] == 5


def test_policy_overrides_win_over_the_sessions_own_policy_parameters() -> None:
    """SessionConfig: overrides are given after the node's own parameters and win."""
    cfg = SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=[1], num_inference_steps=5,
                        policy_overrides={'num_inference_steps': 9, 'env_seed': 3})
    p = rules(policy_command(cfg))
    assert p['num_inference_steps'] == 9 and p['env_seed'] == 3


# --- dp-ros sim's arguments -------------------------------------------------------------------

def sim_args(tmp_path: Path, *argv: str) -> SessionConfig:
    """session_from_args of `dp-ros sim argv` (the shipped policy, logs under tmp_path)."""
    return session_from_args(build_parser().parse_args(['--logs', str(tmp_path / 'logs'),
                                                        *argv]))


def test_sim_defaults_are_the_papers_protocol() -> None:
    """Without options: the point robot, lockstep, the first test seed, 300 steps."""
    args = build_parser().parse_args([])
    assert (args.robot, args.mode, args.seeds, args.max_steps) == (
        'point', 'lockstep', ['100000'], 300)
    assert (args.episode_timeout, args.device, args.execution_mode) == (0.0, 'auto', None)


def test_sim_arguments_reach_the_session(tmp_path: Path, monkeypatch) -> None:
    """--threads, --execution-mode and a relative --video (made absolute: the sim runs the
    pattern as given) are the session's."""
    monkeypatch.chdir(tmp_path)
    cfg = sim_args(tmp_path, '--threads', '2', '--execution-mode', 'blend', '--video',
                   'out/v_{seed}.gif', '--mode', 'realtime', '--seeds', '3', '9')
    assert cfg.cpu_threads == 2 and cfg.policy_overrides['execution_mode'] == 'blend'
    assert cfg.video_path == str(tmp_path / 'out' / 'v_{seed}.gif')
    assert (cfg.mode, cfg.seeds) == ('realtime', [3, 9])


def test_sim_refuses_a_first_video_it_cannot_write(tmp_path: Path) -> None:
    """The first episode's video (index 0, the first seed) is checked before anything runs."""
    (tmp_path / 'v_100000.mp4').mkdir()
    with pytest.raises(UserError, match='--video .*v_100000.mp4'):
        sim_args(tmp_path, '--video', str(tmp_path / 'v_{seed}.mp4'), '--seeds', '100000',
                 '100001')


def test_the_video_line_names_the_first_and_the_last_file(tmp_path: Path) -> None:
    """Two or more episodes: the pattern is the first file, _epNNN the others; one: the file."""
    pattern = tmp_path / 'v.mp4'
    pattern.write_bytes(b'video')
    assert sim_launcher.video_line(str(pattern), [5], tmp_path) == f'video: {pattern}'
    line = sim_launcher.video_line(str(pattern), [5, 6], tmp_path)
    assert line.startswith(f'videos: {pattern} .. {tmp_path}/v_ep001.mp4 (2 files); the sim '
                           f'did not write 1 of them (first: {tmp_path}/v_ep001.mp4)')


def session_config(tmp_path: Path, seeds: list[int], **fields: Any) -> SessionConfig:
    """A session of `seeds` (the shipped policy, logs under tmp_path)."""
    return SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=seeds, log_dir=tmp_path / 'logs',
                         episode_timeout_s=5.0, **fields)


def test_a_node_that_exited_is_named_with_its_code_and_the_end_of_its_log(
        tmp_path: Path) -> None:
    """_check_alive polls each node process: one that exited is a SimError naming its exit
    code and quoting the end of its log (where the reason is)."""
    session = SimSession(session_config(tmp_path, [1]))
    session.cfg.log_dir.mkdir()
    (session.cfg.log_dir / 'policy_node.log').write_text('loading\n' * 1000 + 'refused: why\n')
    proc = subprocess.Popen([sys.executable, '-c', 'raise SystemExit(3)'])
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet polled
    session.procs['policy_node'] = proc
    with pytest.raises(SimError, match='policy_node exited with code 3') as raised:
        session._check_alive()
    assert str(raised.value).endswith('refused: why\n')


def test_the_crowded_clock_starts_over_once_the_graph_holds_one_session(monkeypatch) -> None:
    """Two sessions seen, then one, then two again: CROWDED_S counts from the second time."""
    now = [1000.0]
    monkeypatch.setattr(sim_launcher.time, 'monotonic', lambda: now[0])
    ours = [('pusht_sim', '/pusht'), ('dp_policy', '/')]

    class Graph:
        nodes = ours + ours

        def get_node_names_and_namespaces(self) -> list[tuple[str, str]]:
            return self.nodes

    session = SimSession(SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=[1]))
    session._node = graph = Graph()
    session._check_alone()
    now[0] += sim_launcher.CROWDED_S - 1
    graph.nodes = ours
    session._check_alone()
    now[0] += 2
    graph.nodes = ours + ours
    session._check_alone()  # crowded again just now, not for CROWDED_S
    now[0] += sim_launcher.CROWDED_S + 1
    with pytest.raises(SimError, match='another session'):
        session._check_alone()


def test_a_folder_at_a_videos_path_is_no_video(tmp_path: Path) -> None:
    """video_line counts only files as written."""
    (tmp_path / 'v.mp4').mkdir()
    assert 'did not write 1 of them' in sim_launcher.video_line(str(tmp_path / 'v.mp4'), [5],
                                                                tmp_path)


def test_a_realtime_session_runs_the_sim_in_realtime() -> None:
    """The sim's mode is the session's (lockstep is its only default)."""
    cfg = SessionConfig(checkpoint=SHIPPED_CHECKPOINT, seeds=[1], mode='realtime')
    assert rules(sim_command(cfg))['mode'] == 'realtime'




# --- defects the review found in the seed and timeout arguments -------------------------------

@pytest.mark.parametrize('argv', [['--seeds', '0:4294967296'],
                                  ['--seeds', '0:600000', '600000:1200000']])
def test_more_episodes_than_one_evaluation_runs_are_refused_in_one_line(
        tmp_path: Path, argv: list[str]) -> None:
    """The sim's whole seed range (0:4294967296, a range the message called valid) was made a
    list of 2^32 seeds: a MemoryError traceback, or 100 GB. Refused before any list is made,
    by dp-ros sim (its --seeds values together) and dp-ros eval."""
    with pytest.raises(UserError, match=r"select 1?[,0-9]+ episodes, more than one "
                                        r'evaluation runs \(1,000,000\)'):
        sim_args(tmp_path, *argv)
    with pytest.raises(argparse.ArgumentTypeError, match='4,294,967,296 episodes'):
        parse_seeds('0:4294967296')
    assert len(parse_seeds('0:1000000')) == MAX_EPISODES


def test_a_nan_episode_timeout_is_refused(tmp_path: Path) -> None:
    """NaN compared as neither below 0 nor above it: accepted, it meant 'never'."""
    with pytest.raises(UserError, match='--episode-timeout must be >= 0 s'):
        sim_args(tmp_path, '--episode-timeout', 'nan')
