"""The Fast DDS profile of the nodes a dp_ros launch file starts; included by the others.

The shipped profile (config/fastdds_large_data.xml) puts full-size camera images through
shared memory (the file says why). A profile the environment names already, under either
variable name, is kept (a variable set but empty names none); dds_profile:=FILE chooses
another. An include does not scope what it sets, so the variables reach every node the
including file starts after it. The rule is dp_ros.app.sim_launcher.dds_profile_variables,
which `dp-ros sim` follows too.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable

from launch import LaunchDescription


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
    """The variables dp_ros.app.sim_launcher.dds_profile_variables gives for the launch's
    environment and dds_profile:= (launch's EnvironmentVariable would take a variable set
    but empty as a choice: the nodes got '')."""
    from dp_ros.app.sim_launcher import dds_profile_variables

    chosen = context.launch_configurations.get('dds_profile', '')
    return [SetEnvironmentVariable(name, value) for name, value
            in dds_profile_variables(context.environment, chosen).items()]
