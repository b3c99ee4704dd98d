"""bag2zarr names an observation stream slower than a grid reference no observation reads.

Pinned: the training grid sits on the reference topic's stamps; with 10 Hz joint states
beside a 30 Hz reference, training pairs a fresh reference sample with joints up to 100 ms
old. The store records the reference (sources `reference: true`) and the policy node anchors
on it alike where it is an input (a camera: no note); a reference no observation reads it
cannot, and assembles at the newest stamp every stream has (the joints' fresh sample with
older others): the report names both topics with their rates and the `reference_topic` to
give.
"""
from __future__ import annotations

import numpy as np
import pytest
from bag_support import CAMERA, JOINT_STATES, T0
from support import MS

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training import bag2zarr
from training.bag2zarr_config import config_from_dict


def _bag(path, joint_period_ns: int) -> None:
    """2 s of a 30 Hz camera and joint states at joint_period_ns, 50 ms out of phase."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for i in range(60):
            t = T0 + round(i * 1e9 / 30)
            rec.write(CAMERA, 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
        for i in range(int(1.9e9) // joint_period_ns):
            t = T0 + 50 * MS + i * joint_period_ns
            rec.write(JOINT_STATES, 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], [i], t))


def _notes(tmp_path, joint_period_ns: int, camera_key: bool = True, **extra) -> list[str]:
    _bag(tmp_path / 'bag', joint_period_ns)
    config = {'control_period_s': 0.1, 'image_dtype': 'uint8', **extra,
              'keys': {**({'img': {'image': CAMERA}} if camera_key else {}),
                       'state': {'joint_state': JOINT_STATES, 'joints': ['j1'],
                                 'tolerance': 0.2}}}
    summary = bag2zarr.convert([tmp_path / 'bag'], config_from_dict(config),
                               tmp_path / 'out.zarr', progress=False)
    return summary.bags[0].notes


def test_joint_states_slower_than_a_reference_no_observation_reads_are_named(tmp_path):
    """10 Hz joints beside a 30 Hz reference camera that no key reads: one note naming both,
    their rates and the reference_topic that makes the grid sit where the node assembles."""
    notes = [n for n in _notes(tmp_path, 100 * MS, camera_key=False, reference_topic=CAMERA)
             if 'slower than the reference' in n]
    assert len(notes) == 1, notes
    assert f'{JOINT_STATES} (10.0 Hz)' in notes[0] and f'{CAMERA} (30.0 Hz)' in notes[0]
    assert f'reference_topic: {JOINT_STATES}' in notes[0]


@pytest.mark.parametrize(('joint_period_ns', 'extra'), [
    (10 * MS, {}),  # faster joints: the node's newest common time is the camera's
    (100 * MS, {}),  # slower joints, the reference camera an input: the node anchors on it
    (100 * MS, {'reference_topic': JOINT_STATES}),  # the slowest input is the reference
])
def test_no_note_when_the_reference_is_the_slowest_input(tmp_path, joint_period_ns, extra):
    assert not [n for n in _notes(tmp_path, joint_period_ns, **extra)
                if 'slower than the reference' in n]
