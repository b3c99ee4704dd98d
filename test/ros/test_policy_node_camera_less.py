"""A camera-less (low-dim only) policy runs in the policy node: `dp-ros train` trains one
(data.rgb_keys: {}), and a parameter file's `image_topics: []` reads as unset (a ROS parameter
has no typed empty list), so the default ['/pusht/image_raw'] stood and the node refused the
checkpoint ("one topic per camera"): no parameter value could run it. A checkpoint without a
camera now takes the default as none."""
from __future__ import annotations

from support import module_cmd, one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from training.trainer import train


def test_a_camera_less_policy_starts_in_the_node_with_no_image_topics(tmp_path, ros_processes):
    """A policy trained with data.rgb_keys: {} starts in the policy node from a parameter
    file that gives image_topics: [] (it reaches its warm-up)."""
    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store, data={'rgb_keys': {}},
                       train={'max_steps': 1, 'checkpoint_every': 1})
    train(cfg, tmp_path / 'run')
    params = tmp_path / 'params.yaml'
    params.write_text(
        'dp_policy:\n  ros__parameters:\n'
        f"    checkpoint: '{tmp_path / 'run' / 'checkpoints' / 'latest'}'\n"
        '    device: cpu\n    cpu_threads: 1\n    image_topics: []\n'
        '    joint_state_topic: /arm/joint_states\n    state_joint_names: [jx, jy]\n'
        '    action_topic: /arm/joint_trajectory\n    action_joint_names: [jx, jy]\n')
    node = ros_processes.start('policy', module_cmd('dp_ros.ros.policy_node', '--ros-args',
                                                    '--params-file', str(params)))
    node.wait_for_log('warm-up', 60.0)
