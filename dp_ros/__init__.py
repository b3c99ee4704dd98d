"""Diffusion policy as a ROS 2 node: runtime package (policy, runtime, ros)."""
