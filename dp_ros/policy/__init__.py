"""The model, ROS-free and torch-only."""
