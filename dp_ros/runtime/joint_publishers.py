"""Which publishers give each joint of a state topic: two at once are two sources of truth.

A joint_state_publisher (or a second driver) left running beside the arm's driver gives the
same joints other values, message by message: the policy plans on either, and a stop holds
at either, due one period ahead (found by exploratory testing: a stray [0, 0] between the
arm's [250, 260], the hold sent it there). The messages carry no mark of which is right, so a
joint that two publishers gave within CONFLICT_WINDOW_NS is refused from both until one is
gone: the node stops on stale inputs meanwhile and says which publishers
(bad_joint_publishers). Publishers are told apart by the message info's publisher_gid (rclpy
from Kilted on); an rclpy without it checks nothing.
"""
from __future__ import annotations

from collections.abc import Iterable

CONFLICT_WINDOW_NS = 1_000_000_000  # a driver restarting under a new identity: refused ~1 s


class JointPublishers:
    """Per joint, the publishers that gave it lately (steady clock)."""

    def __init__(self, window_ns: int = CONFLICT_WINDOW_NS) -> None:
        self.window_ns = int(window_ns)
        self._seen: dict[str, dict[bytes, int]] = {}  # joint -> {publisher: last given ns}

    def others(self, joints: Iterable[str], publisher: bytes | None, now_ns: int
               ) -> list[bytes]:
        """Record that `publisher` gave `joints` now; the other publishers that gave one of
        them within the window, sorted (the message is then refused); [] when none, or when
        `publisher` is unknown (None)."""
        if publisher is None:
            return []
        found: set[bytes] = set()
        for joint in joints:
            seen = self._seen.setdefault(joint, {})
            for other, t_ns in list(seen.items()):
                if now_ns - t_ns > self.window_ns:
                    del seen[other]
                elif other != publisher:
                    found.add(other)
            seen[publisher] = int(now_ns)
        return sorted(found)


def publisher_key(info: dict | None) -> bytes | None:
    """The publisher's identity in an rclpy MessageInfo (None where rclpy gives none)."""
    gid = (info or {}).get('publisher_gid')
    if not gid or not gid.get('data'):
        return None
    return bytes(gid['data'])
