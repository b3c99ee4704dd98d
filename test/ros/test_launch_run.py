"""The launch files run by the real launch library (a ROS 2 install; skipped without one).

test_launch_files.py checks them as syntax everywhere; here `pusht_sim.launch.py` starts the
sim and the shipped policy, an episode runs, both nodes get the Fast DDS profile from the
included fast_dds_profile.launch.py (or the one dds_profile:= names), and Ctrl-C stops all;
`policy.launch.py managed:=true` starts the lifecycle node, configured and quiet until
activated (autostart:=activate: publishing at once).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip('launch_ros', reason='the launch library comes with a ROS 2 install')

from ament_index_python.packages import PackageNotFoundError, get_package_prefix  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from ros_harness import LATCHED, RELIABLE, REPO_ROOT, TEST_DIR, module_cmd  # noqa: E402
from std_msgs.msg import Float64, String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

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


@pytest.mark.parametrize('profile_arg', [None, 'mine'])
def test_pusht_sim_launch_runs_an_episode_and_stops_on_ctrl_c(profile_arg, ros_processes,
                                                              ros_probe, tmp_path):
    installed_executables()
    args = ['pusht_sim.launch.py']
    share = Path(get_package_prefix('dp_ros')) / 'share' / 'dp_ros'
    # the rule of fast_dds_profile.launch.py: an argument, else the environment's, else ours
    expected = (os.environ.get(PROFILE_VAR) or os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE')
                or str(share / 'config' / 'fastdds_large_data.xml'))
    if profile_arg:
        expected = str(tmp_path / 'my_profile.xml')
        Path(expected).write_bytes((share / 'config' / 'fastdds_large_data.xml').read_bytes())
        args.append(f'dds_profile:={expected}')
    rewards = ros_probe.collect(Float64, '/pusht/reward', RELIABLE)
    actions = ros_probe.collect(JointTrajectory, '/pusht/joint_trajectory', RELIABLE)
    starts = ros_probe.collect(String, '/pusht/episode_start', LATCHED)
    launch = ros_processes.start('launch', [sys.executable, RUNNER, *args])
    try:
        ros_probe.wait_for_messages(starts, 1, 120.0, 'an episode start')
        ros_probe.wait_for_messages(actions, 2, 180.0, 'action chunks from the policy node')
        ros_probe.wait_for_messages(rewards, 20, 180.0, 'rewards of 20 sim steps')
        nodes = children(launch.popen.pid)
        started = ' '.join(cmdline for cmdline, _ in nodes.values())
        assert 'pusht_sim_node' in started and 'policy_node' in started, started
        for cmdline, environ in nodes.values():
            assert environ.get(PROFILE_VAR) == expected, cmdline
    except BaseException:
        ros_processes.print_logs()
        raise
    stop_cleanly(ros_processes, launch, nodes)


def stop_cleanly(ros_processes, launch, nodes) -> None:
    rc = ros_processes.stop(launch, timeout=60.0)  # SIGINT to the group, as Ctrl-C
    assert rc == 0, launch.log()[-3000:]
    assert 'Traceback' not in launch.log(), launch.log()[-3000:]
    alive = [pid for pid in nodes if Path(f'/proc/{pid}').exists()
             and (Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z')]
    assert not alive, f'nodes {alive} outlived their launch'


@pytest.mark.parametrize('autostart', ['configure', 'activate'])
def test_policy_launch_managed_waits_for_activate(autostart, ros_processes, ros_probe):
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
    launch = ros_processes.start('launch', [sys.executable, RUNNER, *args])

    def state() -> int:
        return ros_probe.call(GetState, '/dp_policy/get_state', GetState.Request(),
                              timeout=60.0).current_state.id

    try:
        if autostart == 'configure':
            ros_probe.wait_for(lambda: state() == State.PRIMARY_STATE_INACTIVE, 120.0,
                               'the launch to configure the node')
            n_diags = len(diags)
            ros_probe.wait_for(lambda: len(diags) >= n_diags + 2, 30.0, 'two diagnostics')
            assert not actions, 'published before activate'
            reply = ros_probe.call(ChangeState, '/dp_policy/change_state', ChangeState.Request(
                transition=Transition(id=Transition.TRANSITION_ACTIVATE)), timeout=60.0)
            assert reply.success
        ros_probe.wait_for_messages(actions, 3, 180.0, 'chunks from the active node')
        assert state() == State.PRIMARY_STATE_ACTIVE
        nodes = children(launch.popen.pid)
        assert 'policy_lifecycle_node' in ' '.join(c for c, _ in nodes.values())
    except BaseException:
        ros_processes.print_logs()
        raise
    stop_cleanly(ros_processes, launch, nodes)
