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

from collections.abc import Callable, Iterable

CONFLICT_WINDOW_NS = 1_000_000_000  # a driver restarting under a new identity: refused ~1 s
# rmw's names for a publisher's node that discovery has not named yet
UNKNOWN_NODE_NAME, UNKNOWN_NODE_NAMESPACE = '_NODE_NAME_UNKNOWN_', '_NODE_NAMESPACE_UNKNOWN_'
UNNAMED = 'a publisher the graph does not name (yet)'
NAMES_REFRESH_NS = 1_000_000_000  # a publisher still unnamed is asked about at most this often


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


class PublisherNames:
    """The node behind each publisher of one topic, by its gid, as the ROS graph names it
    (`lookup`: (gid, node namespace, node name) per publisher of the topic). A new publisher
    is asked about at once; one the graph does not name yet (its messages can come before its
    node's discovery data: rmw's '_NODE_NAME_UNKNOWN_') is not kept but asked about again, at
    most every `refresh_ns`: kept, it named the second publisher of a joint
    '_NODE_NAMESPACE_UNKNOWN_/_NODE_NAME_UNKNOWN_' in every later warning."""

    def __init__(self, refresh_ns: int = NAMES_REFRESH_NS) -> None:
        self.refresh_ns = int(refresh_ns)
        self._names: dict[bytes, str] = {}
        self._asked: set[bytes] = set()  # publishers a lookup was made for
        self._asked_ns: int | None = None

    def names(self, publishers: Iterable[bytes],
              lookup: Callable[[], Iterable[tuple[bytes, str, str]]], now_ns: int) -> list[str]:
        """'namespace/node' of each publisher (UNNAMED where the graph has no name for it)."""
        publishers = list(publishers)
        unnamed = [p for p in publishers if p not in self._names]
        due = self._asked_ns is None or now_ns - self._asked_ns >= self.refresh_ns
        if any(p not in self._asked for p in unnamed) or (unnamed and due):
            self._asked.update(publishers)
            self._asked_ns = int(now_ns)
            for gid, namespace, name in lookup():
                if (full := node_name(namespace, name)) != UNNAMED:
                    self._names[gid] = full
        return [self._names.get(p, UNNAMED) for p in publishers]


def node_name(namespace: str, name: str) -> str:
    """'namespace/node' as the graph gives a publisher's node; UNNAMED while it does not."""
    if not name or name == UNKNOWN_NODE_NAME or namespace == UNKNOWN_NODE_NAMESPACE:
        return UNNAMED
    return f'{namespace.rstrip("/")}/{name}'


def publisher_key(info: dict | None) -> bytes | None:
    """The publisher's identity in an rclpy MessageInfo (None where rclpy gives none)."""
    gid = (info or {}).get('publisher_gid')
    if not gid or not gid.get('data'):
        return None
    return bytes(gid['data'])
