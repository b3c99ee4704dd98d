"""Parameter-file blocks that do not reach the node they are meant for (dp_ros/ros/param_files.py).

rcl drops a --params-file block whose name matches no node without a word: a typo
(`/dp_polcy:`) or a node renamed by `-r __node:=` would start the policy without the file's
velocity limit and bounds. Pinned: the --params-file paths are read from the ROS arguments,
block names match exactly as rcl matches them (cross-checked against rclpy on in-process
nodes, never spun), and one warning names the file, the block and the node for each block
meant for the node that misses it, while other nodes' blocks and a shared file's other
namespaces stay quiet."""
from __future__ import annotations

import contextlib

import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node

from dp_ros.ros.param_files import block_names, matches, params_files, unmatched_blocks

OLD_FILE = """\
/dp_policy:
  ros__parameters:
    max_velocity: [1.0, 1.0]
    action_lower: [0.0, 0.0]
/dp_polcy:
  ros__parameters:
    max_velocty: [1.0, 1.0]
"""


def write(tmp_path, text: str, name: str = 'params.yaml') -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_params_files_are_read_from_ros_args_sections_only():
    args = ['prog', '--params-file', 'not_ros.yaml', '--ros-args', '-p', 'a:=1',
            '--params-file', 'a.yaml', '-r', '__ns:=/x', '--params-file', 'b.yaml', '--',
            '--params-file', 'user.yaml', '--ros-args', '--params-file', 'c.yaml']
    assert params_files(args) == ['a.yaml', 'b.yaml', 'c.yaml']
    assert params_files(['prog', '--ros-args', '--params-file']) == []


def test_block_names_join_nested_keys_down_to_ros_parameters():
    tree = {'/**': {'ros__parameters': {'a': 1}}, 'left': {'dp_policy': {
        'ros__parameters': {'b': 2}}}, '/right/': {'arm': {'ros__parameters': {}}}}
    assert list(block_names(tree)) == ['/**', 'left/dp_policy', '/right/arm']
    assert list(block_names(['not', 'a', 'mapping'])) == []


@contextlib.contextmanager
def node_with_file(path: str, namespace: str, name: str = 'dp_policy'):
    context = Context()
    rclpy.init(context=context)
    node = Node(name, namespace=namespace, context=context,
                cli_args=['--ros-args', '--params-file', path])
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


BLOCKS = ['/**', '**', '/*', '*', 'dp_policy', '/dp_policy', '/left/dp_policy',
          'left/dp_policy', '/*/dp_policy', '/**/dp_policy', '**/dp_policy', '*/dp_policy',
          '/left/*', '/left/**', '/*/*', '/*/**', '/left/**/dp_policy', '/**/left/dp_policy',
          '/a/**/dp_policy', '/dp_polcy']


@pytest.mark.parametrize('namespace', ['/', '/left', '/a/b'])
def test_block_matching_agrees_with_rcl(tmp_path, namespace):
    """Each block alone in a file: rclpy's overrides have its parameter exactly when
    matches() says the block reaches the node."""
    for i, block in enumerate(BLOCKS):
        path = write(tmp_path, f'"{block}":\n  ros__parameters:\n    x: 1\n', f'{i}.yaml')
        with node_with_file(path, namespace) as node:
            applied = 'x' in node._parameter_overrides  # rclpy has no public accessor
            assert matches(block, node.get_fully_qualified_name()) == applied, (block,
                                                                               namespace)


def test_a_renamed_node_is_told_its_blocks_were_not_applied(tmp_path):
    """The explorer's case: `-r __node:=left_policy` with a file that says /dp_policy (and a
    misspelt /dp_polcy): both blocks are named, with the node's name."""
    path = write(tmp_path, OLD_FILE)
    warnings = unmatched_blocks([path], '/left_policy', 'dp_policy')
    assert warnings == [
        f"parameter file {path}: its block '/dp_policy' matches no node here (this node is "
        '/left_policy): its parameters were not applied',
        f"parameter file {path}: its block '/dp_polcy' matches no node here (this node is "
        '/left_policy): its parameters were not applied']


def test_a_misspelt_block_is_said_beside_the_one_that_applies(tmp_path):
    path = write(tmp_path, OLD_FILE)
    (warning,) = unmatched_blocks([path], '/dp_policy', 'dp_policy')
    assert "block '/dp_polcy'" in warning and 'this node is /dp_policy' in warning


def test_a_namespace_the_block_does_not_reach_is_said(tmp_path):
    path = write(tmp_path, '/dp_policy:\n  ros__parameters:\n    max_velocity: [1.0]\n')
    (warning,) = unmatched_blocks([path], '/left/dp_policy', 'dp_policy')
    assert "block '/dp_policy'" in warning and 'this node is /left/dp_policy' in warning


def test_other_nodes_blocks_and_other_instances_stay_quiet(tmp_path):
    """A file shared with the sim (`/**/pusht_sim:`), wildcards, and one file for both arms
    (/left/dp_policy read by /right/dp_policy, which has its own block) are not warned."""
    shared = write(tmp_path, '/**/pusht_sim:\n  ros__parameters: {a: 1}\n'
                             '/**:\n  ros__parameters: {b: 1}\n'
                             '/*/dp_policy:\n  ros__parameters: {c: 1}\n', 'shared.yaml')
    arms = write(tmp_path, '/left/dp_policy:\n  ros__parameters: {a: 1}\n'
                           '/right/dp_policy:\n  ros__parameters: {a: 2}\n', 'arms.yaml')
    assert unmatched_blocks([shared, arms], '/right/dp_policy', 'dp_policy') == []


def test_a_file_that_cannot_be_read_is_left_to_rcl(tmp_path):
    bad = write(tmp_path, 'a: [unclosed\n')
    assert unmatched_blocks([bad, str(tmp_path / 'missing.yaml')], '/dp_policy',
                            'dp_policy') == []
