"""Command topics nobody listens to, and command topics others publish on too.

The commonest reason a policy "runs" and the arm stands still: its commands go to a topic no
controller subscribes to (the controller is not loaded or not active, or listens under
another name: `/joint_trajectory_controller/joint_trajectory` for `/arm_controller/...`).
Nothing fails: rclpy publishes to no one. The node feeds each command topic's count of
matched subscribers here, with when it last published there, and says which went unheard;
and each command topic's other publishers (CommandRivals). ROS-free.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from dp_ros.stamps import seconds_to_ns

# how long a command topic may have no subscriber while the node publishes before it is
# said: discovery matches a controller that is there within a fraction of a second
UNHEARD_AFTER_S = 2.0


class CommandListeners:
    """Which command topics the node published on while they had no subscriber for
    `grace_s`: unheard until a subscriber matches (a slow policy publishing every few
    seconds, or a node disabled since, changes nothing of that)."""

    def __init__(self, grace_s: float = UNHEARD_AFTER_S):
        self.grace_ns = seconds_to_ns(grace_s)
        self._since: dict[str, int] = {}  # topic -> since when it had none while publishing
        self._unheard: set[str] = set()

    def check(self, counts: Mapping[str, int], published_ns: Mapping[str, int],
              now_ns: int) -> list[str]:
        """The topics that became unheard now (to warn about once each time), from each
        command topic's count of matched subscribers and when the node last published there
        (`published_ns`, absent: never), on one monotonic clock with `now_ns`: a topic is
        unheard once it has had no subscriber for the grace and the node published there
        since it had none; heard again as soon as a subscriber matches."""
        became = []
        for topic, count in counts.items():
            if count > 0:
                self._since.pop(topic, None)
                self._unheard.discard(topic)
                continue
            since = self._since.setdefault(topic, now_ns)
            last = published_ns.get(topic)
            if last is not None and last >= since and now_ns - since >= self.grace_ns \
                    and topic not in self._unheard:
                self._unheard.add(topic)
                became.append(topic)
        return became

    @property
    def unheard(self) -> list[str]:
        return sorted(self._unheard)


class CommandRivals:
    """Command topics other nodes publish on too (a teleop, a second policy, a script left
    running): a controller follows whichever command came last, so the arm jerks between
    them, and the node's step limits and stops reason from commands it did not all send.
    Nothing said so. The node goes on publishing (a teleop merely there, idle, is no fault)
    and the diagnostics WARN while another publisher is there."""

    def __init__(self) -> None:
        self._rivals: dict[str, tuple[str, ...]] = {}

    def check(self, rivals: Mapping[str, Sequence[str]]) -> list[str]:
        """From each command topic's other publishing nodes (by name; absent or empty: none),
        the topics to warn about now: those whose other publishers appeared or changed."""
        became = []
        for topic, names in rivals.items():
            now = tuple(sorted(set(names)))
            if now and now != self._rivals.get(topic):
                became.append(topic)
            if now:
                self._rivals[topic] = now
            else:
                self._rivals.pop(topic, None)
        return became

    def of(self, topic: str) -> tuple[str, ...]:
        return self._rivals.get(topic, ())

    @property
    def contended(self) -> str:
        """'topic (node, ...), ...' for /diagnostics (outputs_contended); '' when none."""
        return ', '.join(f"{t} ({', '.join(n)})" for t, n in sorted(self._rivals.items()))
