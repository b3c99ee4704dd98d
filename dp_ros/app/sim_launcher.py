"""`dp-ros sim`: the Push-T sim bridge and the policy node over ROS 2, without a ROS install.

The pip-only twin of `ros2 launch dp_ros pusht_sim.launch.py`: the same two executables in
their own processes with the same YAML parameter files, then a small driver node here that
follows the episodes (rewards, results), starts the next one and prints the scores.

The driver starts each episode after the first itself: it resets the policy node (fresh
history, waiting for the next episode start) before it resets the sim, so no chunk of one
episode is ever planned on the other's observations. `dp-ros eval --via ros` uses the same
session (dp_ros.app.ros_eval).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from dp_ros.app.eval_report import add_dtype_argument, skipped_note
from dp_ros.errors import UserError, error_exit, sigterm_as_interrupt
from dp_ros.policy.hub import checkpoint_arg
from dp_ros.ros import processes
from dp_ros.ros.processes import (  # noqa: F401 (check_ros_domain_id: known here too)
    check_ros_domain_id,
    check_ros_environment,
)
from sim_bridge.sim_node_config import MAX_SEED, MODES, ROBOTS, first_seed_outside

DEFAULT_CHECKPOINT = Path('checkpoints/pusht_default')
# robot -> the parameter files of the sim and of the policy node
SIM_PARAMS = {'point': 'pusht_sim.yaml', 'arm': 'pusht_arm_sim.yaml'}
POLICY_PARAMS = {'point': 'policy_pusht.yaml', 'arm': 'policy_pusht_arm.yaml'}
DDS_PROFILE = 'fastdds_large_data.xml'  # shared memory for full-size camera images
DDS_PROFILE_VARS = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')  # 3.x, 2.x
FAST_DDS_2_DISTROS = ('humble', 'iron', 'jazzy')  # read only FASTRTPS_...; 3.x warns on it
SIM_NAMESPACE = '/pusht'
PX_TO_M = 0.001  # ~/planned_path of the table's px (config/policy_pusht.yaml's debug_path_scale)
MAX_ARG_BYTES = 100_000  # one exec argument: Linux takes at most 131072 (MAX_ARG_STRLEN)
POLICY_STARTUP_TIMEOUT_S = 300.0  # loading and warming up a policy on a busy CPU
TRAIN_HINT = ('train one with `dp-ros train --config config/train_pusht_image_cpu.yaml --output '
              'runs/pusht` and copy runs/pusht/checkpoints/best to checkpoints/pusht_default, '
              'or pass {option}')  # option: how the caller's user names one


# the session's own nodes (their names in sim_bridge/pusht_sim_node.py, dp_ros/ros/policy_node.py)
SESSION_NODES = (f'{SIM_NAMESPACE}/pusht_sim', '/dp_policy')
CROWDED_S = 30.0  # two of them in the graph this long: another session, not a stale entry


def crowded_nodes(names_and_namespaces: Sequence[tuple[str, str]]) -> list[str]:
    """The session's node paths the ROS graph lists more than once."""
    paths = [f"{ns.rstrip('/')}/{name}" for name, ns in names_and_namespaces]
    return [p for p in SESSION_NODES if paths.count(p) > 1]


def another_session(nodes: Sequence[str]) -> str:
    domain = os.environ.get('ROS_DOMAIN_ID', '0')
    return (f'another session runs on ROS_DOMAIN_ID {domain} (two {" and two ".join(nodes)} '
            'nodes): run this one on another domain, e.g. ROS_DOMAIN_ID=42 dp-ros ...')


class SimError(UserError, RuntimeError):
    """The session could not run: a node died, a service failed, an episode timed out."""


# --- files -----------------------------------------------------------------------------------

def package_path(relative: str | Path, kind: str = 'file') -> Path:
    """A file or directory of this package: the source tree's, else the installed share/'s."""
    exists = Path.is_file if kind == 'file' else Path.is_dir
    source = Path(__file__).resolve().parents[2] / relative
    if exists(source):
        return source
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory('dp_ros')) / relative
        if exists(installed):
            return installed
    except (ImportError, LookupError, ValueError, OSError):
        pass
    raise FileNotFoundError(f'{relative} found neither in {source.parent} nor in the '
                            "installed package's share/dp_ros")


def config_file(name: str) -> Path:
    """A parameter file of this package (config/NAME)."""
    return package_path(Path('config') / name)


def shipped_parameters(name: str) -> dict[str, Any]:
    """The ros__parameters of a parameter file of this package (config/NAME, one node
    each), read with dp_ros's YAML loader (dp_ros.safe_yaml)."""
    from dp_ros.safe_yaml import safe_load

    (section,) = safe_load(config_file(name).read_text()).values()
    return section['ros__parameters']


def resolve_checkpoint(checkpoint: str | Path | None, option: str = '--checkpoint DIR') -> Path:
    """The given checkpoint, else the default one (the current folder's
    checkpoints/pusht_default, where a retrained policy was copied into a clone, else this
    package's: the installed copy is the one `make venv` last installed); a CheckpointError
    (one line) if missing, its hint naming `option` (the command line's; the launch files':
    checkpoint:=DIR)."""
    from dp_ros.policy.checkpoint import CheckpointError, check_unedited, read_policy_metadata
    from dp_ros.policy.hub import resolve_policy_dir

    if checkpoint is None:
        try:
            local = Path.cwd() / DEFAULT_CHECKPOINT
            path = local if local.is_dir() else package_path(DEFAULT_CHECKPOINT, kind='dir')
        except FileNotFoundError as exc:
            raise CheckpointError(f'no checkpoint given and the default one is missing ({exc}): '
                                  f"{TRAIN_HINT.format(option=option)}") from None
    else:
        path = resolve_policy_dir(checkpoint)  # hf://org/name[@rev]: the cached snapshot
        if not path.is_dir():
            raise CheckpointError(f'checkpoint {path} is not a directory: '
                                  f'{TRAIN_HINT.format(option=option)}')
    # a clear error now rather than in the node's log
    check_unedited(path, read_policy_metadata(path))
    return path.resolve()


def dds_profile_variables(environment: Mapping[str, str], chosen: str = '') -> dict[str, str]:
    """The Fast DDS profile variables of the nodes: `chosen`, else the profile `environment`
    names under either variable (set and not empty), else the shipped one (config/
    fastdds_large_data.xml); under FASTRTPS_... too on Fast DDS 2.x distros, which read only
    that. The one rule of `dp-ros sim` and launch/fast_dds_profile.launch.py."""
    profile = (chosen or next((environment[v] for v in DDS_PROFILE_VARS if environment.get(v)),
                              '') or str(config_file(DDS_PROFILE)))
    names = DDS_PROFILE_VARS if environment.get('ROS_DISTRO', '') in FAST_DDS_2_DISTROS \
        else DDS_PROFILE_VARS[:1]
    return dict.fromkeys(names, profile)


def node_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the node processes: the caller's, with the Fast DDS profile
    variables of dds_profile_variables. UserError for a ROS_DOMAIN_ID or RMW_IMPLEMENTATION
    rcl cannot use: the one check of the sim path (this process's rcl included), called
    before rclpy is imported."""
    env = dict(os.environ if base is None else base, PYTHONUNBUFFERED='1')
    check_ros_environment(env)
    env.update(dds_profile_variables(env))
    return env


def cartesian_overrides(meta: dict) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sim's and the policy node's parameters for a policy that acts on its end
    effector's pose (policy_io_overrides picks them; `--cartesian` insists on them): the sim
    publishes the pose and takes pose targets (sim_bridge/cartesian.py), the node reads and
    commands them by the checkpoint's pose fields, unclamped per joint (the parameter files'
    joint bounds do not apply). ValueError naming the fault when the checkpoint's action is
    no whole pose or its state no pose."""
    from dp_ros.policy.config import PolicyConfig

    return _pose_wiring(PolicyConfig.from_dict(meta['config']).cartesian_io())


def policy_io_overrides(meta: dict) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the checkpoint acts on decides the wiring: cartesian_overrides for a policy whose
    action is a whole pose, none for a joint-space one (its names are joints, or absent)."""
    from dp_ros.policy.config import PolicyConfig

    pose_io = PolicyConfig.from_dict(meta['config']).pose_io()
    return ({}, {}) if pose_io is None else _pose_wiring(pose_io)


def launch_parameters(checkpoint: str | Path, robot: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sim's and the policy node's parameters for the launch files: the robot's parameter
    files (SIM_PARAMS, POLICY_PARAMS, the ones `dp-ros sim` starts its nodes with) with the
    wiring of what the checkpoint acts on (policy_io_overrides) applied. CheckpointError naming
    the fault when the checkpoint is no policy."""
    from dp_ros.policy.checkpoint import read_policy_metadata

    path = resolve_checkpoint(checkpoint, option='checkpoint:=DIR')  # ros2 launch's argument
    wiring = policy_io_overrides(read_policy_metadata(path))
    merged = []
    for name, overrides in zip((SIM_PARAMS[robot], POLICY_PARAMS[robot]), wiring, strict=True):
        merged.append({**shipped_parameters(name), **overrides})
    return merged[0], merged[1]


def launch_parameter_files(checkpoint: str | Path, robot: str,
                           directory: str | Path | None = None) -> tuple[Path, Path]:
    """launch_parameters written as the sim's and the policy node's parameter files, for the
    launch files' Nodes: in `directory`, else in a new temporary directory of their own (made
    only once the checkpoint is found good), which the caller removes (the launch files: when
    the launch ends). Written here, not passed as launch dicts: launch_ros cannot pass an
    empty list (the wiring's joint bounds: a file's [] leaves the parameter at its default,
    empty), and writes a string list's 'y' bare, which rcl reads as a boolean and refuses
    ("Sequence should be of same type"); here every string is quoted (_yaml)."""
    import tempfile

    parameters = launch_parameters(checkpoint, robot)  # CheckpointError before any file
    out = Path(tempfile.mkdtemp(prefix='dp_ros_launch_') if directory is None else directory)
    paths = []
    for node, params in zip(('pusht_sim', 'dp_policy'), parameters, strict=True):
        path = out / f'{node}.yaml'
        path.write_text(f'/**/{node}:\n  ros__parameters:\n' + ''.join(
            f'    {name}: {_yaml(value)}\n' for name, value in params.items()))
        paths.append(path)
    return paths[0], paths[1]


# a node's exit statuses that are no failure: it ended well (a signal too: node_main's 0), or
# the launch stopped it (SIGINT, then SIGTERM, then SIGKILL)
LAUNCH_STOPPED = (0, -2, -15, -9)


def failed_exit(returncode: int | None) -> bool:
    """Whether a launched node's exit status says it failed (a refused configuration: 2)."""
    return returncode is not None and returncode not in LAUNCH_STOPPED


def ends_the_launch(what: str) -> list:
    """A launch file Node's on_exit: the launch ends with the node (one node alone is no
    session), and fails where the node failed: `ros2 launch` exits 1, naming it. launch's
    Shutdown ends it with 0 whatever the node's status; only an error raised inside the launch
    makes LaunchService.run return 1 (launch_service.py), so the check raises one."""
    from launch.actions import OpaqueFunction, Shutdown

    def check(context: Any) -> list:
        code = getattr(context.locals.event, 'returncode', None)
        if failed_exit(code):
            raise RuntimeError(f'{what} exited with status {code}')
        return []

    return [OpaqueFunction(function=check), Shutdown(reason=f'{what} exited')]


def _pose_wiring(pose_io: tuple[str, list[str], list[str]]
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """cartesian_overrides' parameters from PolicyConfig.cartesian_io's (key, state, action).
    Every parameter of the robot's file that names action joints is replaced, so that none
    names joints the pose policy lacks (the point's debug_path_joints [agent_x, agent_y]
    refused the run): the bounds are emptied, the debug path is the target's x, y (table px,
    drawn in m as the point's file draws its joints)."""
    _, state, action = pose_io
    sim = {'ee_pose_topic': 'ee_pose', 'pose_target_topic': 'target_pose'}
    pose, target = (f'{SIM_NAMESPACE}/{sim[k]}' for k in ('ee_pose_topic', 'pose_target_topic'))
    policy = {'joint_state_topic': pose, 'state_pose_topics': [pose],
              'state_joint_names': state, 'action_topic': target,
              'action_pose_topics': [target], 'action_joint_names': action,
              'action_lower': [], 'action_upper': [], 'max_step_delta': [],
              'debug_path_joints': ['x', 'y'], 'debug_path_scale': PX_TO_M}
    return sim, policy


# --- the session -----------------------------------------------------------------------------

@dataclass
class SessionConfig:
    """One sim + policy node session (`dp-ros sim`, `dp-ros eval --via ros`): what the two
    nodes are started with (sim_command, policy_command) and how long the session waits."""

    checkpoint: Path  # the policy directory the node loads
    seeds: list[int]  # one episode per seed, in this order
    mode: str = 'lockstep'  # 'lockstep' (sim time, a step waits for its action) or 'realtime'
    robot: str = 'point'  # 'point' (the paper's pusher) or 'arm' (the 3-joint arm twin)
    max_steps: int = 300  # control steps per episode before the sim truncates it
    device: str = 'auto'  # policy node: 'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N'
    dtype: str = 'float32'  # policy node: 'float32', 'bfloat16' or 'float16' (CUDA only)
    sampler: str = ''  # policy node: 'ddim' or 'ddpm'; '': the checkpoint's
    num_inference_steps: int = 0  # policy node's denoising steps; 0: the checkpoint's
    sample_seed: int = 0  # policy node's sampling seed (with each episode's env seed)
    cpu_threads: int = 0  # policy node's torch CPU threads; 0: torch's default
    video_path: str = ''  # sim parameter: '{episode}'/'{seed}' filled in; '': no video
    log_dir: Path = Path('outputs/sim/logs')  # each node's <name>.log
    episode_timeout_s: float = 0.0  # 0: none (a slow CPU policy may take minutes)
    # further policy / sim node parameters, given after the node's own parameter file (they
    # win where both set one; param_rules)
    policy_overrides: dict[str, Any] = field(default_factory=dict)
    sim_overrides: dict[str, Any] = field(default_factory=dict)


def _yaml(value: Any) -> str:
    """A value as a -p override's YAML: strings quoted, so that a joint or pose field named
    y, n or on stays a string (YAML 1.1 reads them as booleans)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(_yaml(v) for v in value) + ']'
    return str(value)


def param_rules(params: dict[str, Any]) -> list[str]:
    """`-p name:=value` ROS arguments of `params`, each value written by _yaml. They go after
    the node's --params-file: where both set a parameter, rcl keeps the later source's."""
    return [arg for name, value in params.items() for arg in ('-p', f'{name}:={_yaml(value)}')]


def sim_command(cfg: SessionConfig, params_dir: Path | None = None) -> list[str]:
    """The sim's command line. A parameter too long for one argument (20,000 seeds: exec
    refuses any over MAX_ARG_BYTES) goes into a parameter file in `params_dir` (the caller
    removes it; SimSession does); without one, a UserError."""
    args = processes.node_command('sim_bridge.pusht_sim_node', 'pusht_sim', '--ros-args',
                                  '-r', f'__ns:={SIM_NAMESPACE}',
                                  '--params-file', str(config_file(SIM_PARAMS[cfg.robot])))
    params = {'mode': cfg.mode, 'seeds': cfg.seeds, 'max_steps': cfg.max_steps,
              'auto_reset': False, 'autostart': False, **cfg.sim_overrides}
    if cfg.video_path:
        params['video_path'] = cfg.video_path
    long = {name: value for name, value in params.items()
            if len(f'{name}:={_yaml(value)}'.encode()) > MAX_ARG_BYTES}
    if long:
        if params_dir is None:
            raise UserError(f'the sim parameters {sorted(long)} are too long for a command '
                            f'line (over {MAX_ARG_BYTES} bytes): give fewer --seeds')
        path = params_dir / 'pusht_sim_long.yaml'  # after the robot's file: it wins
        path.write_text('/**/pusht_sim:\n  ros__parameters:\n' + ''.join(
            f'    {name}: {_yaml(value)}\n' for name, value in long.items()))
        args += ['--params-file', str(path)]
    return args + param_rules({k: v for k, v in params.items() if k not in long})


def policy_parameters(cfg: SessionConfig) -> dict[str, Any]:
    """The policy node's parameters given on its command line (after its robot's file)."""
    lockstep = cfg.mode == 'lockstep'
    params = {'checkpoint': str(cfg.checkpoint), 'lockstep': lockstep, 'use_sim_time': lockstep,
              'device': cfg.device, 'dtype': cfg.dtype, 'sample_seed': cfg.sample_seed,
              'env_seed': cfg.seeds[0], 'cpu_threads': cfg.cpu_threads,
              'num_inference_steps': cfg.num_inference_steps, **cfg.policy_overrides}
    if cfg.sampler:
        params['sampler'] = cfg.sampler
    return params


def policy_command(cfg: SessionConfig) -> list[str]:
    args = processes.node_command('dp_ros.ros.policy_node', 'dp_policy', '--ros-args',
                                  '--params-file', str(config_file(POLICY_PARAMS[cfg.robot])))
    return args + param_rules(policy_parameters(cfg))


def check_policy_node(cfg: SessionConfig, metadata: dict) -> None:
    """The policy node's own check of its parameters against the checkpoint (resolve_setup,
    on the policy.json `metadata` the caller read), run before any process starts: a policy
    of another robot is refused in one line here, not in the node's log after both nodes
    started. UserError naming the fault. The node's check, not training's check_eval_fits:
    over ROS the node maps topics to the policy's keys and fits the camera, so it takes
    policies the in-process env does not."""
    from dp_ros.params import config_from_dict
    from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup

    params = {**shipped_parameters(POLICY_PARAMS[cfg.robot]), **policy_parameters(cfg)}
    params.pop('use_sim_time')  # rclpy's, not the node's
    try:
        resolve_setup(config_from_dict(PolicyNodeConfig, params), metadata)
    except ValueError as exc:
        raise UserError(f'the policy node would refuse {cfg.checkpoint} on the {cfg.robot} '
                        f'robot (--robot) with these settings: {exc}') from None


class SimSession:
    """Two node processes and a driver node in this process; always cleaned up by close()."""

    def __init__(self, cfg: SessionConfig):
        if cfg.mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {cfg.mode!r}')
        if cfg.robot not in ROBOTS:
            raise ValueError(f'robot must be one of {ROBOTS}, got {cfg.robot!r}')
        if not cfg.seeds:
            raise ValueError('no seeds: nothing to run')
        self.cfg = cfg
        self.procs: dict[str, subprocess.Popen] = {}
        self.results: dict[int, dict] = {}
        self.steps = 0
        self._cond = threading.Condition()
        self._ros = None
        self._node = None
        self._params_dir: Path | None = None
        self._env: dict[str, str] = {}  # the nodes' environment, checked by start()
        self._signals = contextlib.ExitStack()
        self._crowded_since: float | None = None  # when the graph first held two sessions

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> SimSession:
        self._signals.enter_context(sigterm_as_interrupt())  # close() runs on kill too
        try:
            self.start()
        except BaseException:  # __exit__ is not called then: stop what did start
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.close()
        finally:
            self._signals.close()

    def start(self) -> None:
        # checked before rclpy loads (an RMW_IMPLEMENTATION rcl cannot load exits 102 then,
        # a bad ROS_DOMAIN_ID is an RCLError traceback); the driver's rcl and the nodes share it
        self._env = node_environment()
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Float64, String

        from dp_ros.ros.background_node import BackgroundNode

        self.cfg.log_dir.mkdir(parents=True, exist_ok=True)
        self._ros = BackgroundNode('dp_ros_sim_driver', spin=False)
        self._node = self._ros.node
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._node.create_subscription(String, f'{SIM_NAMESPACE}/episode_result',
                                       self._on_result, latched)
        self._node.create_subscription(Float64, f'{SIM_NAMESPACE}/reward', self._on_reward,
                                       QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        self._ros.start()
        self._params_dir = Path(tempfile.mkdtemp(prefix='dp_ros_sim_'))  # close() removes it
        self._start_process('policy_node', policy_command(self.cfg))
        self._start_process('pusht_sim', sim_command(self.cfg, self._params_dir))

    def _start_process(self, name: str, argv: list[str]) -> None:
        self.procs[name] = processes.start_logged(argv, self.cfg.log_dir / f'{name}.log',
                                                  env=self._env)

    def close(self) -> None:
        for proc in self.procs.values():  # Ctrl-C first: the sim writes its video on the way out
            processes.interrupt(proc)
        for proc in self.procs.values():
            processes.stop(proc, timeout=15.0, interrupted=True)
        if self._ros is not None:
            self._ros.close()
        if self._params_dir is not None:
            shutil.rmtree(self._params_dir, ignore_errors=True)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.cfg.log_dir / f'{name}.log'
        return path.read_text(errors='replace')[-chars:] if path.exists() else ''

    # ------------------------------------------------------------------ callbacks
    def _on_result(self, msg) -> None:
        result = json.loads(msg.data)
        with self._cond:
            self.results[int(result['episode'])] = result
            self._cond.notify_all()

    def _on_reward(self, msg) -> None:
        with self._cond:
            self.steps += 1
            self._cond.notify_all()

    # ------------------------------------------------------------------ driving
    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise SimError(f'{name} exited with code {proc.returncode}; its log '
                               f'({self.cfg.log_dir / (name + ".log")}) ends with:\n'
                               f'{self.log_tail(name)}')
        self._check_alone()

    def _crowded(self) -> list[str]:
        return crowded_nodes(self._node.get_node_names_and_namespaces()) if self._node else []

    def _check_alone(self) -> None:
        """SimError once the ROS graph has held a second session's sim or policy node for
        CROWDED_S (another `dp-ros sim`/`eval --via ros` on this ROS_DOMAIN_ID answers this
        one's services and topics); a shorter overlap is a session that just ended, whose
        nodes the graph still lists."""
        now, nodes = time.monotonic(), self._crowded()
        if not nodes:
            self._crowded_since = None
            return
        self._crowded_since = self._crowded_since or now
        if now - self._crowded_since > CROWDED_S:
            raise SimError(another_session(nodes))

    def wait_for_result(self, episode: int, on_progress: Callable[[int], None] | None = None
                        ) -> dict:
        timeout = self.cfg.episode_timeout_s
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            with self._cond:
                if episode in self.results:
                    return self.results[episode]
                self._cond.wait(timeout=0.2)
                steps = self.steps
            if on_progress is not None:
                on_progress(steps)
            self._check_alive()
            if deadline is not None and time.monotonic() > deadline:
                raise SimError(f'episode {episode} did not end within {timeout} s; policy log:\n'
                               f'{self.log_tail("policy_node")}')

    def call(self, srv_type: Any, name: str, timeout: float = 60.0):
        try:
            response = self._ros.call(srv_type, name, srv_type.Request(), timeout,
                                      while_waiting=self._check_alive)
        except TimeoutError as exc:
            raise SimError(str(exc)) from None
        if not response.success:
            raise SimError(f'{name} failed: {response.message}')
        return response

    def run(self, on_progress: Callable[[int], None] | None = None,
            on_episode: Callable[[dict], None] | None = None) -> list[dict]:
        """Every episode in turn; the results in seed order."""
        from std_srvs.srv import Trigger

        results = []
        for episode in range(len(self.cfg.seeds)):
            # the policy node first: no chunk across episodes, and before episode 0 its reset
            # service (created once the policy is loaded and warmed up) says it is ready; a
            # realtime episode that started with the processes ran its first seconds without
            # a policy. Then the sim's next seed (it does not start one by itself).
            self.call(Trigger, '/dp_policy/reset', timeout=POLICY_STARTUP_TIMEOUT_S)
            self.call(Trigger, f'{SIM_NAMESPACE}/reset')
            result = self.wait_for_result(episode, on_progress)
            if int(result['seed']) != self.cfg.seeds[episode]:
                crowded = self._crowded()
                raise SimError(f"episode {episode} ran seed {result['seed']}, expected "
                               f'{self.cfg.seeds[episode]}'
                               + (f' ({another_session(crowded)})' if crowded else ''))
            results.append(result)
            if on_episode is not None:
                on_episode(result)
        return results


def run_session(cfg: SessionConfig, progress: bool = True) -> list[dict]:
    """Start everything, run the episodes with a progress bar, stop everything."""
    from tqdm import tqdm

    total = len(cfg.seeds) * cfg.max_steps
    bar = tqdm(total=total, desc=f'Push-T over ROS ({cfg.mode})', unit='step',
               disable=not progress, dynamic_ncols=True)
    # finished episodes count max_steps each on the bar, the running one its steps so far
    done = {'bar': 0, 'steps': 0}

    def on_progress(steps: int) -> None:
        # update, not n + refresh: a refresh draws every time, and with stderr a file
        # (TQDM_MININTERVAL: dp_ros/cli.py) that was a line per step
        bar.update(min(total, done['bar'] + steps - done['steps']) - bar.n)

    def on_episode(result: dict) -> None:
        done['bar'] += cfg.max_steps
        done['steps'] += int(result['steps'])
        bar.update(min(total, done['bar']) - bar.n)
        bar.write(f"episode {result['episode']} seed {result['seed']}: score "
                  f"{result['max_reward']:.3f} after {result['steps']} steps ({result['reason']})"
                  + skipped_note(int(result.get('slots_skipped', 0))))

    with SimSession(cfg) as session:
        try:
            return session.run(on_progress, on_episode)
        finally:
            bar.close()


# --- the command -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='dp-ros sim', description=__doc__.splitlines()[0])
    p.add_argument('--checkpoint', type=checkpoint_arg,
                   help=f'policy directory or hf://org/name[@revision] (default: '
                        f'{DEFAULT_CHECKPOINT}/ if it exists)')
    p.add_argument('--robot', choices=ROBOTS, default='point',
                   help="point: the paper's x/y pusher; arm: a planar 3-joint arm pushes with "
                        'its end effector (joint commands, 640 x 480 camera; needs a policy '
                        'trained on arm data)')
    p.add_argument('--mode', choices=MODES, default='lockstep',
                   help='lockstep: sim time waits for the policy (any CPU); realtime: 10 Hz '
                        'wall clock, slow inference costs')
    p.add_argument('--cartesian', action='store_true',
                   help="insist that the policy acts on the end effector's pose (its action "
                        'and state name pose fields: x, y, z, yaw, ...), saying why not '
                        'otherwise. Such a checkpoint runs on the pose topics with or without '
                        'the flag: the sim publishes the pose and takes PoseStamped targets, '
                        'the node commands them')
    p.add_argument('--seeds', nargs='+', default=['100000'],
                   help="episode seeds, as dp-ros eval's ('start:stop', end exclusive, or a "
                        "comma list) or several values; the paper's test seeds: 100000:100050")
    p.add_argument('--max-steps', type=int, default=300)
    p.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    add_dtype_argument(p)
    p.add_argument('--sampler', choices=('ddim', 'ddpm'), help="default: the checkpoint's")
    p.add_argument('--num-inference-steps', type=int, default=0,
                   help="default: the checkpoint's")
    p.add_argument('--sample-seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads of the node')
    p.add_argument('--execution-mode', choices=('replace', 'temporal_ensemble', 'blend'),
                   help="how a new chunk takes over from the running one (the node's "
                        'execution_mode; default: replace)')
    p.add_argument('--video', type=Path, default=Path('outputs/sim/pusht_sim.mp4'),
                   help='video of the episodes (.mp4 or .gif; _epNNN added after the first)')
    p.add_argument('--no-video', action='store_true')
    p.add_argument('--logs', type=Path, default=Path('outputs/sim/logs'),
                   help='where the node logs go')
    p.add_argument('--episode-timeout', type=float, default=0.0,
                   help='give up on an episode after this many seconds (0: never)')
    p.add_argument('--no-progress', action='store_true')
    return p


def session_from_args(args: argparse.Namespace) -> SessionConfig:
    """The session `dp-ros sim` runs, its arguments checked first as `dp-ros eval` checks
    its own (eval_report), then the device and dtype (torch), last the policy node's
    own check: UserError (one line, exit 2) for any fault, before anything starts."""
    from dp_ros.app.eval_report import (
        check_episode_count,
        check_run_numbers,
        check_unique_seeds,
        checkpoint_config,
        seed_list,
    )
    from dp_ros.atomic_dir import check_writable_dir, check_writable_file
    from dp_ros.policy.checkpoint import read_policy_metadata
    from sim_bridge.video import check_video_pattern, video_file_for

    checkpoint = resolve_checkpoint(args.checkpoint)
    if args.max_steps < 1:
        raise UserError(f'--max-steps must be >= 1, got {args.max_steps}')
    if not args.episode_timeout >= 0:  # NaN too: it compared as neither, and meant never
        raise UserError(f'--episode-timeout must be >= 0 s (0: never), got {args.episode_timeout}')
    try:
        seeds = [seed for text in args.seeds for seed in seed_list(text)]
        seeds = check_unique_seeds(check_episode_count(seeds, ' '.join(args.seeds)))
    except ValueError as exc:
        raise UserError(f'--{exc}') from None
    outside = first_seed_outside(seeds)
    if outside is not None:  # before: the nodes started, and the policy node refused its seed
        raise UserError(f"--seeds {outside} is not in the sim's range 0..{MAX_SEED}")
    # 0: the node's default (torch's threads, the checkpoint's steps)
    check_run_numbers({'--threads': args.threads or None,
                       '--num-inference-steps': args.num_inference_steps or None},
                      args.sample_seed)
    checkpoint_config(checkpoint, args.num_inference_steps or None)
    video = '' if args.no_video else str(args.video.resolve())
    if video:
        try:
            check_video_pattern(video)
        except ValueError as exc:
            raise UserError(f'--video {exc}') from None
        # not after the episodes ran (they ran, the video was lost, exit 0)
        check_writable_file(video_file_for(video, 0, seeds[0]), '--video', 'pusht.mp4')
    policy_overrides: dict[str, Any] = (
        {'execution_mode': args.execution_mode} if args.execution_mode else {})
    meta = read_policy_metadata(checkpoint)  # resolve_checkpoint checked it
    if args.cartesian:
        try:
            sim_overrides, pose_params = cartesian_overrides(meta)
        except ValueError as exc:
            raise UserError(f'--cartesian: {exc}') from None
    else:
        sim_overrides, pose_params = policy_io_overrides(meta)
    policy_overrides.update(pose_params)
    check_writable_dir(args.logs, '--logs')  # not after the banner, with nodes to start
    cfg = SessionConfig(checkpoint=checkpoint, seeds=seeds, mode=args.mode,
                        robot=args.robot, max_steps=args.max_steps, device=args.device,
                        dtype=args.dtype,
                        sampler=args.sampler or '', num_inference_steps=args.num_inference_steps,
                        sample_seed=args.sample_seed, cpu_threads=args.threads,
                        video_path=video, log_dir=args.logs,
                        episode_timeout_s=args.episode_timeout,
                        policy_overrides=policy_overrides, sim_overrides=sim_overrides)
    from dp_ros.runtime.inference_runner import resolve_device, resolve_dtype

    # before the node's check, which refuses them too but names --robot: 'cuda' or float16
    # on a CPU-only machine is the fault of --device or --dtype
    try:
        resolve_dtype(cfg.dtype, resolve_device(cfg.device))
    except ValueError as exc:
        raise UserError(f'--device/--dtype: {exc}') from None
    check_policy_node(cfg, meta)
    return cfg


def video_line(pattern: str, seeds: Sequence[int], log_dir: Path) -> str:
    """The videos the sim wrote, by its own naming rule ('{episode}'/'{seed}' filled in, else
    _epNNN after the first): files that exist, and the ones it did not write."""
    from sim_bridge.video import video_file_for

    files = [video_file_for(pattern, i, seed) for i, seed in enumerate(seeds)]
    line = (f'video: {files[0]}' if len(files) == 1
            else f'videos: {files[0]} .. {files[-1]} ({len(files)} files)')
    missing = [f for f in files if not f.is_file()]
    if missing:
        line += (f'; the sim did not write {len(missing)} of them (first: {missing[0]}): see '
                 f'{log_dir}/pusht_sim.log')
    return line


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = session_from_args(args)
    except UserError as exc:
        return error_exit('dp-ros sim', exc)
    checkpoint, video = cfg.checkpoint, cfg.video_path
    print(f'dp-ros sim: {checkpoint} on the {args.robot} robot in {args.mode} mode, seeds '
          f'{cfg.seeds}, ROS_DOMAIN_ID='
          f"{os.environ.get('ROS_DOMAIN_ID', '0')}; node logs in {args.logs}/")
    try:
        results = run_session(cfg, progress=not args.no_progress)
    except (SimError, FileNotFoundError) as exc:
        print(f'dp-ros sim: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('dp-ros sim: interrupted', file=sys.stderr)
        return 130
    scores = [float(r['max_reward']) for r in results]
    print(f'score (max reward per episode): {", ".join(f"{s:.3f}" for s in scores)}; mean '
          f'{sum(scores) / len(scores):.3f} over {len(scores)} episode(s)')
    if video:
        print(video_line(video, cfg.seeds, args.logs))
    return 0


if __name__ == '__main__':
    sys.exit(main())
