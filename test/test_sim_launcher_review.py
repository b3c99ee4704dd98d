"""dp_ros/app/sim_launcher.py without ROS processes: the parameters `dp-ros sim` gives its two
nodes, the checks before a session starts, and the episode wait's timeout rule."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml
from support import make_tiny_checkpoint

from dp_ros.app import sim_launcher
from dp_ros.app.sim_launcher import (
    SessionConfig,
    SimError,
    SimSession,
    _pose_wiring,
    node_environment,
    policy_command,
    resolve_checkpoint,
    sim_command,
)
from dp_ros.policy.checkpoint import CheckpointError


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('tiny') / 'policy')


def params_of(argv: list[str]) -> dict:
    """The -p name:=value overrides of a node command, values read as rcl reads YAML."""
    out = {}
    for flag, rule in zip(argv, argv[1:], strict=False):
        if flag == '-p':
            name, value = rule.split(':=', 1)
            out[name] = yaml.safe_load(value)
    return out


def test_policy_node_parameters_follow_the_mode_and_the_first_seed(tiny):
    """lockstep: sim time and lockstep on; realtime: both off. env_seed is the first seed;
    sampler only when one is given; overrides win."""
    cfg = SessionConfig(checkpoint=tiny, seeds=[7, 8, 9], sample_seed=3, cpu_threads=2,
                        policy_overrides={'execution_mode': 'blend', 'device': 'cpu'})
    lock = params_of(policy_command(cfg))
    assert lock['lockstep'] is True and lock['use_sim_time'] is True
    assert lock['env_seed'] == 7 and lock['sample_seed'] == 3 and lock['cpu_threads'] == 2
    assert lock['execution_mode'] == 'blend' and lock['device'] == 'cpu'
    assert 'sampler' not in lock
    cfg.mode, cfg.sampler = 'realtime', 'ddpm'
    real = params_of(policy_command(cfg))
    assert real['lockstep'] is False and real['use_sim_time'] is False
    assert real['sampler'] == 'ddpm'


def test_sim_parameters_leave_the_episodes_to_the_driver(tiny):
    """The sim neither resets nor starts by itself (the driver resets the node first); a
    video path is passed only when one is asked for; overrides are applied."""
    cfg = SessionConfig(checkpoint=tiny, seeds=[5, 6], max_steps=40,
                        sim_overrides={'action_wait_timeout_s': 300.0})
    p = params_of(sim_command(cfg))
    assert p['auto_reset'] is False and p['autostart'] is False
    assert p['seeds'] == [5, 6] and p['max_steps'] == 40 and p['mode'] == 'lockstep'
    assert p['action_wait_timeout_s'] == 300.0 and 'video_path' not in p
    cfg.video_path = '/tmp/v_ep{episode}.mp4'
    assert params_of(sim_command(cfg))['video_path'] == '/tmp/v_ep{episode}.mp4'


def test_string_overrides_survive_quotes_and_yaml_booleans(tiny):
    """A name with a quote, or one YAML 1.1 reads as a boolean, comes back as the string."""
    cfg = SessionConfig(checkpoint=tiny, seeds=[1],
                        policy_overrides={'action_joint_names': ["it's", 'y', 'on']})
    assert params_of(policy_command(cfg))['action_joint_names'] == ["it's", 'y', 'on']


def test_pose_wiring_keeps_state_and_action_fields_apart():
    """The node reads the state's pose fields and commands the action's, unclamped: no joint
    bounds and no per-step rate limit."""
    sim, policy = _pose_wiring(('joint_pos', ['x', 'y'], ['x', 'y', 'z', 'yaw']))
    assert sim == {'ee_pose_topic': 'ee_pose', 'pose_target_topic': 'target_pose'}
    assert policy['state_joint_names'] == ['x', 'y']
    assert policy['action_joint_names'] == ['x', 'y', 'z', 'yaw']
    assert policy['state_pose_topics'] == ['/pusht/ee_pose']
    assert policy['action_pose_topics'] == ['/pusht/target_pose']
    assert policy['action_lower'] == policy['action_upper'] == policy['max_step_delta'] == []


@pytest.mark.parametrize('change, words', [
    ({'seeds': []}, 'no seeds'),
    ({'mode': 'fast'}, 'mode must be one of'),
    ({'robot': 'tank'}, 'robot must be one of'),
])
def test_a_session_refuses_bad_settings_before_starting(tiny, change, words):
    """SimSession: no seed, an unknown mode or robot is a ValueError at construction."""
    with pytest.raises(ValueError, match=words):
        SimSession(SessionConfig(checkpoint=tiny, **{'seeds': [1], **change}))


def test_episode_timeout_zero_waits_without_a_deadline(tiny, tmp_path):
    """episode_timeout_s 0 means no deadline: a result arriving after a while is returned,
    not a SimError."""
    session = SimSession(SessionConfig(checkpoint=tiny, seeds=[1], log_dir=tmp_path))

    def deliver() -> None:
        time.sleep(0.5)
        with session._cond:
            session.results[0] = {'episode': 0, 'seed': 1}
            session._cond.notify_all()

    thread = threading.Thread(target=deliver)
    thread.start()
    try:
        assert session.wait_for_result(0) == {'episode': 0, 'seed': 1}
    finally:
        thread.join()
    session.cfg.episode_timeout_s = 0.3
    with pytest.raises(SimError, match='did not end within 0.3 s'):
        session.wait_for_result(1)


def test_node_environment_is_unbuffered():
    """The nodes' logs are written as they go (PYTHONUNBUFFERED), with a DDS profile."""
    env = node_environment({})
    assert env['PYTHONUNBUFFERED'] == '1' and env['FASTDDS_DEFAULT_PROFILES_FILE']


def test_resolve_checkpoint_is_absolute_and_refuses_a_file(tiny, monkeypatch):
    """A relative checkpoint resolves to an absolute path (the node runs elsewhere); a file
    is refused as no directory, with the hint naming the option."""
    monkeypatch.chdir(tiny.parent)
    assert resolve_checkpoint(Path(tiny.name)) == tiny.resolve()
    with pytest.raises(CheckpointError, match='is not a directory: .*--checkpoint DIR'):
        resolve_checkpoint(tiny / 'policy.json')


def test_the_default_checkpoint_is_the_current_folders_where_one_was_copied(tiny, tmp_path,
                                                                            monkeypatch):
    """README: retrain, `cp -r .../best/. checkpoints/pusht_default/`, then `dp-ros sim`: the
    copy in the clone runs, not the copy `make venv` installed last; elsewhere the installed
    (or source tree's) default."""
    import shutil

    from dp_ros.app.sim_launcher import DEFAULT_CHECKPOINT

    monkeypatch.chdir(tmp_path)
    elsewhere = resolve_checkpoint(None)
    assert elsewhere.name == 'pusht_default' and elsewhere.parent != tmp_path / 'checkpoints'
    shutil.copytree(tiny, tmp_path / DEFAULT_CHECKPOINT)
    assert resolve_checkpoint(None) == (tmp_path / DEFAULT_CHECKPOINT).resolve()


def test_main_refuses_bad_arguments_with_exit_2_before_a_session(tiny, tmp_path, capsys):
    """--max-steps 0, and --cartesian with a joint-space policy: one line, exit 2, no
    session (--logs is a file here, so a session that started would fail otherwise)."""
    logs = tmp_path / 'logs_is_a_file'
    logs.write_text('')
    base = ['--checkpoint', str(tiny), '--logs', str(logs), '--no-progress', '--no-video']
    assert sim_launcher.main([*base, '--max-steps', '0']) == 2
    assert '--max-steps must be >= 1, got 0' in capsys.readouterr().err
    assert sim_launcher.main([*base, '--cartesian']) == 2
    assert 'dp-ros sim: --cartesian: ' in capsys.readouterr().err
    for seed in ('-1', '4294967296'):  # the sim's numpy seeding takes 0 .. 2**32 - 1
        assert sim_launcher.main([*base, '--seeds', '100000', seed]) == 2
        assert f"--seeds {seed} is not in the sim's range 0..4294967295" in \
            capsys.readouterr().err


@pytest.mark.parametrize(('returncode', 'failed'), [
    (0, False), (-2, False), (-15, False), (-9, False), (None, False),  # ended, or stopped
    (2, True), (1, True), (-11, True), (-6, True)])  # refused its config, crashed
def test_a_launched_node_failed_unless_it_ended_well_or_the_launch_stopped_it(returncode,
                                                                            failed):
    """The launch files' on_exit (ends_the_launch) raises for a failed node, so `ros2 launch`
    exits 1 (launch's Shutdown alone exited 0); test/ros/test_launch_run.py runs it."""
    assert sim_launcher.failed_exit(returncode) is failed


def test_logs_that_are_a_file_are_one_line_before_a_session(tiny, tmp_path, capsys):
    """--logs naming a file was a FileExistsError traceback once the banner was out."""
    logs = tmp_path / 'logs_is_a_file'
    logs.write_text('')
    assert sim_launcher.main(['--checkpoint', str(tiny), '--logs', str(logs), '--no-progress',
                              '--no-video']) == 2
    assert f'dp-ros sim: --logs {logs} is a file, not a folder' in capsys.readouterr().err
