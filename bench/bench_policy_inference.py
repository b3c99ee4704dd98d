"""CPU cost of the policy: time per action chunk (batch 1) and per training step (batch 64).

Usage: python bench/bench_policy_inference.py [--threads 2] [--reps 3] [--skip-paper]
       python bench/bench_policy_inference.py --checkpoint checkpoints/pusht_default --reps 20
Writes bench/results/policy_inference.json (random weights: sampling cost does not depend
on their values), or with --checkpoint bench/results/policy_inference_<name>.json for a
trained policy. Few repetitions on purpose (shared machine); read the medians with
the load average recorded next to them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from dp_ros.policy.config import PolicyConfig, pusht_image_config
from dp_ros.policy.diffusion import DiffusionPolicy, count_parameters
from dp_ros.policy.normalizer import Normalizer

RESULTS = Path(__file__).resolve().parent / 'results' / 'policy_inference.json'
SAMPLINGS = [('ddpm', 100), ('ddim', 16), ('ddim', 10), ('ddim', 8)]
DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16}
MODES = ('eager', 'torchscript')  # DiffusionPolicy.use_torchscript


def configs(skip_paper: bool) -> dict[str, PolicyConfig]:
    out = {}
    if not skip_paper:
        out['paper'] = pusht_image_config()
    out['small_w0.5_64-128-256'] = PolicyConfig(resnet_width=0.5, down_dims=(64, 128, 256))
    out['small_w0.5_128-256-512'] = PolicyConfig(resnet_width=0.5, down_dims=(128, 256, 512))
    return out


def make_policy(config: PolicyConfig) -> DiffusionPolicy:
    rng = np.random.default_rng(0)
    norm = Normalizer.from_data({'action': rng.uniform(0, 512, (100, 2)),
                                 'agent_pos': rng.uniform(0, 512, (100, 2))})
    torch.manual_seed(0)
    return DiffusionPolicy(config, norm)


def timed(fn, reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def summary(times: list[float]) -> dict:
    return {'median_ms': round(1e3 * statistics.median(times), 2),
            'min_ms': round(1e3 * min(times), 2), 'reps': len(times)}


def bench_inference(name: str, policy: DiffusionPolicy, reps: int) -> list[dict]:
    config = policy.config
    policy.eval()
    g = torch.Generator().manual_seed(0)
    obs = {'image': torch.rand(1, 2, 3, 96, 96, generator=g),
           'agent_pos': torch.rand(1, 2, 2, generator=g) * 512}
    rows = []
    for dname, dtype in DTYPES.items():
        policy.to(dtype)
        with torch.no_grad():
            policy.predict_action(obs, sampler='ddim', num_inference_steps=2)  # warm-up
            cond = policy.encode_obs(obs, random_crop=False)
            traj = torch.randn(1, config.horizon, config.action_dim, dtype=dtype)
            t = torch.tensor(50)
            enc = timed(lambda: policy.encode_obs(obs, random_crop=False), reps)
            unet = timed(lambda: policy.model(traj, t, cond), reps)  # noqa: B023 (used at once)
        base = {'config': name, 'dtype': dname}
        rows.append({**base, 'what': 'obs_encoder_forward', **summary(enc)})
        rows.append({**base, 'what': 'unet_forward', **summary(unet)})
        for mode in MODES:
            policy.use_torchscript(mode == 'torchscript')  # the node's default: torchscript
            for sampler, steps in SAMPLINGS:
                n = 1 if (name == 'paper' and steps == 100) else reps
                policy.predict_action(obs, None, sampler, steps)  # warm-up (and the trace)
                times = timed(lambda s=sampler, k=steps: policy.predict_action(
                    obs, torch.Generator().manual_seed(0), s, k), n)
                row = {**base, 'mode': mode, 'what': f'chunk_{sampler}{steps}', **summary(times)}
                print(json.dumps(row), flush=True)
                rows.append(row)
        policy.use_torchscript(False)
    return rows


def bench_train_step(name: str, config: PolicyConfig, reps: int, batch_size: int = 64
                     ) -> list[dict]:
    policy = make_policy(config).train()
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    batch = {'obs': {'image': torch.rand(batch_size, 2, 3, 96, 96, generator=g),
                     'agent_pos': torch.rand(batch_size, 2, 2, generator=g) * 512},
             'action': torch.rand(batch_size, config.horizon, 2, generator=g) * 512}
    rows = []
    for mode in ('fp32', 'bf16_autocast'):
        def step(mode=mode):
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=mode != 'fp32'):
                loss = policy.compute_loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
        step()  # warm-up
        row = {'config': name, 'dtype': mode, 'what': f'train_step_batch{batch_size}',
               **summary(timed(step, reps))}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--skip-paper', action='store_true')
    parser.add_argument('--skip-train', action='store_true')
    parser.add_argument('--checkpoint', type=Path,
                        help='time this trained policy (inference only) instead of the configs')
    parser.add_argument('--out', type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.checkpoint is not None:
        from dp_ros.policy.checkpoint import load_policy

        policies = {f'checkpoint:{args.checkpoint.name}': lambda: load_policy(args.checkpoint)}
        out = args.out or RESULTS.with_name(f'policy_inference_{args.checkpoint.name}.json')
        args.skip_train = True
    else:
        cfgs = configs(args.skip_paper)
        policies = {name: lambda c=config: make_policy(c) for name, config in cfgs.items()}
        out = args.out or RESULTS
    load_before = os.getloadavg()
    results: list[dict] = []
    params = {}
    for name, build in policies.items():
        policy = build()
        params[name] = {'unet': count_parameters(policy.model),
                        'obs_encoder': count_parameters(policy.obs_encoder),
                        'total': count_parameters(policy),
                        'config': policy.config.to_dict()}
        print(f'{name}: {params[name]["total"] / 1e6:.1f}M parameters', flush=True)
        results += bench_inference(name, policy, args.reps)
        del policy
    if not args.skip_train:
        for name, config in cfgs.items():
            if name != 'paper':
                results += bench_train_step(name, config, args.reps)
    report = {
        'machine': {'cpu': platform.processor() or platform.machine(),
                    'cpu_capability': torch.backends.cpu.get_cpu_capability(),
                    'cores': os.cpu_count(), 'torch': torch.__version__,
                    'threads': args.threads},
        'load_average_before': [round(x, 2) for x in load_before],
        'load_average_after': [round(x, 2) for x in os.getloadavg()],
        'note': 'batch 1 inference per action chunk and batch-64 training steps; '
                + (f'trained policy {args.checkpoint}' if args.checkpoint else 'random weights')
                + '; read the figures with the load averages beside them',
        'parameters': params,
        'results': results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + '\n')
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
