"""What the tests share: paths, Push-T constants, tiny policies, dataset episodes, commands.

Imported as `support` (test/conftest.py puts test/ on sys.path, as for ros_harness). Heavy
libraries (torch, zarr) are imported inside the functions that need them, so importing this
module costs nothing; what needs rclpy (QoS profiles, processes, the probe node) lives in
ros_harness.py.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

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
DT_NS = 100 * MS  # the Push-T control period (10 Hz)
SIM_NAMESPACE = '/pusht'
PUSHT_JOINTS = ('agent_x', 'agent_y')

# a Push-T image policy small enough to sample a chunk in tens of milliseconds on one core
TINY_POLICY: dict[str, Any] = {'resnet_width': 0.25, 'down_dims': (32, 64, 128),
                               'sampler': 'ddim', 'num_inference_steps': 4}


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
                         **overrides: Any) -> Path:
    """A tiny random Push-T image policy saved as a checkpoint, for the node and eval tests.

    Random weights are enough to check timing, safety and determinism and keep the tests
    independent of training; TINY_POLICY's four DDIM steps sample in tens of milliseconds.
    """
    import numpy as np
    import torch

    from dp_ros.policy.checkpoint import save_policy
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    torch.manual_seed(seed)
    config = tiny_pusht_config(**overrides)
    rng = np.random.default_rng(seed)
    data = {'agent_pos': rng.uniform(20, 490, size=(64, 2)),
            'action': rng.uniform(60, 450, size=(64, 2))}
    policy = DiffusionPolicy(config, Normalizer.from_data(data)).eval()
    return save_policy(policy, directory, control_period_s=control_period_s,
                       provenance={'note': 'tiny random test policy'})


# --- the dataset -----------------------------------------------------------------------------

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


def run_installed(name: str, *args: str, cwd: str | Path, timeout: float = 120.0
                  ) -> subprocess.CompletedProcess:
    """Run an installed console script to its end; stdout and stderr captured as text."""
    return subprocess.run([str(installed_script(name)), *args], cwd=cwd, env=installed_env(),
                          capture_output=True, text=True, timeout=timeout)


def nonempty_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]
