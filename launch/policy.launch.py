"""The policy node alone, for a robot: `ros2 launch dp_ros policy.launch.py checkpoint:=DIR
params_file:=my_arm.yaml`.

The parameter file names the cameras, joints and the trajectory controller topic (see
config/policy_example_arm.yaml); checkpoint, mode and device override it from the command line.
The node runs with the shipped Fast DDS profile (dds_profile:=...): the camera drivers must
load the same one (FASTDDS_DEFAULT_PROFILES_FILE) for full-size images to arrive whole.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory('dp_ros')
    config_dir = os.path.join(share, 'config')
    mode = LaunchConfiguration('mode')
    lockstep = PythonExpression(["'", mode, "' == 'lockstep'"])
    return LaunchDescription([
        # the shipped Fast DDS profile for full-size images, unless one is named already
        IncludeLaunchDescription(PythonLaunchDescriptionSource(
            os.path.join(share, 'launch', 'fast_dds_profile.launch.py'))),
        DeclareLaunchArgument('checkpoint',
                              description='policy directory (policy.json + model.safetensors)'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(config_dir,
                                                         'policy_example_arm.yaml'),
                              description='policy node parameter file (topics, joints, bounds)'),
        DeclareLaunchArgument('mode', default_value='realtime',
                              choices=['realtime', 'lockstep'],
                              description='realtime: a robot; lockstep: a simulator that '
                                          'waits for each action on sim time'),
        DeclareLaunchArgument('device', default_value='auto',
                              description="policy device: 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        DeclareLaunchArgument('use_sim_time', default_value=lockstep,
                              description='use /clock (default: true in lockstep mode)'),
        Node(
            package='dp_ros',
            executable='policy_node',
            name='dp_policy',
            output='screen',
            emulate_tty=True,
            parameters=[
                LaunchConfiguration('params_file'),
                {'checkpoint': LaunchConfiguration('checkpoint'),
                 'device': LaunchConfiguration('device'), 'lockstep': lockstep,
                 'use_sim_time': LaunchConfiguration('use_sim_time')},
            ],
        ),
    ])
