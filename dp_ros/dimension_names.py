"""What each column of a state or action array is: joint names that travel with the data.

bag2zarr records the names of every state and action array's columns (zarr attrs `names`;
LeRobot's info.json features carry the same field), training copies them into the
checkpoint's shape_meta, and the policy node checks its joint parameters against them: the
right joints in another order would feed the model permuted values and command the wrong
joints without any error. Base layer: plain Python.
"""
from __future__ import annotations

from collections.abc import Sequence

from dp_ros.params import shown

# The field's name wherever it is stored: zarr array attrs, a checkpoint's shape_meta entry
# (low-dim observations and the action), a LeRobot feature in info.json.
NAMES = 'names'

# The sensor_msgs/JointState fields a value can be read from (bag2zarr's joint_state source,
# the policy node's state_field / state_fields).
JOINT_STATE_FIELDS = ('position', 'velocity', 'effort')

# LeRobot's value names: a motor's position 'shoulder_pan.pos', its velocity 'x.vel' (lerobot's
# so100_follower, koch_follower: f'{motor}.pos'), the JointState fields they are read as. Only
# names that came from LeRobot data read so (lerobot_names): a ROS joint may be named
# 'gripper.pos', and bag2zarr names a velocity 'joint.velocity'.
LEROBOT_SUFFIXES = {'pos': 'position', 'vel': 'velocity'}


def joint_value_name(joint: str, field: str) -> str:
    """The name of a joint's value read from JointState `field`: the joint itself for its
    position, 'joint.velocity' / 'joint.effort' otherwise, so that one joint's position and
    velocity side by side have names of their own, and data of one field is never taken
    for the other's (appended to it, or fed to a node reading the other)."""
    return joint if field == 'position' else f'{joint}.{field}'


def lerobot_names(sources: object) -> bool:
    """Whether value names recorded with `sources` (a shape_meta entry's; joined over keys:
    None when any key has none) are LeRobot's, whose '.pos' / '.vel' suffixes name a field:
    LeRobot features record no sources, bag2zarr records them with every name."""
    return sources is None


def plain_value_name(name: str, lerobot: bool = True) -> str:
    """A value name as joint_value_name writes it: LeRobot's 'shoulder_pan.pos' is the joint
    'shoulder_pan' (its position), 'x.vel' is 'x.velocity'; any other name is itself, and so
    is every name not from LeRobot data (`lerobot` False: lerobot_names). The node names the
    joints of its messages so, and compares the trained names so."""
    joint, _, suffix = name.rpartition('.')
    field = LEROBOT_SUFFIXES.get(suffix) if joint and lerobot else None
    return name if field is None else joint_value_name(joint, field)


def split_joint_value_name(name: str, field: str, lerobot: bool = True) -> str:
    """The joint of a value name read from `field` (joint_value_name's inverse, LeRobot's
    '.pos' / '.vel' read as plain_value_name does where `lerobot`); a name without the field's
    suffix (recorded before fields were named) is the joint."""
    name = plain_value_name(name, lerobot)
    return name.removesuffix(f'.{field}') if field != 'position' else name


def named_field(name: str, lerobot: bool = True) -> str | None:
    """The JointState field a value name says it was read from (joint_value_name's suffix:
    'velocity', 'effort'; LeRobot's '.vel' where `lerobot`); None for a plain name (a
    position, LeRobot's '.pos', or a value recorded before fields were named: unknown). The
    names alone keep the field where a training key's slice (state[2:4]) dropped the
    recorded sources."""
    joint, _, suffix = plain_value_name(name, lerobot).rpartition('.')
    return suffix if joint and suffix in JOINT_STATE_FIELDS and suffix != 'position' else None


def check_names(names: object, width: int, where: str) -> list[str] | None:
    """`names` as a list of `width` distinct non-empty strings, or None (not recorded).

    Raises ValueError naming `where` for anything else."""
    if names is None:
        return None
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f'{where}: {NAMES} must be a list of non-empty strings, got '
                         f'{shown(names)}')
    if len(names) != width or len(set(names)) != width:
        raise ValueError(f'{where}: {NAMES} {shown(list(names))} must be {width} distinct '
                         'names, one per value')
    return list(names)


def names_of(feature_names: object, width: int) -> list[str] | None:
    """The column names a foreign dataset gives (LeRobot: a list, or {'motors': [...]}), when
    they are `width` distinct strings; else None (unknown, never a guess)."""
    if isinstance(feature_names, dict) and len(feature_names) == 1:
        feature_names = next(iter(feature_names.values()))
    try:
        return check_names(feature_names, width, 'names')
    except ValueError:
        return None


def compare_names(trained: Sequence[str] | None, given: Sequence[str], what: str,
                  lerobot: bool = True) -> str | None:
    """The node's joint parameter `what` against the names the checkpoint was trained with.

    None when they agree or nothing was recorded; a warning (another robot may name the same
    joints differently) when they differ; ValueError when `given` is the trained joints in
    another order, which is wrong whatever the robot. Trained names from LeRobot data
    (`lerobot`: lerobot_names) are read as plain_value_name reads them: 'shoulder_pan' is
    LeRobot's 'shoulder_pan.pos'."""
    plain = [plain_value_name(n, lerobot) for n in trained or ()]
    if not trained or list(given) in (list(trained), plain):
        return None
    if sorted(given) in (sorted(trained), sorted(plain)):
        raise ValueError(f'parameter {what} {list(given)} lists the joints the checkpoint was '
                         f'trained with in another order ({list(trained)}): the values would '
                         f'be permuted; give them in the trained order')
    return (f'parameter {what} {list(given)} is not the joints the checkpoint was trained with '
            f'({list(trained)}): make sure they are the same joints, in that order')
