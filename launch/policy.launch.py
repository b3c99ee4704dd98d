"""The policy node alone, for a robot: `ros2 launch dp_ros policy.launch.py
params_file:=my_arm.yaml [checkpoint:=DIR]`.

The parameter file names the cameras, joints, the trajectory controller topic and usually the
checkpoint (see config/policy_example_arm.yaml). An argument overrides the file only when it is
given: checkpoint:=DIR, device:=cpu|cuda|..., mode:=lockstep|realtime (the lockstep parameter,
and use_sim_time with it) and use_sim_time:=true|false; the parameters of the arguments left
out are the file's (else the node's defaults).
managed:=true starts the lifecycle variant (policy_lifecycle_node) instead: autostart:=configure
(the default) loads and warms the policy up but publishes nothing until
`ros2 lifecycle set /dp_policy activate` (/NS/dp_policy under a pushed namespace NS);
autostart:=activate goes on to publish (with start_enabled: false, from ~/enable on);
autostart:=none leaves every transition to you or a
lifecycle manager.
The node runs with the shipped Fast DDS profile (dds_profile:=...): the camera drivers must
load the same one (FASTDDS_DEFAULT_PROFILES_FILE) for full-size images to arrive whole.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.events import matches_action
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription

NODE_NAME = 'dp_policy'  # the policy node's name (NODE_NAME of dp_ros.ros.policy_node)


def generate_launch_description():
    share = get_package_share_directory('dp_ros')
    return LaunchDescription([
        # the shipped Fast DDS profile for full-size images, unless one is named already
        IncludeLaunchDescription(PythonLaunchDescriptionSource(
            os.path.join(share, 'launch', 'fast_dds_profile.launch.py'))),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config',
                                                         'policy_example_arm.yaml'),
                              description='policy node parameter file (checkpoint, topics, '
                                          'joints, bounds)'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description='policy directory (policy.json + model.safetensors); '
                                          "empty: the parameter file's"),
        DeclareLaunchArgument('mode', default_value='', choices=['', 'realtime', 'lockstep'],
                              description='realtime: a robot; lockstep: a simulator that '
                                          'waits for each action on sim time (use_sim_time '
                                          "too); empty: the parameter file's"),
        DeclareLaunchArgument('device', default_value='',
                              description="policy device: 'auto', 'cpu', 'cuda' or 'cuda:N'; "
                                          "empty: the parameter file's (else auto)"),
        DeclareLaunchArgument('use_sim_time', default_value='',
                              choices=['', 'true', 'false', 'True', 'False'],
                              description='use /clock; empty: as mode:= says, else the '
                                          "parameter file's"),
        DeclareLaunchArgument('managed', default_value='false', choices=['false', 'true'],
                              description='true: the lifecycle node (configure loads, '
                                          'activate publishes, deactivate holds)'),
        DeclareLaunchArgument('autostart', default_value='configure',
                              choices=['none', 'configure', 'activate'],
                              description='managed:=true: the transitions the launch makes '
                                          '(configure: loaded, warm, publishing nothing)'),
        OpaqueFunction(function=policy_node),
    ])


def overrides(arguments: dict) -> dict:
    """The parameters that the launch arguments given set, over the parameter file: an
    argument left empty (its default) sets nothing, so the file's value stands (launch_ros
    passes these after the file, and the later one wins). Strings go as str ParameterValues:
    launch_ros reads a plain value as YAML ('/data/run #3' -> '/data/run', 'yes' -> true)."""
    params = {}
    if arguments.get('checkpoint'):
        params['checkpoint'] = ParameterValue(arguments['checkpoint'], value_type=str)
    if arguments.get('device'):
        params['device'] = ParameterValue(arguments['device'], value_type=str)
    if arguments.get('mode'):
        params['lockstep'] = arguments['mode'] == 'lockstep'
        params['use_sim_time'] = params['lockstep']  # lockstep runs on the sim's /clock
    if arguments.get('use_sim_time'):
        params['use_sim_time'] = arguments['use_sim_time'].lower() == 'true'
    return params


def policy_node(context):
    """policy_node, or policy_lifecycle_node and the transitions autostart:= asks for, sent to
    that node itself (its name under any namespace pushed around this launch file)."""
    arguments = context.launch_configurations
    parameters = [arguments['params_file'], overrides(arguments)]
    if arguments['managed'] != 'true':
        return [Node(package='dp_ros', executable='policy_node', name=NODE_NAME,
                     output='screen', parameters=parameters)]
    node = LifecycleNode(package='dp_ros', executable='policy_lifecycle_node', name=NODE_NAME,
                         namespace='', output='screen', parameters=parameters)
    actions = [node]
    if arguments['autostart'] == 'activate':  # once configured by the launch: activate
        actions.append(RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state='configuring', goal_state='inactive',
            handle_once=True,
            entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                                  transition_id=Transition.TRANSITION_ACTIVATE))],
        )))
    if arguments['autostart'] in ('configure', 'activate'):
        actions.append(EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=Transition.TRANSITION_CONFIGURE)))
    return actions
