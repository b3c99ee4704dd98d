"""Thin rclpy adapters: conversions and the nodes."""
