"""Push-T sim bridge + policy node: `ros2 launch dp_ros pusht_sim.launch.py checkpoint:=DIR`.

mode:=lockstep (default) runs on sim time, the sim waiting for each action, so a CPU gives
the same result as a GPU; mode:=realtime steps the sim at wall-clock 10 Hz. A policy that acts
on the end effector's pose is wired to the sim's pose topics. `dp-ros sim` is the same pair of
nodes with the same parameter files and wiring for a machine without a ROS install.
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
                              default_value=os.path.join(share, 'checkpoints', 'pusht_default'),
                              description='policy directory (policy.json + model.safetensors)'),
        DeclareLaunchArgument('mode', default_value='lockstep',
                              choices=['lockstep', 'realtime'],
                              description='lockstep: sim time waits for the policy; '
                                          'realtime: wall-clock 10 Hz'),
        DeclareLaunchArgument('device', default_value='auto',
                              description="policy device: 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        OpaqueFunction(function=nodes),
    ])


def nodes(context):
    """The sim and the policy node, wired by what the checkpoint acts on (table positions, or
    the end effector's pose) as `dp-ros sim` wires them: read from its policy.json."""
    from dp_ros.app.sim_launcher import launch_parameter_files

    checkpoint = LaunchConfiguration('checkpoint')
    mode = LaunchConfiguration('mode')
    device = LaunchConfiguration('device')
    lockstep = PythonExpression(["'", mode, "' == 'lockstep'"])
    # config/pusht_sim.yaml and config/policy_pusht.yaml, wired to the checkpoint
    sim_params, policy_params = launch_parameter_files(checkpoint.perform(context), 'point')
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
