"""Parameter-file blocks meant for a node that do not reach it: said, not dropped silently.

rcl applies a `--params-file` block only to the nodes its name matches, and drops the others
without a word. A block for this node that no longer matches it (a typo, `/dp_polcy:`; a node
renamed by `-r __node:=left_policy` or moved by `-r __ns:=` while the file still says
`/dp_policy:`) would leave its limits (max_velocity, action bounds) at their defaults.

A block is taken as meant for the node when its last name is the node's name, the name the
node is built with, or a near spelling of either; blocks of other nodes (a shared file's
`/**/pusht_sim:`) are not ours to judge. One named as the node but in another namespace
(`/left/dp_policy:` read by /right/dp_policy, one file for both arms) is said only when no
block of the node's own name reaches it. A near spelling is always said, even when it is
another node's real name (`dp_policy2` beside `dp_policy`): a warning too many costs less than
a limit lost. Block names match as rcl matches them: a leading
`/` optional, `*` one namespace level, `**` any number of levels (none too); a name may be
split over nested keys (`left:` then `dp_policy:`).
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from dp_ros.safe_yaml import safe_load

PARAMS_KEY = 'ros__parameters'
# a name this close to the node's is a misspelling of it (dp_polcy), not another node's
CLOSE_NAME_CUTOFF = 0.8


def params_files(args: Sequence[str]) -> list[str]:
    """The `--params-file` paths of command-line arguments, inside `--ros-args` sections
    (ended by `--`), in order."""
    files, in_ros, it = [], False, iter(args)
    for arg in it:
        if arg == '--ros-args':
            in_ros = True
        elif arg == '--':
            in_ros = False
        elif in_ros and arg == '--params-file':
            path = next(it, None)
            if path is not None:
                files.append(path)
    return files


def block_names(tree: Any, prefix: str = '') -> Iterator[str]:
    """The node names of a parameter file's blocks: the keys down to `ros__parameters`
    joined by '/' (`/left:` then `dp_policy:` is `/left/dp_policy`)."""
    if not isinstance(tree, dict):
        return
    for key, value in tree.items():
        if key == PARAMS_KEY:
            if prefix:
                yield prefix
            continue
        name = f'{prefix.rstrip("/")}/{str(key).strip("/")}' if prefix else str(key)
        yield from block_names(value, name)


def name_pattern(block: str) -> re.Pattern[str]:
    """rcl's match of a block name against a fully qualified node name: the leading '/'
    optional, `*` one level, `**` zero or more."""
    parts = []
    for level in block.strip('/').split('/'):
        parts.append('(/[^/]+)*' if level == '**' else '/[^/]+' if level == '*'
                     else '/' + re.escape(level))
    return re.compile(''.join(parts))


def matches(block: str, node_fqn: str) -> bool:
    return name_pattern(block).fullmatch(node_fqn) is not None


def unmatched_blocks(files: Sequence[str], node_fqn: str, built_name: str) -> list[str]:
    """One warning per block of `files` meant for the node (module docstring) that does not
    reach it. A file that cannot be read is left to rcl, which refused it already."""
    own = node_fqn.rsplit('/', 1)[-1]
    names = {own, built_name}
    blocks = []
    for path in files:
        try:
            tree = safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError):
            continue
        blocks += [(path, block) for block in block_names(tree)]
    # a block of the node's own name that reaches it: one file for several namespaces
    reached = any(matches(b, node_fqn) for _, b in blocks
                  if b.rstrip('/').rsplit('/', 1)[-1] == own)
    warnings = []
    for path, block in blocks:
        last = block.rstrip('/').rsplit('/', 1)[-1]
        if last in ('*', '**') or matches(block, node_fqn):
            continue
        if last in names and reached:
            continue  # another instance's block (the node has one of its own)
        if last in names or difflib.get_close_matches(last, names, n=1,
                                                      cutoff=CLOSE_NAME_CUTOFF):
            warnings.append(f"parameter file {path}: its block '{block}' matches no node here "
                            f'(this node is {node_fqn}): its parameters were not applied')
    return warnings


def warn_unmatched_blocks(node: Any, args: Sequence[str], built_name: str) -> None:
    """Log unmatched_blocks for `node` started with command-line `args` (sys.argv)."""
    for warning in unmatched_blocks(params_files(args), node.get_fully_qualified_name(),
                                    built_name):
        node.get_logger().warning(warning)
