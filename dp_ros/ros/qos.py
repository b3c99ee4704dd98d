"""The QoS profiles every dp_ros node uses, defined once.

Cameras: sensor-data QoS (best effort, keep last 5): a late frame is worth nothing.
Commands, results and diagnostics: reliable. Episode announcements: latched (transient
local), so a node that starts late still learns the running episode.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

SENSOR_DATA = qos_profile_sensor_data
RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Joint states: best effort (matches reliable and best-effort publishers alike), with a queue
# deep enough for 100+ Hz streams while sampling holds the GIL for a few ms at a time.
JOINT_STATES = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
