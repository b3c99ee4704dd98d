"""The one rosbags typestore every bag reader and writer of dp_ros starts from."""
from __future__ import annotations

from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore


def default_typestore() -> Typestore:
    """ROS 2 Jazzy's message definitions; types a bag defines itself are registered on top."""
    return get_typestore(Stores.ROS2_JAZZY)
