"""A typical arm camera reaches the policy node from another process: 640x480 at 30 Hz, raw
rgb8 and jpeg, both processes with the shipped Fast DDS profile (shared memory).

Without the profile 0-18 of 100 raw frames arrived (Fast DDS's default transports drop the
large best-effort samples; bench/bench_large_images.py measures both). The camera is the
bench's camera role; the count is the node's own (input_image_filed on /diagnostics).
"""
from __future__ import annotations

import sys

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros.test_policy_node import RELIABLE, latest_diagnostics, node_cmd
from ros.tiny_checkpoint import make_tiny_checkpoint
from support import REPO_ROOT

pytestmark = pytest.mark.ros

FRAMES = 60
PROFILE = {'FASTDDS_DEFAULT_PROFILES_FILE': str(REPO_ROOT / 'config' / 'fastdds_large_data.xml')}


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny')


@pytest.mark.parametrize('compressed', [False, True], ids=['rgb8', 'jpeg'])
def test_640x480_at_30hz_reaches_the_node(ros_processes, ros_probe, checkpoint, compressed):
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        checkpoint, compressed_images=compressed, diagnostics_period_s=0.2), env=PROFILE)
    camera = ros_processes.start('camera', [
        sys.executable, str(REPO_ROOT / 'bench' / 'bench_large_images.py'), 'camera',
        '--topic', '/cam/image_raw', '--frames', str(FRAMES), '--rate', '30']
        + (['--compressed'] if compressed else []), env=PROFILE)
    assert camera.popen.wait(120) == 0, camera.log()
    assert f'"sent": {FRAMES}' in camera.log()
    n = len(diags)  # the count has settled: two more diagnostics after the camera is done
    ros_probe.wait_for(lambda: len(diags) >= n + 2, 20.0, 'two more diagnostics')
    values = latest_diagnostics(diags)
    # the transport's failure is 0-18 % (no profile); a node starved of CPU by other work
    # drops a few frames from its sensor-data queue by design (55 of 60 arrived once in a
    # full CI run on the 2 cores; 60 of 60 alone): a bound between the two, not a timing
    assert int(values['input_image_filed']) >= 0.75 * FRAMES, values
    # every frame decodes whole; one handled over stamp_tolerance_s after its stamp (a node
    # starved for a second in a full CI run: once, in the jpeg case) is refused as stale
    broken = {k: v for k, v in values.items()
              if k.startswith('bad_') and k not in ('bad_messages', 'bad_stamp_past')}
    assert set(broken.values()) <= {'0'}, values
    assert int(values.get('bad_stamp_past', '0')) <= 0.25 * FRAMES, values
    assert int(values['input_image_received']) <= FRAMES
    assert node.alive(), node.log()


def test_a_camera_too_small_for_the_checkpoints_crop_is_counted_not_fatal(ros_processes,
                                                                         ros_probe, tmp_path):
    # a checkpoint whose frames were cut from a larger camera (camera_crop beyond 640 x 480):
    # each frame is a bad message of its own kind, logged once; the node keeps running
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    meta['obs']['image']['camera_crop'] = [400, 300, 366, 366]
    crop_checkpoint = make_tiny_checkpoint(tmp_path / 'cropped', shape_meta=meta)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(crop_checkpoint, diagnostics_period_s=0.2),
                               env=PROFILE)
    camera = ros_processes.start('camera', [
        sys.executable, str(REPO_ROOT / 'bench' / 'bench_large_images.py'), 'camera',
        '--topic', '/cam/image_raw', '--frames', '20', '--rate', '30'], env=PROFILE)
    assert camera.popen.wait(120) == 0, camera.log()
    ros_probe.wait_for(lambda: diags and int(latest_diagnostics(diags).get(
        'bad_camera_crop', 0)) >= 10, 20.0, 'bad_camera_crop on /diagnostics')
    values = latest_diagnostics(diags)
    assert values['input_image_filed'] == '0', values
    assert node.log().count('skipped a bad message (camera_crop)') == 1, node.log()
    assert 'outside the 640x480 frame' in node.log()
    assert node.alive(), node.log()
