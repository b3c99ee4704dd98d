"""A policy node on a compressed camera that sends some damaged JPEGs (every third frame cut
short, its end marker kept: OpenCV decodes it smeared) counts them as bad frames
(`bad_image_decode`), says why in its log, and goes on planning on the whole frames: the
damaged ones are never used, the node does not stall. The decoding: test/test_jpeg_decode.py.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from ros.test_policy_node import RELIABLE, node_cmd, wait_diag
from sensor_msgs.msg import CompressedImage, JointState
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros


class DamagingCamera:
    """A 10 Hz JPEG camera (96x96) and joint states, stamped now; frame k damaged when
    k % 3 == 2."""

    def __init__(self, probe):
        self.probe = probe
        self.camera = probe.publisher(CompressedImage, '/cam/image_raw', qos_profile_sensor_data)
        self.joints = probe.publisher(JointState, '/arm/joint_states', qos_profile_sensor_data)
        self.sent = self.damaged = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        rng = np.random.default_rng(0)
        while not self._stop.is_set():
            stamp = cv.ns_to_time(self.probe.node.get_clock().now().nanoseconds)
            noise = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
            msg = cv.numpy_to_compressed_image(noise, 'jpeg', stamp=stamp, quality=90)
            if self.sent % 3 == 2:
                data = bytes(msg.data)
                msg.data = data[:len(data) // 2] + b'\xff\xd9'
                self.damaged += 1
            self.camera.publish(msg)
            self.sent += 1
            self.joints.publish(cv.numpy_to_joint_state(rng.uniform(50, 450, 2), ['jx', 'jy'],
                                                        stamp=stamp))
            time.sleep(0.1)

    def close(self):
        self._stop.set()
        self._thread.join(2.0)


def test_damaged_frames_are_counted_and_the_node_plans_on_the_whole_ones(
        ros_processes, ros_probe, checkpoint):
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    chunks = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint, compressed_images=True))
    camera = DamagingCamera(ros_probe)
    try:
        ros_probe.wait_for_messages(chunks, 1, 120.0, 'a first chunk')
        values = wait_diag(ros_probe, diags, lambda d: int(d.get('bad_image_decode', 0)) >= 3,
                           60.0, 'three damaged frames counted')
        seen = len(chunks)
        ros_probe.wait_for_messages(chunks, seen + 3, 60.0, 'chunks after the damaged frames')
        assert 'is damaged: Corrupt JPEG data' in node.log(), node.log()[-3000:]
        assert int(values['bad_image_decode']) <= camera.damaged  # only the damaged ones
        assert node.alive(), node.log()[-3000:]
    finally:
        camera.close()
