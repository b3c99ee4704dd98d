"""The policy node alone, for a robot: `ros2 launch dp_ros policy.launch.py checkpoint:=DIR
params_file:=my_arm.yaml`.

The parameter file names the cameras, joints and the trajectory controller topic (see
config/policy_example_arm.yaml); checkpoint, mode and device override it from the command line.
managed:=true starts the lifecycle variant (policy_lifecycle_node) instead: autostart:=configure
(the default) loads and warms the policy up but publishes nothing until
`ros2 lifecycle set /dp_policy activate`; autostart:=activate goes on to publish;
autostart:=none leaves every transition to you or a lifecycle manager.
The node runs with the shipped Fast DDS profile (dds_profile:=...): the camera drivers must
load the same one (FASTDDS_DEFAULT_PROFILES_FILE) for full-size images to arrive whole.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import LifecycleNode, LifecycleTransition, Node
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription

NODE = '/dp_policy'  # the policy node's fully qualified name (NODE_NAME of dp_ros.ros)


def generate_launch_description():
    share = get_package_share_directory('dp_ros')
    config_dir = os.path.join(share, 'config')
    mode = LaunchConfiguration('mode')
    managed = LaunchConfiguration('managed')
    autostart = LaunchConfiguration('autostart')
    lockstep = PythonExpression(["'", mode, "' == 'lockstep'"])
    parameters = [
        LaunchConfiguration('params_file'),
        {'checkpoint': LaunchConfiguration('checkpoint'),
         'device': LaunchConfiguration('device'), 'lockstep': lockstep,
         'use_sim_time': LaunchConfiguration('use_sim_time')},
    ]
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
        DeclareLaunchArgument('managed', default_value='false', choices=['false', 'true'],
                              description='true: the lifecycle node (configure loads, '
                                          'activate publishes, deactivate holds)'),
        DeclareLaunchArgument('autostart', default_value='configure',
                              choices=['none', 'configure', 'activate'],
                              description='managed:=true: the transitions the launch makes '
                                          '(configure: loaded, warm, publishing nothing)'),
        Node(
            package='dp_ros',
            executable='policy_node',
            name='dp_policy',
            output='screen',
            emulate_tty=True,
            parameters=parameters,
            condition=UnlessCondition(managed),
        ),
        LifecycleNode(
            package='dp_ros',
            executable='policy_lifecycle_node',
            name='dp_policy',
            namespace='',
            output='screen',
            emulate_tty=True,
            parameters=parameters,
            condition=IfCondition(managed),
        ),
        LifecycleTransition(
            lifecycle_node_names=[NODE], transition_ids=[Transition.TRANSITION_CONFIGURE],
            condition=IfCondition(PythonExpression(
                ["'", managed, "' == 'true' and '", autostart, "' == 'configure'"]))),
        LifecycleTransition(
            lifecycle_node_names=[NODE],
            transition_ids=[Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE],
            condition=IfCondition(PythonExpression(
                ["'", managed, "' == 'true' and '", autostart, "' == 'activate'"]))),
    ])
