"""The image encoder against robomimic's VisualCore (crop -> ResNet18 -> SpatialSoftmax ->
Linear, ReLU as ObservationEncoder's feature activation): keypoints, crops, flattening."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from support import small_image_config

from dp_ros.policy.vision import ObsEncoder, RgbEncoder, SpatialSoftmax, crop_center, crop_random

torch.set_num_threads(1)


def identity_keypoints(pool: SpatialSoftmax) -> None:
    with torch.no_grad():
        pool.keypoint_net.weight.zero_()
        pool.keypoint_net.bias.zero_()
        for k in range(pool.num_keypoints):
            pool.keypoint_net.weight[k, k, 0, 0] = 1.0


@pytest.mark.parametrize('row,col', [(0, 0), (2, 4), (1, 3), (0, 1)])
def test_one_bright_pixel_puts_the_keypoint_at_its_normalized_x_y(row, col):
    """On a 3x5 map, a bright pixel at (row, col) gives keypoint (x, y) =
    (-1 + 2 col / 4, -1 + 2 row / 2): x from the column first, y from the row."""
    pool = SpatialSoftmax(1, 3, 5, num_keypoints=1)
    identity_keypoints(pool)
    feature = torch.zeros(1, 1, 3, 5)
    feature[0, 0, row, col] = 60.0
    kp = pool(feature)
    assert kp.shape == (1, 1, 2)
    torch.testing.assert_close(kp[0, 0], torch.tensor([-1 + col / 2, -1.0 + row]))


def test_keypoints_are_the_softmax_expectation_at_temperature_one():
    """Each keypoint is sum softmax(map) * (x, y) over the map's own pixels (temperature 1)."""
    torch.manual_seed(0)
    pool = SpatialSoftmax(2, 3, 4, num_keypoints=2)
    identity_keypoints(pool)
    feature = torch.randn(2, 2, 3, 4) * 1.5
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 3), torch.linspace(-1, 1, 4), indexing='ij')
    w = torch.exp(feature).flatten(2)
    w = w / w.sum(-1, keepdim=True)
    want = torch.stack([(w * xs.reshape(-1)).sum(-1), (w * ys.reshape(-1)).sum(-1)], -1)
    torch.testing.assert_close(pool(feature), want)


def test_encoder_flattens_keypoints_in_x_y_pairs_then_linear_relu():
    """RgbEncoder = ReLU(Linear([x0, y0, x1, y1, ...])) of the centre crop's keypoints."""
    torch.manual_seed(0)
    enc = RgbEncoder((3, 75, 103), (70, 100), width=0.25, num_keypoints=4,
                     feature_dim=16).eval()
    img = torch.rand(2, 3, 75, 103) * 2 - 1
    with torch.no_grad():
        kp = enc.pool(enc.backbone(crop_center(img, 70, 100)))  # (N, K, 2) on a 3x4 map
        flat = torch.stack([kp[:, k, i] for k in range(4) for i in (0, 1)], dim=1)
        pre = F.linear(flat, enc.linear.weight, enc.linear.bias)
        got = enc(img)
    assert kp.shape == (2, 4, 2) and (kp[:, :, 0] - kp[:, :, 1]).abs().max() > 1e-3
    assert (pre < 0).any()  # the ReLU matters on this input
    torch.testing.assert_close(got, pre.clamp(min=0))


def test_crop_center_is_torchvisions_rule_on_odd_margins():
    """11x14 -> 8x6: top = round(1.5) = 2, left = round(4.0) = 4 (rows and columns apart)."""
    img = torch.arange(2 * 11 * 14, dtype=torch.float32).reshape(1, 2, 11, 14)
    assert torch.equal(crop_center(img, 8, 6), img[..., 2:10, 4:10])
    img = torch.arange(13 * 9, dtype=torch.float32).reshape(1, 1, 13, 9)
    assert torch.equal(crop_center(img, 10, 4), img[..., 2:12, 2:6])  # round(1.5), round(2.5)


def test_crop_random_windows_cover_every_offset_pair_independently():
    """Each window is images[n, :, t:t+h, l:l+w]; t in 0..H-h and l in 0..W-w both inclusive,
    drawn independently (all 3 x 5 pairs appear)."""
    img = torch.arange(5 * 7, dtype=torch.float32).reshape(1, 1, 5, 7).expand(300, 2, 5, 7)
    out = crop_random(img, 3, 3, torch.Generator().manual_seed(0))
    assert out.shape == (300, 2, 3, 3)
    seen = set()
    for n in range(300):
        top, left = divmod(int(out[n, 0, 0, 0]), 7)
        assert torch.equal(out[n], img[n, :, top:top + 3, left:left + 3])
        seen.add((top, left))
    assert seen == {(top, left) for top in range(3) for left in range(5)}


def test_eval_mode_takes_the_centre_crop_without_jitter():
    """In eval mode the encoder sees exactly crop_center(image) and no colour jitter."""
    torch.manual_seed(0)
    enc = RgbEncoder((3, 75, 103), (70, 100), width=0.25, num_keypoints=4, feature_dim=8,
                     jitter=(0.4, 0.4, 0.4, 0.1)).eval()
    plain = RgbEncoder((3, 70, 100), None, width=0.25, num_keypoints=4, feature_dim=8).eval()
    plain.load_state_dict(enc.state_dict())
    img = torch.rand(2, 3, 75, 103) * 2 - 1
    with torch.no_grad():
        a = enc(img, torch.Generator().manual_seed(1))
        b = enc(img, torch.Generator().manual_seed(2))
        want = plain(img[..., 2:72, 2:102])  # round(2.5) = 2, round(1.5) = 2
        shifted = plain(img[..., 0:70, 0:100])
    assert torch.equal(a, b)
    torch.testing.assert_close(a, want)
    assert not torch.allclose(want, shifted)  # the output does see the crop's position


def test_obs_encoder_concatenates_in_shape_meta_order():
    """ObsEncoder output: the camera's features, then the low-dim values unchanged."""
    config = small_image_config()
    assert config.obs_keys == ['image', 'agent_pos']
    enc = ObsEncoder(config).eval()
    obs = {'image': torch.rand(2, 3, 32, 32), 'agent_pos': torch.tensor([[0.5, -0.25],
                                                                         [0.1, 0.2]])}
    with torch.no_grad():
        out = enc(obs)
        cam = enc.cameras['image'](obs['image'])
    assert out.shape == (2, config.feature_dim + 2)
    assert torch.equal(out[:, :config.feature_dim], cam)
    assert torch.equal(out[:, config.feature_dim:], obs['agent_pos'])
