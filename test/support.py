"""What the tests share: paths, Push-T constants, tiny policies, dataset episodes, commands.

Imported as `support` (test/conftest.py puts test/ on sys.path, as for ros_harness). Heavy
libraries (torch, zarr) are imported inside the functions that need them, so importing this
module costs nothing; what needs rclpy (QoS profiles, processes, the probe node) lives in
ros_harness.py.
"""
from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TEST_DIR = Path(__file__).resolve().parent
REPO_ROOT = TEST_DIR.parent
CONFIG_DIR = REPO_ROOT / 'config'
# the shipped bag2zarr config of the sim bridge's Push-T topics
BAG2ZARR_PUSHT_CONFIG = CONFIG_DIR / 'bag2zarr_pusht.yaml'
BENCH_RESULTS = REPO_ROOT / 'bench' / 'results'
# the paper's Push-T demonstrations (read-only; the `pusht_zarr` fixture fails without them)
PUSHT_DATASET = REPO_ROOT.parent / 'shared' / 'datasets' / 'pusht' / 'pusht_cchi_v7_replay.zarr'
DATASET_KEYS = ('img', 'state', 'action')
# the policy `make demo`, `dp-ros sim` and the README use
SHIPPED_CHECKPOINT = REPO_ROOT / 'checkpoints' / 'pusht_default'

PAPER_TEST_SEEDS = tuple(range(100000, 100050))  # the paper's Push-T test seeds
MS = 1_000_000  # ns
# the entries every saved train state's state.json holds (train_state_file.check_entries),
# empty: a hand-written state.json a test reads as one
STATE_ENTRIES = {'position': {'step': 0}, 'normalizer': {}, 'optimizer': {},
                 'lr_scheduler': {}, 'rng': {}}
DT_NS = 100 * MS  # the Push-T control period (10 Hz)
SIM_NAMESPACE = '/pusht'
PUSHT_JOINTS = ('agent_x', 'agent_y')

# a Push-T image policy small enough to sample a chunk in tens of milliseconds on one core
TINY_POLICY: dict[str, Any] = {'resnet_width': 0.25, 'down_dims': (32, 64, 128),
                               'sampler': 'ddim', 'num_inference_steps': 4}


# --- torch -----------------------------------------------------------------------------------

@pytest.fixture(scope='module', autouse=True)
def one_torch_thread():
    """Import into a test module to run its torch work on one thread: the 2-core CPU is
    shared with the other test processes, and more threads only contend."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- policies --------------------------------------------------------------------------------

def tiny_policy_section(**overrides: Any) -> dict[str, Any]:
    """TINY_POLICY as the `policy:` section of a training config (YAML-safe lists)."""
    section = {k: list(v) if isinstance(v, tuple) else v for k, v in TINY_POLICY.items()}
    section.update(overrides)
    return section


def tiny_pusht_config(**overrides: Any):
    """The Push-T image config (96 px camera + agent_pos) at TINY_POLICY's size."""
    from dp_ros.policy.config import pusht_image_config

    return pusht_image_config(**{**TINY_POLICY, **overrides})


def small_image_config(**overrides: Any):
    """A 32 px camera, 2-D state and action, and a two-level UNet: a forward pass takes
    milliseconds on one core (model, sampler and checkpoint unit tests)."""
    from dp_ros.policy.config import PolicyConfig

    params: dict[str, Any] = dict(
        shape_meta={'obs': {'image': {'shape': [3, 32, 32], 'type': 'rgb'},
                            'agent_pos': {'shape': [2], 'type': 'low_dim'}},
                    'action': {'shape': [2]}},
        crop_shape=(28, 28), resnet_width=0.25, down_dims=(16, 32), num_keypoints=8,
        feature_dim=16, diffusion_step_embed_dim=32)
    params.update(overrides)
    return PolicyConfig(**params)


def dataset_normalizer(zarr_path: str | Path):
    """The normalizer the trainer fits on the Push-T data (action, agent_pos = state[:, :2])."""
    import zarr

    from dp_ros.policy.normalizer import Normalizer

    root = zarr.open(str(zarr_path), mode='r')
    return Normalizer.from_data({'action': root['data/action'][:],
                                 'agent_pos': root['data/state'][:, :2]})


def make_tiny_checkpoint(directory: str | Path, seed: int = 0, control_period_s: float = 0.1,
                         provenance: dict[str, Any] | None = None, **overrides: Any) -> Path:
    """A tiny random Push-T image policy saved as a checkpoint, for the node and eval tests.

    Random weights are enough to check timing, safety and determinism and keep the tests
    independent of training; TINY_POLICY's four DDIM steps sample in tens of milliseconds.
    provenance: what policy.json records of its training (default: a note).
    """
    import numpy as np
    import torch

    from dp_ros.policy.checkpoint import save_policy
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    torch.manual_seed(seed)
    config = tiny_pusht_config(**overrides)
    rng = np.random.default_rng(seed)
    width = config.shape_meta['obs']['agent_pos']['shape'][0]  # 2, or more with velocities
    data = {'agent_pos': rng.uniform(20, 490, size=(64, width)),
            'action': rng.uniform(60, 450, size=(64, 2))}
    policy = DiffusionPolicy(config, Normalizer.from_data(data)).eval()
    return save_policy(policy, directory, control_period_s=control_period_s,
                       provenance=provenance or {'note': 'tiny random test policy'})


def joint_state_shape_meta(sources: list[tuple[tuple[str, ...], str | None]], topic: str,
                           named: bool = True) -> dict:
    """The Push-T shape_meta with agent_pos read from joint-state `sources`, each (joints,
    JointState field; None: not recorded, as in data from before fields were), sourced and
    (named) named as bag2zarr records them: a velocity value is 'joint.velocity'."""
    from dp_ros.dimension_names import joint_value_name
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    state = meta['obs']['agent_pos']
    state['shape'] = [sum(len(joints) for joints, _ in sources)]
    state['sources'] = [{'kind': 'joint_state', 'topic': topic, 'width': len(joints),
                         **({'field': f} if f else {})} for joints, f in sources]
    if named:
        state['names'] = [joint_value_name(j, f or 'position') for joints, f in sources
                          for j in joints]
    return meta


def make_tiny_two_key_checkpoint(directory: str | Path, seed: int = 0) -> Path:
    """A tiny random Push-T-shaped policy whose state is two low-dim keys, as robomimic's and
    some bag2zarr configs split it: 'arm' (jx) and 'gripper' (jy), the action jx, jy."""
    import numpy as np
    import torch

    from dp_ros.policy.checkpoint import save_policy
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    torch.manual_seed(seed)
    shape_meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                          'arm': {'shape': [1], 'type': 'low_dim', 'names': ['jx']},
                          'gripper': {'shape': [1], 'type': 'low_dim', 'names': ['jy']}},
                  'action': {'shape': [2], 'names': ['jx', 'jy']}}
    rng = np.random.default_rng(seed)
    data = {'arm': rng.uniform(20, 490, size=(64, 1)), 'gripper': rng.uniform(20, 490, (64, 1)),
            'action': rng.uniform(60, 450, size=(64, 2))}
    policy = DiffusionPolicy(tiny_pusht_config(shape_meta=shape_meta),
                             Normalizer.from_data(data)).eval()
    return save_policy(policy, directory, control_period_s=0.1,
                       provenance={'note': 'tiny random two-key test policy'})


ARM_JOINTS = ('shoulder', 'elbow', 'wrist')


def make_tiny_arm_checkpoint(directory: str | Path, seed: int = 0) -> Path:
    """A tiny random policy of the arm twin's shapes: the 96 px camera and the 3 joint
    positions in, 3 joint targets (rad) out, normalized over the IK's joint ranges; the
    joint names recorded as bag2zarr records them."""
    import numpy as np
    import torch

    from dp_ros.policy.checkpoint import save_policy
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    torch.manual_seed(seed)
    shape_meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                          'joint_pos': {'shape': [3], 'type': 'low_dim',
                                        'names': list(ARM_JOINTS)}},
                  'action': {'shape': [3], 'names': list(ARM_JOINTS)}}
    config = tiny_pusht_config(shape_meta=shape_meta)
    rng = np.random.default_rng(seed)
    low, high = np.array([-2.3, 0.6, -1.4]), np.array([0.1, 2.9, -0.3])  # the IK's ranges
    data = {'joint_pos': rng.uniform(low, high, size=(64, 3)),
            'action': rng.uniform(low, high, size=(64, 3))}
    policy = DiffusionPolicy(config, Normalizer.from_data(data)).eval()
    return save_policy(policy, directory, control_period_s=0.1,
                       provenance={'note': 'tiny random arm test policy'})


POSE_ACTION = ('x', 'y', 'z', 'yaw')


def make_tiny_pose_checkpoint(directory: str | Path, seed: int = 0, state: str = 'joints',
                              action: tuple[str, ...] = POSE_ACTION,
                              bounds: dict[str, tuple[float, float]] | None = None) -> Path:
    """A tiny random policy that commands an end effector's pose: the 96 px camera and the
    3 arm joints (state='pose': the end effector's pose, the action's fields) in, a Cartesian
    target out (x, y, z in m; yaw in rad, or other orientation fields as `action` names them,
    rotation matrix entries in [-1, 1]); `bounds` replaces the range of the fields it names
    (the arm twin's table: x, y in px)."""
    import numpy as np
    import torch

    from dp_ros.policy.checkpoint import save_policy
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    torch.manual_seed(seed)
    shape_meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                          'joint_pos': {'shape': [3], 'type': 'low_dim',
                                        'names': list(ARM_JOINTS)}},
                  'action': {'shape': [len(action)], 'names': list(action)}}
    rng = np.random.default_rng(seed)
    bounds = {'x': (0.2, 0.6), 'y': (-0.3, 0.3), 'z': (0.05, 0.4), 'yaw': (-3.1, 3.1),
              **(bounds or {})}
    low, high = zip(*(bounds.get(name, (-1.0, 1.0)) for name in action), strict=True)
    data = {'joint_pos': rng.uniform(-2, 2, size=(64, 3)),
            'action': rng.uniform(low, high, size=(64, len(action)))}
    if state == 'pose':
        shape_meta['obs']['joint_pos'] = {'shape': [len(action)], 'type': 'low_dim',
                                          'names': list(action)}
        data['joint_pos'] = rng.uniform(low, high, size=(64, len(action)))
    config = tiny_pusht_config(shape_meta=shape_meta)
    policy = DiffusionPolicy(config, Normalizer.from_data(data)).eval()
    return save_policy(policy, directory, control_period_s=0.1,
                       provenance={'note': 'tiny random pose-target test policy'})


# --- the dataset -----------------------------------------------------------------------------

def write_random_walk_store(path: str | Path, lengths: list[int], seed: int = 0) -> None:
    """A Push-T-like zarr store (96 px image, 5-D state, 2-D action) of random walks, one
    episode per length: open-loop and selection tests compare policies on it."""
    import numpy as np

    from training.replay_buffer import ReplayBuffer

    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer.create(path)
    for n in lengths:
        action = 250 + np.cumsum(rng.normal(0, 5, (n, 2)), axis=0)
        buffer.add_episode({
            'img': rng.integers(0, 256, (n, 96, 96, 3)).astype(np.uint8),
            'state': np.concatenate([action, rng.normal(0, 1, (n, 3))], 1).astype(np.float32),
            'action': action.astype(np.float32)})


def set_episode_ends(path: str | Path, ends: list[int]) -> None:
    """A store's meta/episode_ends rewritten as another tool may write them: the writers
    here refuse an empty episode (a repeated end), which open reads."""
    import zarr

    array = zarr.open_array(str(Path(path) / 'meta/episode_ends'), mode='r+')
    array.resize((len(ends),))
    array[:] = ends


def episode_bounds(zarr_path: str | Path):
    """(starts, ends) of every episode of a replay buffer, as int64 arrays (end exclusive)."""
    import numpy as np
    import zarr

    ends = np.asarray(zarr.open(str(zarr_path), mode='r')['meta/episode_ends'][:], np.int64)
    return np.concatenate([[0], ends[:-1]]).astype(np.int64), ends


def shortest_episode_indices(zarr_path: str | Path, n: int) -> list[int]:
    """The n shortest episodes, in dataset order (ties: the earlier episode)."""
    import numpy as np

    starts, ends = episode_bounds(zarr_path)
    return sorted(int(i) for i in np.argsort(ends - starts, kind='stable')[:n])


def shortest_episodes(zarr_path: str | Path, n: int, keys: tuple[str, ...] = DATASET_KEYS
                      ) -> tuple[list[int], list[dict]]:
    """(indices, data) of the n shortest episodes: per episode {key: array over its steps}."""
    import numpy as np
    import zarr

    root = zarr.open(str(zarr_path), mode='r')
    starts, ends = episode_bounds(zarr_path)
    picked = shortest_episode_indices(zarr_path, n)
    return picked, [{k: np.asarray(root[f'data/{k}'][starts[i]:ends[i]]) for k in keys}
                    for i in picked]


# --- commands --------------------------------------------------------------------------------

def module_cmd(module: str, *args: str) -> list[str]:
    """Command line that runs a module of this checkout with the test's interpreter."""
    return [sys.executable, '-m', module, *args]


def checkout_env(**extra: str) -> dict[str, str]:
    """The environment for a process that must import this checkout (and test/ helpers such
    as ros.conversion_publisher), not an installed copy: PYTHONPATH leads with both."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO_ROOT), str(TEST_DIR), *filter(None, [env.get('PYTHONPATH')])])
    env.update(extra)
    return env


def sim_node_cmd(*params: str, namespace: str = SIM_NAMESPACE) -> list[str]:
    """The pusht_sim node of this checkout in `namespace`; params are 'name:=value'."""
    args = ['--ros-args', '-r', f'__ns:={namespace}']
    for p in params:
        args += ['-p', p]
    return module_cmd('sim_bridge.pusht_sim_node', *args)


def console_scripts() -> dict[str, str]:
    """setup.py's console_scripts: name -> 'module:function'."""
    tree = ast.parse((REPO_ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    entries = ast.literal_eval(value)
                    return dict(e.replace(' ', '').split('=', 1) for e in entries)
    raise AssertionError('setup.py has no console_scripts')


def installed_script(name: str, prefix: str | Path = sys.prefix) -> Path:
    """A console script of the package installed in `prefix` (default: the test's interpreter).

    colcon (setup.cfg's install_scripts) puts them in <prefix>/lib/dp_ros, where `ros2 run`
    looks; a pip install (`make venv`) in the environment's scripts directory (bin/).
    """
    prefix = Path(prefix)
    scripts = Path(sysconfig.get_path('scripts', vars={'base': str(prefix),
                                                       'platbase': str(prefix)}))
    places = [prefix / 'lib' / 'dp_ros' / name, scripts / name]
    for path in places:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f'console script {name} found in none of '
                            f'{[str(p.parent) for p in places]}: run `make venv` (or '
                            '`pip install --no-deps --no-build-isolation .`)')


def installed_env(**extra: str) -> dict[str, str]:
    """The environment for an installed script: without PYTHONPATH, so that it runs the
    installed copy of the package and not this checkout."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(extra)
    return env


def run_installed(name: str, *args: str, cwd: str | Path, timeout: float = 120.0,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run an installed console script to its end; stdout and stderr captured as text.
    `env`: variables added to installed_env()."""
    return subprocess.run([str(installed_script(name)), *args], cwd=cwd,
                          env=installed_env(**(env or {})), capture_output=True, text=True,
                          timeout=timeout)


def without_torch(directory: Path) -> dict[str, str]:
    """Environment variables under which `import torch` fails (ImportError naming why): a
    `torch` package on PYTHONPATH, ahead of the installed one, that refuses to load. For
    checks that a command finds an error before it loads torch."""
    package = directory / 'torch'
    package.mkdir(parents=True, exist_ok=True)
    (package / '__init__.py').write_text(
        "raise ImportError('torch imported (this test runs without it)')\n")
    return {'PYTHONPATH': str(directory)}


def default_sigint() -> None:
    """Popen preexec_fn for a child that a test interrupts with SIGINT.

    A shell that starts the suite in the background (`make test &`, nohup, some CI runners)
    makes SIGINT ignored, and children inherit that: Python then never raises
    KeyboardInterrupt. The child gets the default disposition back before it starts.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def nonempty_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --- bags from other writers -----------------------------------------------------------------

# the foreign bag of issue 12: what a non-rosbag2 writer (Foxglove's mcap-ros2-support) makes
FOREIGN_JOINTS = ('shoulder', 'elbow', 'wrist')  # the config's order; the bag has others
FOREIGN_TOPICS = {'camera': '/camera/image_raw', 'joints': '/joint_states',
                  'commands': '/arm_controller/joint_trajectory', 'wrist': '/wrist/image_raw'}
FOREIGN_T0_NS = 1_700_000_123_000_000_000  # a wall-clock epoch time, on a 100 ms boundary
ROUNDINGS = ('down', 'up')


def foreign_bag_config(**top: Any) -> dict:
    """config/bag2zarr_example_arm.yaml's settings with the foreign bag's topics: one 30 Hz
    camera (the reference), the 100 Hz joint states, the commanded trajectory as the action."""
    import yaml

    raw = yaml.safe_load((CONFIG_DIR / 'bag2zarr_example_arm.yaml').read_text())
    joints = list(FOREIGN_JOINTS)
    raw.update(reference_topic=FOREIGN_TOPICS['camera'], episodes={'min_steps': 2}, keys={
        'img': {'image': FOREIGN_TOPICS['camera'], 'shape': [96, 96]},
        'state': {'joint_state': FOREIGN_TOPICS['joints'], 'joints': joints,
                  'tolerance': 0.02},
        'action': {'joint_trajectory': FOREIGN_TOPICS['commands'], 'joints': joints}})
    raw.update(top)
    return raw


def _ros2_msgdef(msgtype: str) -> str:
    from dp_ros.bags.typestore import default_typestore

    return default_typestore().generate_msgdef(msgtype, ros_version=2)[0]


def write_foreign_mcap(path: str | Path, seconds: float = 3.0, rounding: str = 'down',
                       seed: int = 0, camera_hz: int = 30, joint_hz: int = 100,
                       command_hz: int = 10, pad_bytes: int = 40, camera_start_s: float = 0.0,
                       wrist_start_s: float | None = None, jitter_ns: int = 0,
                       camera_size: tuple[int, int] = (96, 96),
                       t0_ns: int = FOREIGN_T0_NS,
                       gripper_topic: str | None = None,
                       gripper_state_topic: str | None = None) -> dict[str, Any]:
    """A bare .mcap as Foxglove's writer makes it, and what it recorded (the truth).

    A camera_hz rgb8 camera (camera_size: height, width) whose rows carry pad_bytes of
    garbage (step > width*3),
    joint_hz JointState with the joints in reverse order (and an extra one), command_hz
    JointTrajectory commands (one point, due at its stamp) with the joints in another order.
    The true instants are t0 + i/rate; stamps are integer ns rounded `rounding`: 'down' puts
    every camera stamp 1-2 ns before its instant and every joint/command stamp 1 ns after it,
    'up' the other way round, so that neither order of a grid time and its samples is
    trivially exact. jitter_ns moves camera and joint stamps by up to that much (uniform).
    wrist_start_s: a second camera (same rate) that starts that late. gripper_topic: the
    gripper's own trajectory controller, commanded with the arm (its joint off the arm's
    commands). gripper_state_topic: the gripper's joint state (0.25) on a topic of its own at
    half joint_hz, not in the arm's. Receive (log) times are stamp + a latency per topic.
    Truth: frames (N, height, width, 3), frame_stamps; joint_stamps, joint_positions (config order);
    command_stamps, command_positions (config order); wrist_frames, wrist_stamps; t0_ns.
    """
    import math

    import numpy as np
    from mcap_ros2.writer import Writer

    if rounding not in ROUNDINGS:
        raise ValueError(f'rounding must be one of {ROUNDINGS}, got {rounding!r}')
    cam_r, other_r = (-1, 1) if rounding == 'down' else (1, -1)
    rng = np.random.default_rng(seed)

    def stamps(rate: int, round_up: bool, start_s: float = 0.0) -> np.ndarray:
        """t0 + i/rate s in integer ns, the fraction rounded down or up."""
        first = math.ceil(start_s * rate - 1e-9)
        i = np.arange(first, int(round(seconds * rate)), dtype=np.int64)
        whole, frac = divmod(i * 10**9, rate)
        return t0_ns + whole + ((frac > 0) & round_up)

    truth: dict[str, Any] = {'t0_ns': t0_ns}
    # camera: floor - 1 ('down') or ceil + 1 ('up'); the others 1 ns the other way
    cam = stamps(camera_hz, cam_r > 0, camera_start_s) + cam_r
    joints_t = stamps(joint_hz, other_r > 0) + other_r
    cmd_t = stamps(command_hz, other_r > 0) + other_r
    if jitter_ns:
        cam = cam + rng.integers(-jitter_ns, jitter_ns + 1, len(cam))
        joints_t = joints_t + rng.integers(-jitter_ns, jitter_ns + 1, len(joints_t))
    wrist_t = (np.zeros(0, np.int64) if wrist_start_s is None
               else stamps(camera_hz, cam_r > 0, wrist_start_s) + cam_r)
    height, width = camera_size
    frames = rng.integers(0, 256, (len(cam), height, width, 3), dtype=np.uint8)
    joint_pos = np.round(rng.uniform(-3, 3, (len(joints_t), len(FOREIGN_JOINTS))), 6)
    cmd_pos = np.round(rng.uniform(-3, 3, (len(cmd_t), len(FOREIGN_JOINTS))), 6)
    wrist = rng.integers(0, 256, (len(wrist_t), 96, 96, 3), dtype=np.uint8)
    truth.update(frames=frames, frame_stamps=cam, joint_stamps=joints_t,
                 joint_positions=joint_pos, command_stamps=cmd_t, command_positions=cmd_pos,
                 wrist_frames=wrist, wrist_stamps=wrist_t)

    def header(ns: int) -> dict:
        return {'stamp': {'sec': int(ns) // 10**9, 'nanosec': int(ns) % 10**9},
                'frame_id': 'camera'}

    bag_joints = ['gripper', *reversed(FOREIGN_JOINTS)]  # another order, and one more
    if gripper_state_topic:
        bag_joints = bag_joints[1:]
    cmd_joints = [FOREIGN_JOINTS[1], FOREIGN_JOINTS[2], FOREIGN_JOINTS[0]]
    messages = []  # (log time, topic, type, message)
    for topic, times, images in (('camera', cam, frames), ('wrist', wrist_t, wrist)):
        for t, rgb in zip(times, images, strict=True):
            h, w = rgb.shape[:2]
            rows = np.concatenate([rgb.reshape(h, w * 3),
                                   rng.integers(0, 256, (h, pad_bytes), dtype=np.uint8)], axis=1)
            messages.append((int(t) + 5_000_000, FOREIGN_TOPICS[topic], 'sensor_msgs/msg/Image',
                             {'header': header(t), 'height': h, 'width': w,
                              'encoding': 'rgb8', 'is_bigendian': 0, 'step': w * 3 + pad_bytes,
                              'data': rows.tobytes()}))
    for t, pos in zip(joints_t, joint_pos, strict=True):
        by_name = dict(zip(FOREIGN_JOINTS, pos.tolist(), strict=True), gripper=0.5)
        messages.append((int(t) + 1_000_000, FOREIGN_TOPICS['joints'],
                         'sensor_msgs/msg/JointState',
                         {'header': header(t), 'name': bag_joints,
                          'position': [by_name[n] for n in bag_joints],
                          'velocity': [], 'effort': []}))
    if gripper_state_topic:
        for t in joints_t[::2]:
            messages.append((int(t) + 1_500_000, gripper_state_topic,
                             'sensor_msgs/msg/JointState',
                             {'header': header(t), 'name': ['gripper'], 'position': [0.25],
                              'velocity': [], 'effort': []}))
    for t, pos in zip(cmd_t, cmd_pos, strict=True):
        by_name = dict(zip(FOREIGN_JOINTS, pos.tolist(), strict=True))
        point = {'positions': [by_name[n] for n in cmd_joints], 'velocities': [],
                 'accelerations': [], 'effort': [],
                 'time_from_start': {'sec': 0, 'nanosec': 0}}
        messages.append((int(t) + 2_000_000, FOREIGN_TOPICS['commands'],
                         'trajectory_msgs/msg/JointTrajectory',
                         {'header': header(t), 'joint_names': cmd_joints, 'points': [point]}))
        if gripper_topic:
            messages.append((int(t) + 3_000_000, gripper_topic,
                             'trajectory_msgs/msg/JointTrajectory',
                             {'header': header(t), 'joint_names': ['gripper'],
                              'points': [dict(point, positions=[0.5])]}))
    messages.sort(key=lambda m: m[0])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open('wb') as f:
        writer = Writer(f)
        schemas = {}
        for log_time, topic, msgtype, msg in messages:
            if msgtype not in schemas:
                schemas[msgtype] = writer.register_msgdef(msgtype, _ros2_msgdef(msgtype))
            writer.write_message(topic, schemas[msgtype], msg, log_time=log_time,
                                 publish_time=log_time)
        writer.finish()
    return truth


def mcap_to_bare_db3(mcap_path: str | Path, db3_path: str | Path) -> Path:
    """The same messages (CDR bytes, receive times) as a bare .db3, without metadata.yaml."""
    import shutil
    import tempfile

    from mcap.reader import make_reader

    from dp_ros.bags.recorder import BagRecorder

    db3_path = Path(db3_path)
    with tempfile.TemporaryDirectory(dir=db3_path.parent) as tmp:
        bag_dir = Path(tmp) / 'bag'
        with open(mcap_path, 'rb') as f, BagRecorder(bag_dir, storage='sqlite3') as rec:
            for schema, channel, message in make_reader(f).iter_messages(log_time_order=True):
                rec.write(channel.topic, schema.name, message.log_time, message.data)
        (storage,) = bag_dir.glob('*.db3')
        shutil.move(storage, db3_path)
    return db3_path


def node_observation_indices(streams: dict[str, Any], t_ns: int, n_obs_steps: int = 2,
                             dt_ns: int = DT_NS, max_age_ns: int = 200 * MS,
                             ) -> dict[str, list[int]]:
    """Which sample (index into each stream's sorted stamps) the policy node's
    ObservationHistory takes for the observation whose newest time is t_ns (oldest first).

    Every sample is filed (the rule ignores the ones after a time); a 'clock' stream stamped
    at exactly the observation times makes t_ns the newest time every stream has.
    """
    from dp_ros.runtime.observation_history import ObservationHistory

    history = ObservationHistory([*streams, 'clock'], n_obs_steps, dt_ns, max_age_ns,
                                 keep_ns=10**13, max_samples=10**7)
    for name, stamps in streams.items():
        for i, stamp in enumerate(stamps):
            history.add(name, int(stamp), i)
    for j in range(n_obs_steps - 1, -1, -1):
        history.add('clock', int(t_ns) - j * dt_ns, None)
    obs = history.assemble(int(t_ns))
    if not obs or obs.t_ns != int(t_ns):
        raise AssertionError(f'no observation at {t_ns}: {obs}')
    return {name: obs.values[name] for name in streams}


def as_saved_before_the_config_record(directory: str | Path) -> Path:
    """The policy's model.safetensors as a save before 2026-12-06 wrote it: without the record
    of the saved policy.json (dp_ros.policy.checkpoint.SAVED_CONFIG_KEY), so a policy.json
    edited to stand for an older file's is read as one (no hand-edit check)."""
    from safetensors.torch import load_file, save_file

    path = Path(directory) / 'model.safetensors'
    if not path.is_file():  # a policy.json alone
        return Path(directory)
    save_file(load_file(str(path)), str(path), metadata={'format': 'pt'})
    return Path(directory)


def edit_saved_policy(directory: str | Path, edit) -> Path:
    """The policy at `directory` as if training had saved it with `edit(meta)` applied to its
    policy.json (recorded sources, names a test needs): policy.json rewritten and the weights'
    record of it with it, so the hand-edit check sees a save, not an edit."""
    from safetensors.torch import load_file, save_file

    from dp_ros.policy.checkpoint import (
        SAVED_CONFIG_KEY,
        SAVED_NORMALIZER_KEY,
        normalizer_digest,
    )

    directory = Path(directory)
    meta = json.loads((directory / 'policy.json').read_text())
    edit(meta)
    (directory / 'policy.json').write_text(json.dumps(meta, indent=2))
    path = directory / 'model.safetensors'
    save_file(load_file(str(path)), str(path), metadata={
        'format': 'pt', SAVED_CONFIG_KEY: json.dumps(meta['config'], sort_keys=True),
        SAVED_NORMALIZER_KEY: normalizer_digest(meta['normalizer'])})
    return directory


def sim_pids(namespace: str) -> list[int]:
    """Processes whose command line holds the sim's namespace remap (this test's own)."""
    found = []
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / 'cmdline').read_bytes().split(b'\0')
            except OSError:
                continue
            if b'sim_bridge.pusht_sim_node' in argv and f'__ns:={namespace}'.encode() in argv:
                found.append(int(entry.name))
    return found


def wait_until_stopped(proc: subprocess.Popen, timeout_s: float,
                       ended: Callable[[int], str], late: str) -> None:
    """Until `proc` stops itself (SIGSTOP: at an exact point of its run, whatever the
    machine's load); AssertionError with ended(its exit code) if it ends first (reaped here:
    Popen no longer knows that code, so it is set), with `late` after timeout_s (a hang
    guard only)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status = os.waitpid(proc.pid, os.WUNTRACED | os.WNOHANG)
        if pid and os.WIFSTOPPED(status):
            return
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            raise AssertionError(ended(proc.returncode))
        assert time.monotonic() < deadline, late
        time.sleep(0.01)
