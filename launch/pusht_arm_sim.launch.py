"""The Push-T arm twin + policy node: `ros2 launch dp_ros pusht_arm_sim.launch.py
checkpoint:=DIR` (a policy trained on arm data: camera + 3 joint positions in, joint targets out).

The sim (config/pusht_arm_sim.yaml) is a planar 3-joint arm pushing the T, publishing its
joint states at 100 Hz and a 640 x 480 camera at 30 Hz; the policy node (config/
policy_pusht_arm.yaml) runs as on a real arm: safety envelope, execution mode, the shipped
Fast DDS profile for the full-size camera. mode:=realtime (default) on the wall clock;
mode:=lockstep waits for each action on sim time. A policy that acts on the end effector's
pose (the Cartesian twin) is wired to the sim's pose topics: the sim publishes the pose and
takes PoseStamped targets. `dp-ros sim --robot arm` is the same pair of nodes with the same
parameter files and the same wiring for a machine without a ROS install.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory('dp_ros')
    return LaunchDescription([
        # the shipped Fast DDS profile for full-size images, unless one is named already
        IncludeLaunchDescription(PythonLaunchDescriptionSource(
            os.path.join(share, 'launch', 'fast_dds_profile.launch.py'))),
        DeclareLaunchArgument('checkpoint',
                              description='arm policy directory (policy.json + '
                                          'model.safetensors)'),
        DeclareLaunchArgument('mode', default_value='realtime',
                              choices=['realtime', 'lockstep'],
                              description='realtime: wall-clock 10 Hz, as a real arm; '
                                          'lockstep: sim time waits for the policy'),
        DeclareLaunchArgument('device', default_value='auto',
                              description="policy device: 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        OpaqueFunction(function=nodes),
    ])


def nodes(context):
    """The sim and the policy node, wired by what the checkpoint acts on (joint targets, or
    the end effector's pose) as `dp-ros sim` wires them: read from its policy.json."""
    from dp_ros.app.sim_launcher import launch_parameter_files

    checkpoint = LaunchConfiguration('checkpoint')
    mode = LaunchConfiguration('mode')
    device = LaunchConfiguration('device')
    lockstep = PythonExpression(["'", mode, "' == 'lockstep'"])
    # config/pusht_arm_sim.yaml and config/policy_pusht_arm.yaml, wired to the checkpoint
    sim_params, policy_params = launch_parameter_files(checkpoint.perform(context), 'arm')
    return [
        Node(
            package='dp_ros',
            executable='pusht_sim_node',
            name='pusht_sim',
            namespace='pusht',
            output='screen',
            parameters=[sim_params, {'mode': mode}],
        ),
        Node(
            package='dp_ros',
            executable='policy_node',
            name='dp_policy',
            output='screen',
            parameters=[
                policy_params,
                {'checkpoint': checkpoint, 'device': device, 'lockstep': lockstep,
                 'use_sim_time': lockstep},
            ],
        ),
    ]
