"""Push-T sim bridge + policy node: `ros2 launch dp_ros pusht_sim.launch.py checkpoint:=DIR`.

mode:=lockstep (default) runs on sim time, the sim waiting for each action, so a CPU gives
the same result as a GPU; mode:=realtime steps the sim at wall-clock 10 Hz. A policy that acts
on the end effector's pose is wired to the sim's pose topics. `dp-ros sim` is the same pair of
nodes with the same parameter files and wiring for a machine without a ROS install: the sim in
/pusht, where the policy's parameter file names its topics (under a pushed namespace too), and
the launch ends when either node exits.
"""
import os
import shutil

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnShutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

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
    from dp_ros.app.sim_launcher import SIM_NAMESPACE, ends_the_launch, launch_parameter_files

    arguments = context.launch_configurations
    checkpoint, mode, device = arguments['checkpoint'], arguments['mode'], arguments['device']
    lockstep = mode == 'lockstep'
    # config/pusht_sim.yaml and config/policy_pusht.yaml, wired to the checkpoint
    sim_params, policy_params = launch_parameter_files(checkpoint, 'point')
    # launch_ros reads a plain string as YAML ('/data/run #3' -> '/data/run', 'yes' -> true):
    # the launch arguments go to the nodes as the str that launch_parameter_files was given
    return [
        # the files' directory, this launch's own, goes when the launch ends
        RegisterEventHandler(OnShutdown(on_shutdown=[OpaqueFunction(
            function=lambda _: shutil.rmtree(sim_params.parent, ignore_errors=True))])),
        Node(
            package='dp_ros',
            executable='pusht_sim_node',
            name='pusht_sim',
            namespace=SIM_NAMESPACE,
            output='screen',
            parameters=[sim_params, {'mode': ParameterValue(mode, value_type=str)}],
            on_exit=ends_the_launch('the sim'),  # one node alone is no session
        ),
        Node(
            package='dp_ros',
            executable='policy_node',
            name='dp_policy',
            output='screen',
            parameters=[
                policy_params,
                {'checkpoint': ParameterValue(checkpoint, value_type=str),
                 'device': ParameterValue(device, value_type=str), 'lockstep': lockstep,
                 'use_sim_time': lockstep},
            ],
            on_exit=ends_the_launch('the policy node'),
        ),
    ]
