"""ROS-free deployment logic: observation history, chunk timing, inference runner."""
