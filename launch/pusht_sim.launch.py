"""Push-T sim bridge + policy node: `ros2 launch dp_ros pusht_sim.launch.py checkpoint:=DIR`.

mode:=lockstep (default) runs on sim time, the sim waiting for each action, so a CPU gives
the same result as a GPU; mode:=realtime steps the sim at wall-clock 10 Hz. `dp-ros sim` is
the same pair of nodes with the same parameter files for a machine without a ROS install.
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
    checkpoint = LaunchConfiguration('checkpoint')
    mode = LaunchConfiguration('mode')
    device = LaunchConfiguration('device')
    lockstep = PythonExpression(["'", mode, "' == 'lockstep'"])
    return LaunchDescription([
        # the shipped Fast DDS profile for full-size images, unless one is named already
        IncludeLaunchDescription(PythonLaunchDescriptionSource(
            os.path.join(share, 'launch', 'fast_dds_profile.launch.py'))),
        DeclareLaunchArgument('checkpoint',
                              default_value=os.path.join(share, 'checkpoints', 'pusht_default'),
                              description='policy directory (policy.json + model.safetensors)'),
        DeclareLaunchArgument('mode', default_value='lockstep',
                              choices=['lockstep', 'realtime'],
                              description='lockstep: sim time waits for the policy; '
                                          'realtime: wall-clock 10 Hz'),
        DeclareLaunchArgument('device', default_value='auto',
                              description="policy device: 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        Node(
            package='dp_ros',
            executable='pusht_sim_node',
            name='pusht_sim',
            namespace='pusht',
            output='screen',
            parameters=[os.path.join(config_dir, 'pusht_sim.yaml'), {'mode': mode}],
        ),
        Node(
            package='dp_ros',
            executable='policy_node',
            name='dp_policy',
            output='screen',
            parameters=[
                os.path.join(config_dir, 'policy_pusht.yaml'),
                {'checkpoint': checkpoint, 'device': device, 'lockstep': lockstep,
                 'use_sim_time': lockstep},
            ],
        ),
    ])
