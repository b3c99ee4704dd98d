"""Push-T simulator and its ROS 2 bridge node."""
