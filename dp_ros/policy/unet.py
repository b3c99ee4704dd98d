"""1-D temporal UNet denoiser with FiLM conditioning (the paper's ConditionalUnet1D).

Module names match the paper's code, so its UNet state dicts map key for key. Its
quirk is kept on purpose: every up stage upsamples (the `is_last` test there never fires),
which balances the len(down_dims) - 1 downsamplings and fixes the parameter count.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalPosEmb(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freq = torch.exp(torch.arange(half, device=x.device) * (-math.log(10000) / (half - 1)))
        emb = x.float()[:, None] * freq[None, :]
        return torch.cat((emb.sin(), emb.cos()), dim=-1)


class Conv1d(nn.Conv1d):
    """nn.Conv1d (same parameters) with a faster path for sampling one action chunk.

    For batch 1 PyTorch's CPU heuristic takes its slow im2col route, whose GEMM multiplies
    the (out, in * k) weight by a matrix only T (4-16) columns wide; MKL runs that shape at a
    small fraction of its speed. Without autograd and with few rows (batch * T <= 8), the
    time-major product cols (B * T, in * k) @ weight^T is the same arithmetic in the shape
    MKL is fast at: 3-5x faster for the wide layers (bench/bench_policy_inference.py).
    FAST_MAX_ROWS holds the most rows per device type that take it (a type not listed:
    never). On CUDA the product is a cuBLAS GEMV-like kernel that streams the weights once,
    where cuDNN converts layouts and runs tiles meant for many output columns: on an H100 the
    paper-size UNet's DDIM-10 chunk (a CUDA graph) takes 17.0 ms instead of 34.6 (bfloat16:
    10.7 instead of 32.5), the 7.7M one 7.1 instead of 8.1 (bench/bench_gpu.py,
    conv_variants; bench/results/gpu_run2.json). It computes in full fp32 where cuDNN takes
    TF32 by default: 2e-4..2e-3 normalized apart over a chunk.
    """

    FAST_MAX_ROWS: dict[str, int] = {'cpu': 8, 'cuda': 64}
    # the fewest weights per device type that take it (a type not listed: 32768); small
    # layers (the first conv of 2-10 action dims, 1x1 residuals) stay with the library's own
    FAST_MIN_WEIGHTS: dict[str, int] = {'cpu': 32768, 'cuda': 32768}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_ch, in_ch, k = self.weight.shape
        (stride,), (pad,) = self.stride, self.padding
        batch, _, steps = x.shape
        out_steps = (steps + 2 * pad - k) // stride + 1
        if not _takes_gemm(self, x, batch * out_steps):
            return super().forward(x)
        padded = nn.functional.pad(x, (pad, pad))
        cols = padded.unfold(2, k, stride).permute(0, 2, 1, 3).reshape(batch * out_steps, -1)
        weight = self.weight.reshape(out_ch, in_ch * k).t()
        out = cols @ weight if self.bias is None else torch.addmm(self.bias, cols, weight)
        return out.view(batch, out_steps, out_ch).permute(0, 2, 1)


class ConvTranspose1d(nn.ConvTranspose1d):
    """nn.ConvTranspose1d (same parameters) with Conv1d's fast path: the product
    x (B * T, in) @ weight (in, out * k), then the k taps added into place (fold).
    FAST_MAX_ROWS as Conv1d's; CUDA only (the CPU keeps its own path, which the shipped
    policy's samples were measured with)."""

    FAST_MAX_ROWS: dict[str, int] = {'cuda': 64}

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        in_ch, out_ch, k = self.weight.shape
        (stride,), (pad,) = self.stride, self.padding
        batch, _, steps = x.shape
        if (output_size is not None or self.output_padding != (0,)
                or not _takes_gemm(self, x, batch * steps)):
            return super().forward(x, output_size)
        taps = x.transpose(1, 2).reshape(batch * steps, in_ch) @ self.weight.reshape(
            in_ch, out_ch * k)
        full = (steps - 1) * stride + k
        out = nn.functional.fold(taps.view(batch, steps, out_ch * k).transpose(1, 2),
                                 (1, full), (1, k), stride=(1, stride))
        out = out.view(batch, out_ch, full)[:, :, pad:full - pad]
        return out if self.bias is None else out + self.bias[:, None]


def _takes_gemm(conv: Conv1d | ConvTranspose1d, x: torch.Tensor, rows: int) -> bool:
    """Whether a layer computes `x` by the time-major GEMM: without autograd, at most its
    FAST_MAX_ROWS rows for x's device type, weights worth it, and the plain layer (no
    dilation, groups or padding mode the product leaves out)."""
    return (not torch.is_grad_enabled() and rows <= conv.FAST_MAX_ROWS.get(x.device.type, 0)
            and conv.weight.numel() >= Conv1d.FAST_MIN_WEIGHTS.get(x.device.type, 32768)
            and conv.dilation == (1,)
            and conv.groups == 1 and conv.padding_mode == 'zeros')


class Conv1dBlock(nn.Module):
    """Conv1d -> GroupNorm -> Mish."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, n_groups: int = 8) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Conv1d(in_ch, out_ch, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, out_ch),
            nn.Mish(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Downsample1d(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = Conv1d(dim, dim, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample1d(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = ConvTranspose1d(dim, dim, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ConditionalResidualBlock1D(nn.Module):
    """Two conv blocks; the condition predicts a per-channel scale and bias (FiLM) between them."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, kernel_size: int,
                 n_groups: int) -> None:
        super().__init__()
        self.out_channels = out_ch
        self.blocks = nn.ModuleList([
            Conv1dBlock(in_ch, out_ch, kernel_size, n_groups),
            Conv1dBlock(out_ch, out_ch, kernel_size, n_groups),
        ])
        self.cond_encoder = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, out_ch * 2))
        self.residual_conv = Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def film(self, cond: torch.Tensor) -> torch.Tensor:
        """Per-channel (scale, bias), (N, 2, out_ch, 1), from the step + observation condition."""
        return self.cond_encoder(cond).reshape(cond.shape[0], 2, self.out_channels, 1)

    def forward(self, x: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        out = self.blocks[0](x)
        out = film[:, 0] * out + film[:, 1]
        out = self.blocks[1](out)
        return out + self.residual_conv(x)


class ConditionalUnet1D(nn.Module):
    """(B, T, input_dim) noisy actions, step k, global condition (B, G) -> (B, T, input_dim)."""

    def __init__(self, input_dim: int, global_cond_dim: int, diffusion_step_embed_dim: int = 128,
                 down_dims: tuple[int, ...] = (512, 1024, 2048), kernel_size: int = 5,
                 n_groups: int = 8, final_block_groups: int = 8) -> None:
        super().__init__()
        all_dims = [input_dim, *down_dims]
        start_dim = down_dims[0]
        dsed = diffusion_step_embed_dim
        self.diffusion_step_encoder = nn.Sequential(
            SinusoidalPosEmb(dsed),
            nn.Linear(dsed, dsed * 4),
            nn.Mish(),
            nn.Linear(dsed * 4, dsed),
        )
        cond_dim = dsed + global_cond_dim
        in_out = list(zip(all_dims[:-1], all_dims[1:], strict=True))

        def block(i: int, o: int) -> ConditionalResidualBlock1D:
            return ConditionalResidualBlock1D(i, o, cond_dim, kernel_size, n_groups)

        mid = all_dims[-1]
        self.mid_modules = nn.ModuleList([block(mid, mid), block(mid, mid)])
        self.down_modules = nn.ModuleList()
        for i, (dim_in, dim_out) in enumerate(in_out):
            is_last = i >= len(in_out) - 1
            self.down_modules.append(nn.ModuleList([
                block(dim_in, dim_out), block(dim_out, dim_out),
                Downsample1d(dim_out) if not is_last else nn.Identity(),
            ]))
        self.up_modules = nn.ModuleList()
        for dim_in, dim_out in reversed(in_out[1:]):
            self.up_modules.append(nn.ModuleList([
                block(dim_out * 2, dim_in), block(dim_in, dim_in), Upsample1d(dim_in),
            ]))
        self.final_conv = nn.Sequential(  # the paper's: 8 groups whatever n_groups is
            Conv1dBlock(start_dim, start_dim, kernel_size, final_block_groups),
            Conv1d(start_dim, input_dim, 1),
        )

    def residual_blocks(self) -> list[ConditionalResidualBlock1D]:
        """The FiLM-conditioned blocks in the order forward() runs them."""
        down = [b for res1, res2, _ in self.down_modules for b in (res1, res2)]
        up = [b for res1, res2, _ in self.up_modules for b in (res1, res2)]
        return [*down, *self.mid_modules, *up]

    def films(self, timestep: torch.Tensor | int, global_cond: torch.Tensor) -> list[torch.Tensor]:
        """Every block's FiLM for (step, observation) rows of global_cond.

        It depends on the step and the observation only, not on the noisy actions, so a
        sampler computes it for all of its steps in one batch instead of once per step.
        """
        dtype = next(self.parameters()).dtype  # as DiffusionPolicy.dtype
        if not torch.is_tensor(timestep):
            timestep = torch.tensor([timestep], dtype=torch.long)
        timestep = timestep.reshape(-1).to(global_cond.device).expand(global_cond.shape[0])
        step_emb = self.diffusion_step_encoder[0](timestep).to(dtype)  # sinusoid is fp32
        for layer in self.diffusion_step_encoder[1:]:
            step_emb = layer(step_emb)
        cond = torch.cat([step_emb, global_cond.to(dtype)], dim=-1)
        return [block.film(cond) for block in self.residual_blocks()]

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | int,
                global_cond: torch.Tensor, films: list[torch.Tensor] | None = None
                ) -> torch.Tensor:
        """films: this step's films(timestep, global_cond), when the caller has them."""
        x = sample.transpose(1, 2)  # (B, C, T)
        film = iter(films if films is not None else self.films(timestep, global_cond))
        skips = []
        for res1, res2, down in self.down_modules:
            x = res2(res1(x, next(film)), next(film))
            skips.append(x)
            x = down(x)
        for m in self.mid_modules:
            x = m(x, next(film))
        for res1, res2, up in self.up_modules:
            x = torch.cat((x, skips.pop()), dim=1)
            x = up(res2(res1(x, next(film)), next(film)))
        x = self.final_conv(x)
        return x.transpose(1, 2)
