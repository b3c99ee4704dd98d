"""The Fast DDS profile of the nodes a dp_ros launch file starts; included by the others.

The shipped profile (config/fastdds_large_data.xml) puts full-size camera images through
shared memory (the file says why). A profile the environment names already, under either
variable name, is kept; dds_profile:=FILE chooses another. An include does not scope what it
sets, so the variables reach every node the including file starts after it (`dp-ros sim`
follows the same rule: dp_ros.app.sim_launcher.node_environment).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration

from launch import LaunchDescription

FAST_DDS_2_DISTROS = ('humble', 'iron', 'jazzy')  # read only FASTRTPS_...; 3.x warns on it


def generate_launch_description():
    config_dir = os.path.join(get_package_share_directory('dp_ros'), 'config')
    profile = LaunchConfiguration('dds_profile')
    return LaunchDescription([
        DeclareLaunchArgument(
            'dds_profile',
            default_value=EnvironmentVariable(
                'FASTDDS_DEFAULT_PROFILES_FILE',
                default_value=EnvironmentVariable(
                    'FASTRTPS_DEFAULT_PROFILES_FILE',
                    default_value=os.path.join(config_dir, 'fastdds_large_data.xml'))),
            description='Fast DDS XML profile of the nodes started here'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', profile),
        *([SetEnvironmentVariable('FASTRTPS_DEFAULT_PROFILES_FILE', profile)]
          if os.environ.get('ROS_DISTRO', '') in FAST_DDS_2_DISTROS else []),
    ])
