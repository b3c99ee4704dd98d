"""The Fast DDS profile of the nodes a dp_ros launch file starts; included by the others.

The shipped profile (config/fastdds_large_data.xml) puts full-size camera images through
shared memory (the file says why). A profile the environment names already, under either
variable name, is kept (a variable set but empty names none); dds_profile:=FILE chooses
another. An include does not scope what it sets, so the variables reach every node the
including file starts after it (`dp-ros sim` follows the same rule:
dp_ros.app.sim_launcher.node_environment).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable

from launch import LaunchDescription

FAST_DDS_2_DISTROS = ('humble', 'iron', 'jazzy')  # read only FASTRTPS_...; 3.x warns on it
PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument(
            'dds_profile', default_value='',
            description='Fast DDS XML profile of the nodes started here; empty: the one '
                        'FASTDDS_DEFAULT_PROFILES_FILE or FASTRTPS_DEFAULT_PROFILES_FILE names '
                        '(set and not empty), else config/fastdds_large_data.xml'),
        OpaqueFunction(function=profile_variables),
    ])


def profile_variables(context):
    """dds_profile:=, else the first of the variables that is set and not empty (launch's
    EnvironmentVariable would take an empty one: the nodes got ''), else the shipped one;
    under FASTRTPS_... too on the Fast DDS 2.x distros, which read no other."""
    environment = context.environment
    profile = (context.launch_configurations.get('dds_profile')
               or next((environment[v] for v in PROFILE_VARIABLES if environment.get(v)), '')
               or os.path.join(get_package_share_directory('dp_ros'), 'config',
                               'fastdds_large_data.xml'))
    actions = [SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', profile)]
    if environment.get('ROS_DISTRO', '') in FAST_DDS_2_DISTROS:
        actions.append(SetEnvironmentVariable('FASTRTPS_DEFAULT_PROFILES_FILE', profile))
    return actions
