"""`ros2 launch dp_ros FILE name:=value ...` where the ros2 CLI is missing but the launch
library is installed: what ros2launch does, an include of the package's launch file with the
arguments, run by a LaunchService (which forwards Ctrl-C to the nodes).

`--push-namespace NS FILE ...` includes it under PushROSNamespace(NS), as a launch file that
starts one robot's nodes in the robot's namespace would."""
from __future__ import annotations

import os
import sys

from ament_index_python.packages import get_package_share_directory
from launch.actions import GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

from launch import LaunchDescription, LaunchService


def main(argv: list[str]) -> int:
    namespace = None
    if argv[:1] == ['--push-namespace']:
        namespace, argv = argv[1], argv[2:]
    name, *args = argv
    path = os.path.join(get_package_share_directory('dp_ros'), 'launch', name)
    arguments = [tuple(a.split(':=', 1)) for a in args]
    include = IncludeLaunchDescription(PythonLaunchDescriptionSource(path),
                                       launch_arguments=arguments)
    if namespace is not None:
        try:
            from launch_ros.actions import PushROSNamespace
        except ImportError:  # Humble's name (renamed in Iron)
            from launch_ros.actions import PushRosNamespace as PushROSNamespace

        include = GroupAction([PushROSNamespace(namespace), include])
    service = LaunchService(argv=args)
    service.include_launch_description(LaunchDescription([include]))
    return service.run()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
