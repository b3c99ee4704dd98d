"""Push-T sim bridge + policy node: `ros2 launch dp_ros pusht_sim.launch.py checkpoint:=DIR`.

mode:=lockstep (default) runs on sim time, the sim waiting for each action, so a CPU gives
the same result as a GPU; mode:=realtime steps the sim at wall-clock 10 Hz. `dp-ros sim` is
the same pair of nodes with the same parameter files for a machine without a ROS install.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory('dp_ros')
    config_dir = os.path.join(share, 'config')
    checkpoint = LaunchConfiguration('checkpoint')
    mode = LaunchConfiguration('mode')
    device = LaunchConfiguration('device')
    lockstep = PythonExpression(["'", mode, "' == 'lockstep'"])
    profile = LaunchConfiguration('dds_profile')
    return LaunchDescription([
        # full-size camera images through shared memory (config/fastdds_large_data.xml says
        # why); a profile the environment names already is kept
        DeclareLaunchArgument('dds_profile',
                              default_value=EnvironmentVariable(
                                  'FASTDDS_DEFAULT_PROFILES_FILE',
                                  default_value=os.path.join(config_dir,
                                                             'fastdds_large_data.xml')),
                              description='Fast DDS XML profile of the nodes started here'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', profile),
        # Fast DDS 2.x (Jazzy and older) reads only the old name; 3.x warns when it is set
        *([SetEnvironmentVariable('FASTRTPS_DEFAULT_PROFILES_FILE', profile)]
          if os.environ.get('ROS_DISTRO', '') in ('humble', 'iron', 'jazzy') else []),
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
