"""ROS 2 bag reading and writing (rosbags, one typestore); no rclpy, no training."""
