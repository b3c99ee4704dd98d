"""The launch files run by the real launch library (a ROS 2 install; skipped without one).

test_launch_files.py checks them as syntax everywhere; here `pusht_sim.launch.py` starts the
sim and the shipped policy, an episode runs (under a pushed namespace too), both nodes get the
Fast DDS profile from the included fast_dds_profile.launch.py (or the one dds_profile:= names;
an empty variable names none), Ctrl-C stops all and the launch's parameter files go; the
launch ends when the policy node dies; `policy.launch.py managed:=true` starts the lifecycle
node, configured and quiet until activated (autostart:=activate: publishing at once), under a
pushed namespace too; its parameter file's values stand unless an argument is given, and an
argument reaches the node as the string it was.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip('launch_ros', reason='the launch library comes with a ROS 2 install')

from ament_index_python.packages import PackageNotFoundError, get_package_prefix  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402
from ros_harness import LATCHED, RELIABLE, REPO_ROOT, TEST_DIR, module_cmd  # noqa: E402
from std_msgs.msg import Float64, String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from dp_ros.app.sim_launcher import DDS_PROFILE, package_path  # noqa: E402

RUNNER = str(TEST_DIR / 'ros' / 'launch_file_runner.py')
PROFILE_VAR = 'FASTDDS_DEFAULT_PROFILES_FILE'


def installed_executables() -> Path:
    """Where launch_ros looks for a package's executables: <prefix>/lib/<package>."""
    try:
        lib = Path(get_package_prefix('dp_ros')) / 'lib' / 'dp_ros'
    except PackageNotFoundError:
        pytest.skip('dp_ros is not in AMENT_PREFIX_PATH (colcon build, then source it)')
    if not (lib / 'policy_node').exists():
        pytest.skip(f'no {lib}/policy_node: a colcon (setup.py) install puts the nodes there')
    return lib


def children(pid: int) -> dict[int, tuple[str, dict[str, str]]]:
    """The command line and environment of each child of `pid`, by pid (Linux /proc)."""
    found = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
            cmdline = (entry / 'cmdline').read_bytes().replace(b'\0', b' ').decode()
            environ = (entry / 'environ').read_bytes().split(b'\0')
        except OSError:
            continue
        if int(stat.rsplit(')', 1)[1].split()[1]) == pid:
            found[int(entry.name)] = (cmdline, dict(e.decode().split('=', 1)
                                                    for e in environ if b'=' in e))
    return found


def runner(*args: str, namespace: str | None = None) -> list[str]:
    """`ros2 launch dp_ros ARGS`, included under PushROSNamespace(namespace) if given."""
    pushed = ['--push-namespace', namespace] if namespace else []
    return [sys.executable, RUNNER, *pushed, *args]


@pytest.mark.parametrize('profile_arg, namespace', [(None, None), ('mine', None),
                                                    ('empty', None), (None, 'r1')])
def test_pusht_sim_launch_runs_an_episode_and_stops_on_ctrl_c(profile_arg, namespace,
                                                              ros_processes, ros_probe,
                                                              tmp_path):
    installed_executables()
    args = ['pusht_sim.launch.py']
    share = Path(get_package_prefix('dp_ros')) / 'share' / 'dp_ros'
    # the rule of fast_dds_profile.launch.py: an argument, else the environment's (an empty
    # variable names none), else ours
    env = {}
    # the shipped profile where the launch's dp_ros finds it: this checkout's (tests import
    # it first) or the install's share/
    shipped = str(package_path(Path('config') / DDS_PROFILE))
    expected = (os.environ.get(PROFILE_VAR) or os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE')
                or shipped)
    if profile_arg == 'mine':
        expected = str(tmp_path / 'my_profile.xml')
        Path(expected).write_bytes((share / 'config' / 'fastdds_large_data.xml').read_bytes())
        args.append(f'dds_profile:={expected}')
    elif profile_arg == 'empty':  # set but empty: the shipped profile
        env = {PROFILE_VAR: '', 'FASTRTPS_DEFAULT_PROFILES_FILE': ''}
        expected = shipped
    # the sim's topics are /pusht/..., as the policy's parameter file names them, under a
    # pushed namespace too
    rewards = ros_probe.collect(Float64, '/pusht/reward', RELIABLE)
    actions = ros_probe.collect(JointTrajectory, '/pusht/joint_trajectory', RELIABLE)
    starts = ros_probe.collect(String, '/pusht/episode_start', LATCHED)
    launch = ros_processes.start('launch', runner(*args, namespace=namespace), env=env)
    try:
        ros_probe.wait_for_messages(starts, 1, 120.0, 'an episode start')
        ros_probe.wait_for_messages(actions, 2, 180.0, 'action chunks from the policy node')
        ros_probe.wait_for_messages(rewards, 20, 180.0, 'rewards of 20 sim steps')
        nodes = children(launch.popen.pid)
        started = ' '.join(cmdline for cmdline, _ in nodes.values())
        assert 'pusht_sim_node' in started and 'policy_node' in started, started
        for cmdline, environ in nodes.values():
            assert environ.get(PROFILE_VAR) == expected, cmdline
        written = {Path(a).parent for cmdline, _ in nodes.values() for a in cmdline.split()
                   if Path(a).parent.name.startswith('dp_ros_launch_')}
        assert len(written) == 1 and all(d.is_dir() for d in written), written
    except BaseException:
        ros_processes.print_logs()
        raise
    stop_cleanly(ros_processes, launch, nodes)
    assert not any(d.exists() for d in written), f'{written} outlived the launch'


def stop_cleanly(ros_processes, launch, nodes) -> None:
    rc = ros_processes.stop(launch, timeout=60.0)  # SIGINT to the group, as Ctrl-C
    assert rc == 0, launch.log()[-3000:]
    assert 'Traceback' not in launch.log(), launch.log()[-3000:]
    alive = [pid for pid in nodes if Path(f'/proc/{pid}').exists()
             and (Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z')]
    assert not alive, f'nodes {alive} outlived their launch'


def test_sim_launch_ends_when_the_policy_node_dies(ros_processes):
    """A device the node refuses (exit 2): the launch stops the sim and ends, as `dp-ros sim`
    does ("a node died"), rather than run the sim on alone, and fails (exit 1, naming the
    node): launch's Shutdown alone ended it with 0, as a Ctrl-C does."""
    installed_executables()
    launch = ros_processes.start('launch', runner('pusht_sim.launch.py', 'device:=no_such'))
    deadline = time.monotonic() + 120.0
    while launch.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not launch.alive(), f'the launch ran on: {launch.log()[-3000:]}'
    assert "parameter device" in launch.log() and 'pusht_sim_node' in launch.log()
    assert not children(launch.popen.pid)
    assert launch.popen.wait(timeout=10) == 1
    assert 'the policy node exited with status 2' in launch.log()


@pytest.mark.parametrize('autostart, namespace', [('configure', None), ('activate', None),
                                                  ('configure', 'r1'), ('activate', 'r1')])
def test_policy_launch_managed_waits_for_activate(autostart, namespace, ros_processes,
                                                  ros_probe):
    installed_executables()
    share = Path(get_package_prefix('dp_ros')) / 'share' / 'dp_ros'
    actions = ros_probe.collect(JointTrajectory, '/pusht/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    ros_processes.start('sim', module_cmd('sim_bridge.pusht_sim_node', '--ros-args', '-r',
                                          '__ns:=/pusht', '--params-file',
                                          str(REPO_ROOT / 'config' / 'pusht_sim.yaml')))
    args = ['policy.launch.py', f'checkpoint:={share}/checkpoints/pusht_default',
            f'params_file:={share}/config/policy_pusht.yaml', 'mode:=lockstep', 'managed:=true']
    if autostart != 'configure':  # the default
        args.append(f'autostart:={autostart}')
    # the transitions go to the node the launch started, whatever its namespace (a name
    # matched none under a pushed one: the node stayed unconfigured)
    launch = ros_processes.start('launch', runner(*args, namespace=namespace))
    node = f'/{namespace}/dp_policy' if namespace else '/dp_policy'

    def state() -> int:
        return ros_probe.lifecycle_state(node)

    try:
        if autostart == 'configure':
            ros_probe.wait_for(lambda: state() == State.PRIMARY_STATE_INACTIVE, 120.0,
                               'the launch to configure the node')
            ros_probe.wait_for_more(diags, '/diagnostics', 2, 30.0)
            assert not actions, 'published before activate'
            assert ros_probe.change_lifecycle_state(Transition.TRANSITION_ACTIVATE, node,
                                                    timeout=60.0)
        ros_probe.wait_for_messages(actions, 3, 180.0, 'chunks from the active node')
        assert state() == State.PRIMARY_STATE_ACTIVE
        nodes = children(launch.popen.pid)
        assert 'policy_lifecycle_node' in ' '.join(c for c, _ in nodes.values())
    except BaseException:
        ros_processes.print_logs()
        raise
    stop_cleanly(ros_processes, launch, nodes)


def parameters(probe, node: str, names: list[str], timeout: float = 30.0) -> dict:
    values = probe.call(GetParameters, f'{node}/get_parameters',
                        GetParameters.Request(names=names), timeout=timeout).values
    return {name: (v.string_value if v.type == 4 else v.bool_value)  # PARAMETER_STRING
            for name, v in zip(names, values, strict=True)}


@pytest.mark.parametrize('given', ['none', 'all'])
def test_policy_launch_arguments_override_the_parameter_file_only_when_given(
        given, ros_processes, ros_probe, tmp_path):
    """The file's checkpoint, device, lockstep and use_sim_time stand without arguments
    (they were replaced by the launch's defaults, and checkpoint:= was required); arguments
    given reach the node as the strings they were (as YAML, '/data/run #3' is '/data/run')."""
    import yaml

    installed_executables()
    share = Path(get_package_prefix('dp_ros')) / 'share' / 'dp_ros'
    mine = tmp_path / 'run #3'  # '/data/run #3' read as YAML: '/data/run'
    shutil.copytree(share / 'checkpoints' / 'pusht_default', mine)
    params = yaml.safe_load((share / 'config' / 'policy_pusht.yaml').read_text())
    section = params['/**/dp_policy']['ros__parameters']
    section.update(checkpoint=str(mine), device='cpu', lockstep=True, use_sim_time=True)
    params_file = tmp_path / 'mine.yaml'
    params_file.write_text(yaml.safe_dump(params))
    args = ['policy.launch.py', f'params_file:={params_file}']
    expected = {'checkpoint': str(mine), 'device': 'cpu', 'lockstep': True,
                'use_sim_time': True}
    if given == 'all':
        other = tmp_path / 'other #4'  # as YAML: '.../other'
        shutil.copytree(share / 'checkpoints' / 'pusht_default', other)
        args += [f'checkpoint:={other}', 'device:=auto', 'mode:=realtime']
        expected = {'checkpoint': str(other), 'device': 'auto', 'lockstep': False,
                    'use_sim_time': False}
    launch = ros_processes.start('launch', runner(*args))
    try:
        parameters(ros_probe, '/dp_policy', ['checkpoint'], timeout=120.0)  # the node is up
        ros_probe.wait_for(lambda: parameters(ros_probe, '/dp_policy', list(expected))
                           == expected, 60.0, f'the node to run with {expected}')
        nodes = children(launch.popen.pid)
    except BaseException:
        ros_processes.print_logs()
        raise
    stop_cleanly(ros_processes, launch, nodes)
