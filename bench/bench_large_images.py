"""Full-size camera images between processes: how many frames arrive, with and without the
shipped Fast DDS profile (config/fastdds_large_data.xml).

    .venv/bin/python bench/bench_large_images.py [--frames 100] [--rate 30]
        [--output bench/results/large_images.json]

A camera process publishes `--frames` 640x480 rgb8 frames (sensor-data QoS, best effort) at
`--rate` Hz, stamped now, once its subscriber has matched; the receiver is another process:
a plain subscriber counting distinct frames, or the policy node (tiny random checkpoint,
96x96 model input: every frame converted and resized), whose /diagnostics input_image_filed
says how many it filed. Each case runs without the profile (Fast DDS defaults: frames go as
UDP fragments) and with it (shared memory), and once more with CompressedImage (jpeg) into
the node. Goal (issue 13): >= 95 % of the frames reach the node.

The same file is the camera of test/ros/test_policy_large_images.py:
    python bench/bench_large_images.py camera --topic /cam/image_raw --frames 40 --rate 10
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / 'config' / 'fastdds_large_data.xml'
PROFILE_VARS = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')
RESULTS = REPO / 'bench' / 'results' / 'large_images.json'


def test_frame(height: int = 480, width: int = 640):
    """A smooth synthetic scene (jpeg compresses it as it would a camera's), 3 channels."""
    import numpy as np

    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=2).astype(
        np.uint8)


# --- the two far ends: camera and plain subscriber ------------------------------------------

def camera(args: argparse.Namespace) -> int:
    """Publish the frames once a subscriber has matched; print how many went out."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    from dp_ros.ros import conversions as cv

    rclpy.init()
    node = rclpy.create_node('bench_camera')
    kind = CompressedImage if args.compressed else Image
    pub = node.create_publisher(kind, args.topic, qos_profile_sensor_data)
    deadline = time.monotonic() + args.match_timeout
    while pub.get_subscription_count() < 1:
        if time.monotonic() > deadline:
            print(json.dumps({'sent': 0, 'error': 'no subscriber'}), flush=True)
            return 1
        time.sleep(0.02)
    frame = test_frame()
    start = time.monotonic()
    for k in range(args.frames):
        stamp = node.get_clock().now().to_msg()
        msg = (cv.numpy_to_compressed_image(frame, 'jpeg', stamp=stamp, quality=90)
               if args.compressed else cv.numpy_to_image(frame, 'rgb8', stamp=stamp))
        msg.header.frame_id = str(k)
        pub.publish(msg)
        time.sleep(max(0.0, start + (k + 1) / args.rate - time.monotonic()))
    size = len(msg.data)
    time.sleep(0.5)  # best effort: nothing to wait on; the subscriber counts what came
    node.destroy_node()
    rclpy.shutdown()
    print(json.dumps({'sent': args.frames, 'bytes_per_frame': size,
                      'seconds': round(time.monotonic() - start, 2)}), flush=True)
    return 0


def subscriber(args: argparse.Namespace) -> int:
    """Count distinct frames until interrupted (SIGINT); print the count."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node('bench_subscriber')
    seen: set[str] = set()
    node.create_subscription(Image, args.topic, lambda msg: seen.add(msg.header.frame_id),
                             qos_profile_sensor_data)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    print(json.dumps({'received': len(seen)}), flush=True)
    rclpy.try_shutdown()
    return 0


# --- the bench -------------------------------------------------------------------------------

def environment(profile: bool, domain: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARS}
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / 'test')]),
               PYTHONUNBUFFERED='1')
    env.setdefault('AMENT_PREFIX_PATH', sys.prefix)
    if profile:  # Fast DDS 3 (this environment): the new name only (it warns on the old one)
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(PROFILE)
    return env


def camera_cmd(topic: str, frames: int, rate: float, compressed: bool = False) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), 'camera', '--topic', topic,
            '--frames', str(frames), '--rate', str(rate)] + (['--compressed'] if compressed
                                                              else [])


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith('{')][-1])


def plain_case(profile: bool, frames: int, rate: float, domain: int) -> dict:
    env = environment(profile, domain)
    sub = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), 'subscriber',
                            '--topic', '/bench/image_raw'], env=env, stdout=subprocess.PIPE,
                           text=True)
    cam = subprocess.run(camera_cmd('/bench/image_raw', frames, rate), env=env,
                         capture_output=True, text=True, timeout=120)
    sub.send_signal(signal.SIGINT)  # the camera is done (it waited for this subscriber)
    out, _ = sub.communicate(timeout=60)
    sent = last_json(cam.stdout)
    return {'receiver': 'plain subscriber', 'profile': profile, 'format': 'rgb8 640x480',
            **sent, 'received': last_json(out)['received']}


def node_case(profile: bool, frames: int, rate: float, domain: int, compressed: bool,
              checkpoint: Path) -> dict:
    """The policy node files the frames; its /diagnostics say how many."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from ros_harness import RosProbe

    env = environment(profile, domain)
    os.environ['ROS_DOMAIN_ID'] = str(domain)  # the probe (small messages: any transport)
    probe = RosProbe('bench_large_images_probe')
    diags = probe.collect(DiagnosticArray, '/diagnostics',
                          QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    node = subprocess.Popen(
        [sys.executable, '-m', 'dp_ros.ros.policy_node', '--ros-args',
         '-p', f'checkpoint:={checkpoint}', '-p', 'device:=cpu', '-p', 'cpu_threads:=1',
         '-p', 'image_topics:=[/bench/image_raw]', '-p', 'joint_state_topic:=/bench/joints',
         '-p', 'state_joint_names:=[jx,jy]', '-p', 'action_joint_names:=[jx,jy]',
         '-p', f'compressed_images:={str(compressed).lower()}',
         '-p', 'diagnostics_period_s:=0.2'],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        cam = subprocess.run(camera_cmd('/bench/image_raw', frames, rate, compressed), env=env,
                             capture_output=True, text=True, timeout=180)
        sent = last_json(cam.stdout)

        def filed() -> int:
            values = {kv.key: kv.value for kv in diags[-1].status[0].values} if diags else {}
            return int(values.get('input_image_filed', 0))

        n = len(diags)  # the count settles: two diagnostics more without a change
        probe.wait_for(lambda: len(diags) >= n + 2, 30.0, 'diagnostics')
        values = {kv.key: kv.value for kv in diags[-1].status[0].values}
        return {'receiver': 'policy_node', 'profile': profile,
                'format': ('jpeg' if compressed else 'rgb8') + ' 640x480', **sent,
                'received': filed(), 'bad_messages': int(values['bad_messages'])}
    finally:
        node.terminate()
        node.wait(30)
        probe.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='role')
    for role in ('camera', 'subscriber'):
        p = sub.add_parser(role)
        p.add_argument('--topic', default='/bench/image_raw')
        p.add_argument('--frames', type=int, default=100)
        p.add_argument('--rate', type=float, default=30.0)
        p.add_argument('--compressed', action='store_true')
        p.add_argument('--match-timeout', type=float, default=60.0)
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--output', type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.role == 'camera':
        return camera(args)
    if args.role == 'subscriber':
        return subscriber(args)

    sys.path[:0] = [str(REPO), str(REPO / 'test')]
    from support import make_tiny_checkpoint

    checkpoint = make_tiny_checkpoint(Path(os.environ.get('TMPDIR', '/tmp'))
                                      / f'bench_large_images_{os.getpid()}' / 'tiny')
    domain = 150 + os.getpid() % 50
    cases = []
    for profile in (False, True):
        cases.append(plain_case(profile, args.frames, args.rate, domain))
        print(json.dumps(cases[-1]), flush=True)
        cases.append(node_case(profile, args.frames, args.rate, domain, False, checkpoint))
        print(json.dumps(cases[-1]), flush=True)
    cases.append(node_case(True, args.frames, args.rate, domain, True, checkpoint))
    print(json.dumps(cases[-1]), flush=True)
    for case in cases:
        case['fraction'] = round(case['received'] / max(case['sent'], 1), 3)
    report = {
        'bench': 'large_images', 'command': 'python bench/bench_large_images.py '
        + ' '.join(argv if argv is not None else sys.argv[1:]),
        'frames': args.frames, 'rate_hz': args.rate, 'profile': str(PROFILE.relative_to(REPO)),
        'goal': '>= 95 % of 640x480 rgb8 frames at 30 Hz reach the node (with the profile)',
        'cases': cases, 'load_average': list(os.getloadavg()), 'cpus': os.cpu_count(),
        'python': platform.python_version(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + '\n')
    for case in cases:
        print(f"{case['receiver']:>16} {case['format']:<13} profile={case['profile']!s:<5} "
              f"{case['received']:>4}/{case['sent']} ({case['fraction']:.0%})")
    print(f'wrote {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
