"""ConditionalUnet1D against the paper's network (Chi et al. 2023, conditional_unet1d.py),
computed by hand with torch.nn.functional from the module's own parameters."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from support import SHIPPED_CHECKPOINT

from dp_ros.policy.unet import (
    ConditionalResidualBlock1D,
    ConditionalUnet1D,
    Conv1dBlock,
    SinusoidalPosEmb,
)

torch.set_num_threads(1)


def sinusoid(t: torch.Tensor, dim: int) -> torch.Tensor:
    """The paper's SinusoidalPosEmb: sin then cos of t * 10000^(-i / (half - 1))."""
    half = dim // 2
    freq = torch.tensor([10000.0 ** (-i / (half - 1)) for i in range(half)], dtype=torch.float64)
    emb = t.double()[:, None] * freq[None, :]
    return torch.cat((emb.sin(), emb.cos()), dim=-1).float()


def conv_block(block: Conv1dBlock, x: torch.Tensor, groups: int) -> torch.Tensor:
    """Conv1d (zero padding k // 2) -> GroupNorm(groups) -> Mish."""
    conv, norm = block.block[0], block.block[1]
    k = conv.weight.shape[-1]
    y = F.conv1d(x, conv.weight, conv.bias, padding=k // 2)
    return F.mish(F.group_norm(y, groups, norm.weight, norm.bias, norm.eps))


def res_block(block: ConditionalResidualBlock1D, x: torch.Tensor, cond: torch.Tensor,
              groups: int) -> torch.Tensor:
    """FiLM (cond_predict_scale): Linear(Mish(cond)) -> first half scale, second half bias."""
    out_ch = block.out_channels
    lin = block.cond_encoder[1]
    emb = F.linear(F.mish(cond), lin.weight, lin.bias)
    scale, bias = emb[:, :out_ch, None], emb[:, out_ch:, None]
    h = conv_block(block.blocks[0], x, groups)
    h = scale * h + bias
    h = conv_block(block.blocks[1], h, groups)
    if x.shape[1] != out_ch:
        rc = block.residual_conv
        return h + F.conv1d(x, rc.weight, rc.bias)
    return h + x


def unet_reference(unet: ConditionalUnet1D, sample: torch.Tensor, t: torch.Tensor,
                   global_cond: torch.Tensor, groups: int) -> torch.Tensor:
    """The paper's ConditionalUnet1D.forward, step by step."""
    enc = unet.diffusion_step_encoder
    dsed = enc[1].in_features
    step = F.linear(F.mish(F.linear(sinusoid(t, dsed), enc[1].weight, enc[1].bias)),
                    enc[3].weight, enc[3].bias)
    cond = torch.cat([step, global_cond], dim=-1)  # step embedding first
    x = sample.transpose(1, 2)
    skips = []
    for res1, res2, down in unet.down_modules:
        x = res_block(res2, res_block(res1, x, cond, groups), cond, groups)
        skips.append(x)
        if isinstance(down, torch.nn.Identity):
            continue
        x = F.conv1d(x, down.conv.weight, down.conv.bias, stride=2, padding=1)
    for mid in unet.mid_modules:
        x = res_block(mid, x, cond, groups)
    for res1, res2, up in unet.up_modules:
        x = torch.cat((x, skips.pop()), dim=1)
        x = res_block(res2, res_block(res1, x, cond, groups), cond, groups)
        x = F.conv_transpose1d(x, up.conv.weight, up.conv.bias, stride=2, padding=1)
    final = unet.final_conv
    x = conv_block(final[0], x, 8)  # the paper's final block keeps GroupNorm's default 8
    x = F.conv1d(x, final[1].weight, final[1].bias)
    return x.transpose(1, 2)


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial GroupNorm affine and biases, so that every term shows in the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))


def test_step_embedding_known_values():
    """SinusoidalPosEmb: [sin, cos] of t * 10000^(-i/(half-1)); t=0 gives [0]*half + [1]*half."""
    emb = SinusoidalPosEmb(8)(torch.tensor([0, 1, 37]))
    assert emb[0].tolist() == [0.0] * 4 + [1.0] * 4
    freq = [1.0, 10000 ** (-1 / 3), 10000 ** (-2 / 3), 1e-4]
    want = [math.sin(37 * f) for f in freq] + [math.cos(37 * f) for f in freq]
    torch.testing.assert_close(emb[2], torch.tensor(want), rtol=1e-5, atol=1e-5)
    want1 = [math.sin(f) for f in freq] + [math.cos(f) for f in freq]
    torch.testing.assert_close(emb[1], torch.tensor(want1), rtol=1e-5, atol=1e-6)


def test_conv1d_block_is_zero_padded_conv_groupnorm_mish():
    """Conv1dBlock = zero-padded Conv1d -> GroupNorm(n_groups) -> Mish, by hand."""
    torch.manual_seed(0)
    block = Conv1dBlock(4, 8, 5, n_groups=4)
    randomize(block, 1)
    x = torch.randn(2, 4, 6) + 1.0  # non-zero edges: padding mode shows
    torch.testing.assert_close(block(x), conv_block(block, x, 4), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('in_ch', [4, 8])
def test_residual_block_film_scale_then_bias_and_residual(in_ch):
    """FiLM: out = scale * h + bias between the two conv blocks, scale = first out_ch outputs
    of Linear(Mish(cond)), bias = the next out_ch; plus x (or its 1x1 conv if channels differ)."""
    torch.manual_seed(0)
    block = ConditionalResidualBlock1D(in_ch, 8, 6, 3, n_groups=4)
    randomize(block, 2)
    x, cond = torch.randn(3, in_ch, 5), torch.randn(3, 6) * 2
    got = block(x, block.film(cond))
    torch.testing.assert_close(got, res_block(block, x, cond, 4), rtol=1e-5, atol=1e-5)


def test_film_split_by_the_cond_encoder_weights():
    """Setting the cond encoder by hand: rows 0..C-1 give the scale, rows C..2C-1 the bias."""
    block = ConditionalResidualBlock1D(2, 2, 1, 1, n_groups=1)
    lin = block.cond_encoder[1]
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([2.0, 3.0, 10.0, 20.0]))
    film = block.film(torch.zeros(1, 1))
    assert film.shape == (1, 2, 2, 1)
    assert film[0, 0, :, 0].tolist() == [2.0, 3.0] and film[0, 1, :, 0].tolist() == [10.0, 20.0]
    x = torch.randn(1, 2, 4)
    h = block.blocks[0](x)
    want = block.blocks[1](torch.tensor([2.0, 3.0])[:, None] * h
                           + torch.tensor([10.0, 20.0])[:, None]) + x
    torch.testing.assert_close(block(x, film), want)


@pytest.mark.parametrize('down_dims,n_groups', [((16, 32), 4), ((8, 16, 32), 8)])
def test_unet_forward_equals_the_papers_wiring(down_dims, n_groups):
    """Whole UNet: step encoder, [step, obs] condition, films per block in order, skips
    popped level by level, downsample stride 2, final Conv1dBlock(k) + 1x1 conv, by hand."""
    torch.manual_seed(0)
    unet = ConditionalUnet1D(3, 5, 16, down_dims=down_dims, kernel_size=5, n_groups=n_groups)
    randomize(unet, 3)
    sample, gc = torch.randn(2, 8, 3), torch.randn(2, 5)
    t = torch.tensor([3, 71])
    want = unet_reference(unet, sample, t, gc, n_groups)
    torch.testing.assert_close(unet(sample, t, gc), want, rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # the sampling path (batch-1 fast convolutions) agrees too
        got = unet(sample[:1], t[:1], gc[:1])
    torch.testing.assert_close(got, want[:1], rtol=1e-4, atol=1e-4)


def test_unet_parameter_shapes_are_the_papers():
    """State-dict shapes as in the paper: final block kernel k, downsample k=3, upsample k=4,
    FiLM Linear(cond_dim, 2 * C), and 1x1 residual convs only where channels differ."""
    unet = ConditionalUnet1D(2, 10, 16, down_dims=(32, 64), kernel_size=5, n_groups=8)
    sd = {k: tuple(v.shape) for k, v in unet.state_dict().items()}
    assert sd['final_conv.0.block.0.weight'] == (32, 32, 5)
    assert sd['final_conv.1.weight'] == (2, 32, 1)
    assert sd['down_modules.0.2.conv.weight'] == (32, 32, 3)
    assert sd['up_modules.0.2.conv.weight'] == (32, 32, 4)
    assert sd['mid_modules.0.cond_encoder.1.weight'] == (128, 26)
    assert sd['up_modules.0.0.residual_conv.weight'] == (32, 128, 1)
    assert 'down_modules.0.1.residual_conv.weight' not in sd


def test_output_depends_on_step_and_condition_through_every_block():
    """The gradient of the output w.r.t. every block's film is non-zero, and so is the
    output's sensitivity to the step and to the observation condition."""
    torch.manual_seed(0)
    unet = ConditionalUnet1D(2, 4, 16, down_dims=(16, 32), n_groups=4)
    sample, gc = torch.randn(1, 8, 2), torch.randn(1, 4)
    films = [f.detach().requires_grad_(True) for f in unet.films(5, gc)]
    unet(sample, 5, gc, films).square().sum().backward()
    assert all(f.grad.abs().sum() > 0 for f in films)
    with torch.no_grad():
        base = unet(sample, 5, gc)
        assert not torch.allclose(unet(sample, 6, gc), base)
        assert not torch.allclose(unet(sample, 5, gc + 0.1), base)


def test_shipped_checkpoint_unet_equals_the_papers_wiring():
    """The trained UNet of checkpoints/pusht_default, computed by hand as the paper does."""
    from dp_ros.policy.checkpoint import load_policy

    policy = load_policy(SHIPPED_CHECKPOINT)
    unet, c = policy.model, policy.config
    g = torch.Generator().manual_seed(0)
    sample = torch.randn(2, c.horizon, c.action_dim, generator=g)
    cond_dim = unet.mid_modules[0].cond_encoder[1].in_features
    gc = torch.randn(2, cond_dim - c.diffusion_step_embed_dim, generator=g)
    t = torch.tensor([0, 90])
    with torch.no_grad():
        want = unet_reference(unet, sample, t, gc, c.n_groups)
        torch.testing.assert_close(unet(sample, t, gc), want, rtol=1e-4, atol=1e-4)
