"""Training throughput (samples/s) of the shipped training configs, fp32 and bf16 autocast.

One optimizer step = forward + backward of compute_loss, AdamW step and EMA update, the same
work as training/trainer.py per step. Batches are synthetic tensors of the real shapes (the
data pipeline is measured by the dataset's own benchmark), so the figure is the model's cost.
--compile-modes none default also times each variant with train.torch_compile (the ResNet
trunk and the UNet compiled in place as training/step_speed.py does; the first step, which
compiles, is reported apart). Prints and writes bench/results/training.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from diffusers.training_utils import EMAModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not an installed copy

from dp_ros.policy.diffusion import DiffusionPolicy, count_parameters  # noqa: E402
from dp_ros.policy.normalizer import Normalizer  # noqa: E402
from training.config import COMPILE_MODES, load_config  # noqa: E402
from training.step_speed import compile_convolutions  # noqa: E402

CONFIGS = {'paper': ROOT / 'config' / 'train_pusht_image_paper.yaml',
           'cpu': ROOT / 'config' / 'train_pusht_image_cpu.yaml'}


def synthetic_batch(policy: DiffusionPolicy, batch_size: int, gen: torch.Generator) -> dict:
    cfg = policy.config
    t = cfg.horizon
    return {'obs': {'image': torch.rand(batch_size, t, *cfg.obs_shape('image'), generator=gen),
                    'agent_pos': torch.rand(batch_size, t, 2, generator=gen) * 512},
            'action': torch.rand(batch_size, t, cfg.action_dim, generator=gen) * 512}


def bench_one(name: str, precision: str, steps: int, warmup: int, batch_size: int | None,
              channels_last: bool = True, compile_mode: str | None = None) -> dict:
    cfg = load_config(CONFIGS[name])
    pcfg = cfg.policy_config()
    gen = torch.Generator().manual_seed(0)
    norm = Normalizer.from_data({'action': torch.rand(100, 2).numpy() * 512,
                                 'agent_pos': torch.rand(100, 2).numpy() * 512})
    policy = DiffusionPolicy(pcfg, norm).train()
    if channels_last:  # as training/trainer.py does by default (train.channels_last)
        policy.to(memory_format=torch.channels_last)
    if compile_mode:
        compile_convolutions(policy, compile_mode)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas,
                            weight_decay=cfg.optim.weight_decay)
    ema = EMAModel(policy.parameters(), decay=0.9999, use_ema_warmup=True, power=0.75)
    bs = batch_size or cfg.data.batch_size
    batch = synthetic_batch(policy, bs, gen)
    times, first_s = [], None
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'):
            loss = policy.compute_loss(batch, generator=gen)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema.step(policy.parameters())
        if i == 0:
            first_s = time.perf_counter() - t0
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    mean = sum(times) / len(times)
    result = {'config': name, 'precision': precision, 'channels_last': channels_last,
              'compile': compile_mode, 'first_step_s': first_s, 'batch_size': bs,
              'parameters': count_parameters(policy), 'steps_timed': len(times),
              's_per_step': mean, 'samples_per_s': bs / mean,
              'steps_per_hour': 3600.0 / mean}
    print(f"{name:6s} {precision:5s} {'NHWC' if channels_last else 'NCHW'} batch {bs:3d}: "
          f"{mean:7.3f} s/step  "
          f"{bs / mean:8.1f} samples/s  ({result['parameters'] / 1e6:.1f} M params)"
          + (f', compiled {compile_mode}: first step {first_s:.0f} s' if compile_mode else ''))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument('--precisions', nargs='+', default=['fp32', 'bf16'],
                        choices=['fp32', 'bf16'])
    parser.add_argument('--layouts', nargs='+', default=['channels_last', 'nchw'],
                        choices=['channels_last', 'nchw'],
                        help='image-encoder weight layout (training uses channels_last)')
    parser.add_argument('--compile-modes', nargs='+', default=['none'],
                        choices=['none', *COMPILE_MODES],
                        help='train.torch_compile values to time (none: eager)')
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--batch-size', type=int, help="default: each config's batch size")
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--output', type=Path, default=ROOT / 'bench' / 'results' /
                        'training.json')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [bench_one(c, p, args.steps, args.warmup, args.batch_size,
                         layout == 'channels_last', None if mode == 'none' else mode)
               for c in args.configs for p in args.precisions for layout in args.layouts
               for mode in args.compile_modes]
    report = {'benchmark': 'training', 'device': 'cpu', 'torch': torch.__version__,
              'threads': args.threads, 'cpu': platform.processor() or platform.machine(),
              'load_average': os.getloadavg(), 'synthetic_batches': True, 'results': results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + '\n')
    print(f'-> {args.output}')


if __name__ == '__main__':
    main()
