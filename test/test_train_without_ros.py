"""`dp-ros train` runs where no ROS, bag or video-encoding package is installed: the GPU
machine that trains (bench/gpu_train_score.sh) has torch, numpy and OpenCV, and the wheels
carried for training only. A chain of imports (run_check.dataset_path -> lerobot_source ->
lerobot_convert -> bag2zarr and zarr_writer -> dp_ros.bags.reader -> rosbags) stopped every
run there with "needs the Python package 'rosbags'", found by a review before a device run
did; DEFAULT_KEY_MAP lives in lerobot_format now. Pinned by a real run (validation, action
MSE, a closed-loop evaluation with its video, checkpoints) with those packages hidden as a
machine without them has none: every import finder answers None for them."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml
from support import checkout_env
from tiny_runs import copy_episodes, run_config

# ROS, the bag readers and their own dependencies, PyAV (LeRobot videos)
HIDDEN = ('rclpy', 'rosbags', 'mcap', 'mcap_ros2', 'lark', 'av', 'ament_index_python',
          'std_msgs', 'sensor_msgs', 'geometry_msgs', 'builtin_interfaces', 'trajectory_msgs',
          'diagnostic_msgs', 'nav_msgs', 'lifecycle_msgs', 'std_srvs', 'rosgraph_msgs',
          'rcl_interfaces', 'rosidl_runtime_py')

RUN = '''
import json, sys
HIDDEN = set(json.loads(sys.argv[1]))


class Hiding:
    """A meta path finder that finds nothing of HIDDEN (as where they are not installed)."""

    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in HIDDEN:
            return None
        find = getattr(self.inner, 'find_spec', None)
        return find(name, path, target) if find else None

    def __getattr__(self, item):
        return getattr(self.inner, item)


sys.meta_path[:] = [Hiding(f) for f in sys.meta_path]
for name in [m for m in sys.modules if m.split('.')[0] in HIDDEN]:
    del sys.modules[name]
from dp_ros.cli import main
code = main(sys.argv[2:])
print('LOADED', json.dumps(sorted({m.split('.')[0] for m in sys.modules} & HIDDEN)))
sys.exit(code)
'''


def test_a_training_run_needs_no_ros_bag_or_video_package(tmp_path, pusht_zarr):
    store = copy_episodes(pusht_zarr, tmp_path / 'demos.zarr')
    cfg = run_config(store, train={'max_steps': 4, 'val_every': 2, 'action_mse_every': 2,
                                   'eval_every': 4, 'checkpoint_every': 2},
                     eval={'n_episodes': 1, 'max_steps': 8, 'n_video_episodes': 1})
    (tmp_path / 'run.yaml').write_text(yaml.safe_dump(cfg))
    run = tmp_path / 'run'
    done = subprocess.run(
        [sys.executable, '-c', RUN, json.dumps(HIDDEN), 'train', '--config',
         str(tmp_path / 'run.yaml'), '--output', str(run)],
        env=checkout_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'LOADED []' in done.stdout, done.stdout[-2000:]
    events = [json.loads(line)['event'] for line in (run / 'log.jsonl').read_text().splitlines()
              if line.strip()]
    assert {'val', 'eval'} <= set(events), sorted(set(events))
    assert (run / 'checkpoints' / 'latest' / 'policy.json').is_file()
    assert list((run / 'media').glob('*')), 'no evaluation video'
