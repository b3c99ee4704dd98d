"""A multi-camera arm rig for test_policy_node_camera_load.py: N full-size jpeg cameras at RATE
Hz and a JointState topic at JS Hz (joints jx, jy), all stamped now, for SECONDS once the
node's camera subscriptions have matched; prints what went out as one JSON line."""
from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np


def main() -> int:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, JointState

    from dp_ros.ros import conversions as cv

    p = argparse.ArgumentParser()
    p.add_argument('--cams', type=int, default=3)
    p.add_argument('--width', type=int, default=1920)
    p.add_argument('--height', type=int, default=1080)
    p.add_argument('--rate', type=float, default=30.0)
    p.add_argument('--js', type=float, default=200.0)
    p.add_argument('--seconds', type=float, default=8.0)
    a = p.parse_args()
    rclpy.init()
    node = rclpy.create_node('camera_load_rig')
    cams = [node.create_publisher(CompressedImage, f'/cam{i}/image_raw', qos_profile_sensor_data)
            for i in range(a.cams)]
    joints = node.create_publisher(JointState, '/arm/joint_states', qos_profile_sensor_data)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:a.height, 0:a.width]
    base = np.stack([x * 255 // a.width, y * 255 // a.height, (x + y) % 256], axis=2)
    frames = [cv.numpy_to_compressed_image(np.clip(base + rng.integers(-20, 20, base.shape),
                                                   0, 255).astype(np.uint8), 'jpeg', quality=90)
              for _ in range(3)]
    deadline = time.monotonic() + 30
    while (any(c.get_subscription_count() < 1 for c in cams)
           or joints.get_subscription_count() < 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = {'frames': 0, 'joint_states': 0}
    stop = threading.Event()

    def joint_states():
        k, t0 = 0, time.monotonic()
        while not stop.is_set():
            joints.publish(cv.numpy_to_joint_state(np.array([200.0, 200.0]), ['jx', 'jy'],
                                                   stamp=node.get_clock().now().to_msg()))
            k += 1
            time.sleep(max(0.0, t0 + k / a.js - time.monotonic()))
        sent['joint_states'] = k

    thread = threading.Thread(target=joint_states, daemon=True)
    thread.start()
    t0, k = time.monotonic(), 0
    while time.monotonic() - t0 < a.seconds:
        for pub in cams:
            msg = frames[k % len(frames)]
            msg.header.stamp = node.get_clock().now().to_msg()
            pub.publish(msg)
        k += 1
        time.sleep(max(0.0, t0 + k / a.rate - time.monotonic()))
    elapsed = time.monotonic() - t0
    stop.set()
    thread.join(2.0)
    sent['frames'] = k
    sent['camera_hz'] = round(k / elapsed, 2)
    sent['joint_state_hz'] = round(sent['joint_states'] / elapsed, 2)
    print(json.dumps(sent), flush=True)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
