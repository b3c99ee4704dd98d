"""`dp-ros inspect POLICY` prints a camera's training image size and its recorded frame size
in one order, width x height (as the README writes '640x480 camera -> 96x96'): a 4:3 camera
fitted to a 4:3 image must not read as fitted to a 3:4 one; the drafted parameter file's
camera comment uses the same order."""
from __future__ import annotations

from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401

from training.inspect_dataset import main


def wide_camera_policy(tmp_path):
    """Image [3, 96, 128] (H 96, W 128) from a camera recorded at [480, 640] (H, W)."""
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    meta['obs']['image']['shape'] = [3, 96, 128]
    meta['obs']['image']['sources'] = [{'kind': 'image', 'topic': '/cam/image_raw',
                                        'width': None, 'frame_size': [480, 640]}]
    return make_tiny_checkpoint(tmp_path / 'tiny', shape_meta=meta)


def test_the_image_and_the_recorded_frame_sizes_are_both_width_by_height(tmp_path, capsys):
    """'image 128x96' beside 'recorded at 640x480 px'."""
    assert main([str(wide_camera_policy(tmp_path))]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if 'camera 0' in x)
    assert 'recorded at 640x480 px' in line, line
    assert 'image 128x96' in line, line


def test_the_drafted_parameters_name_the_image_width_by_height(tmp_path, capsys):
    out = tmp_path / 'params.yaml'
    assert main([str(wide_camera_policy(tmp_path)), '--draft-params', str(out)]) == 0
    capsys.readouterr()
    assert 'recorded with the training data: image 128x96' in out.read_text()
