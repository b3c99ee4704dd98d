"""A resume on data recorded otherwise (the sources' topics, rates, a sim's clock) is not
refused: the weights do not depend on it.

Pinned (a review's day 2): bags appended with the camera at 15 Hz lowered the store's
recorded rate_hz, and the resume was refused with two sources lists cut at 60 characters
that read alike, 'the saved weights are those of the saved network and data shapes', before
the clear 'the dataset changed' line could be said. Sources are compared per source and
field, and their changes take effect."""
from __future__ import annotations

from training.run_check import _describe, diff_values, refusal

CAMERA = {'kind': 'image', 'topic': '/scene_camera/image_raw', 'width': None,
          'tolerance_s': 0.05, 'rate_hz': 30.0}


def test_a_source_change_is_named_to_its_field_and_takes_effect():
    saved = {'shape_meta': {'obs': {'scene': {'shape': [3, 16, 16], 'sources': [CAMERA]}}}}
    now = {'shape_meta': {'obs': {'scene': {'shape': [3, 16, 16],
                                            'sources': [{**CAMERA, 'rate_hz': 15.0}]}}}}
    changes = [(f'policy.{k}', a, b) for k, a, b in diff_values(saved, now)]
    assert changes == [('policy.shape_meta.obs.scene.sources[0].rate_hz', 30.0, 15.0)]
    assert refusal(changes[0][0]) is None
    assert _describe(changes[0]) == 'policy.shape_meta.obs.scene.sources[0].rate_hz 30.0 -> 15.0'
    # other topics, sources dropped by an append: taken too; a shape still refused
    assert refusal('policy.shape_meta.obs.scene.sources') is None
    assert refusal('policy.shape_meta.obs.scene.shape') is not None
