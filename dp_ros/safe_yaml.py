"""The YAML loader of the files dp_ros reads from users (training configs, bag2zarr
configs, parameter files, bag metadata.yaml): PyYAML's SafeLoader, which runs no code, with a
bound on what anchors and aliases expand to.

A SafeLoader still expands aliases: 600 bytes nesting nine aliases ten deep ("billion
laughs") build a value of 9**11 leaves sharing a few nodes, cheap to load and ruinous to
walk (a check or an error message spelling it out took 40 s and 2.3 GB before a MemoryError).
Here a document whose aliases add more than MAX_NODES nodes to those written (the expanded
count minus the distinct nodes: a document without aliases loads whatever its size), or
refer to themselves, is a YAMLError, which the callers already turn into a one-line error
naming the file.
"""
from __future__ import annotations

from typing import Any

import yaml

# nodes a document's aliases may add to those written (each use of an alias counts the nodes
# it names): a config's shared blocks add hundreds
MAX_NODES = 100_000


class AliasBombError(yaml.YAMLError):
    """A document whose anchors and aliases expand too far (or into themselves)."""


def expanded_size(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """The nodes of `root` with every alias expanded, counted once per use; AliasBombError
    when that exceeds the distinct nodes by more than `limit` (the extra ones aliases make),
    or for an alias inside the node it names. Linear in the distinct nodes."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return []

    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative: a deeply nested document does not hit the recursion limit
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children(node))
            # the distinct nodes under this one are among those done: a lower bound of the
            # extra nodes, exact at the root
            if sizes[key] - len(sizes) > limit:
                raise AliasBombError(f'its anchors and aliases expand to more than {limit} '
                                     f'values beyond those written (an alias bomb?)')
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise AliasBombError('an alias refers to the node that holds it (a recursive '
                                 'value)')
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children(node) if id(c) not in sizes)
    return sizes[id(root)]


class SafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader refusing documents whose aliases add more than MAX_NODES nodes
    (expanded_size)."""

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            expanded_size(node)
        return node


def safe_load(text: str, loader: type[SafeLoader] = SafeLoader) -> Any:
    """yaml.safe_load with the alias bound (or `loader`, a subclass of SafeLoader)."""
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader
