"""Bad camera frames are counted on receipt, decoded or not: with the node disabled no
observation decodes a frame, and a short mono8 or YUV frame, or a compressed depth image, went
uncounted (a review's fuzzing: such a frame superseded before use was never counted). The
checks: test/test_camera_message_checks.py."""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from ros.test_policy_node import RELIABLE, node_cmd, wait_diag
from sensor_msgs.msg import CompressedImage, Image

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros


def short_raw(encoding: str, row_bytes: int, rows: int) -> Image:
    return Image(encoding=encoding, width=96, height=96, step=row_bytes,
                 data=bytes(row_bytes * rows - 10))


@pytest.mark.parametrize('compressed', [False, True])
def test_bad_frames_are_counted_undecoded(ros_processes, ros_probe, checkpoint, compressed):
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    ros_processes.start('policy', node_cmd(checkpoint, start_enabled=False,
                                           compressed_images=compressed))
    if compressed:
        frames = [CompressedImage(format='16UC1; png compressed ', data=b'\x89PNG'),
                  CompressedImage(format='32FC1; compressedDepth png', data=b'\x89PNG')]
        key, count = 'bad_image_encoding', 2
    else:
        frames = [short_raw('mono8', 96, 96), short_raw('yuv422', 192, 96),
                  short_raw('nv21', 96, 144)]
        key, count = 'bad_image_size', 3
    camera = ros_probe.publisher(CompressedImage if compressed else Image, '/cam/image_raw',
                                 qos_profile_sensor_data)
    ros_probe.wait_for_subscribers(camera, 1, 60.0)
    # best effort, and the graph shows the node's reader before our writer has matched it:
    # the frames are sent again until counted (a CI run lost the first ones)
    for attempt in range(15):
        for frame in frames:  # one each: a frame superseded before use is no different
            frame.header.stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds)
            camera.publish(frame)
        try:
            values = wait_diag(ros_probe, diags, lambda d: int(d.get(key, 0)) >= count, 2.0,
                               f'{key} counted')
            break
        except TimeoutError:
            if attempt == 14:
                raise
    assert values['state'] == 'disabled'
