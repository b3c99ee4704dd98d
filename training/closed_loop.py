"""Closed-loop Push-T evaluation in this process, with the paper's protocol: the point pusher
or the arm twin (robot='arm'; a policy whose action is a whole pose drives it as a Cartesian
controller is driven, sim_bridge/cartesian.py's CartesianArmEnv).

Protocol (the paper's PushTImageRunner): one episode per test seed, at most max_steps
control steps, an episode ends early when the T is placed (terminated); its score is the
maximum reward it reached and mean_score is the mean over episodes. At every plan the policy
sees the last n_obs_steps observations (at reset the first one repeated) and n_action_steps
of the sampled chunk are executed.

Episodes are stepped together and planned in one batch, but an episode's noise does not
depend on the batching: each episode owns a torch.Generator seeded by episode_generator(),
so its k-th plan draws the same noise whether it runs alone (as over ROS) or with others.
Its result does up to float rounding: batched convolutions round otherwise, and over a long
contact-rich episode that can move a score by a few hundredths (batch 1 is ROS's arithmetic).
"""
from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from dp_ros.policy.inputs import batch_observations, episode_generator
from dp_ros.runtime.graph_sampler import ChunkGraphs
from training.eval_env import make_eval_env

log = logging.getLogger(__name__)

__all__ = ['ClosedLoopResult', 'EvalInterrupted', 'policy_obs', 'run_closed_loop']


def policy_obs(histories: Sequence[Sequence[dict[str, np.ndarray]]], device: torch.device
               ) -> dict[str, torch.Tensor]:
    """Observation histories (per episode, oldest first) -> the policy's raw batch:
    'image' float (B, T, 3, H, W) in [0, 1] from uint8 HWC, 'agent_pos' (B, T, 2)."""
    episodes = [{key: [obs[key] for obs in h] for key in h[0]} for h in histories]
    return batch_observations(episodes, ('image',), device)


@dataclass
class ClosedLoopResult:
    seeds: list[int]
    scores: list[float]  # max reward per episode
    steps: list[int]  # control steps executed per episode
    success: list[bool]  # the episode terminated by placing the T
    seconds: float
    frames: dict[int, list[np.ndarray]] = field(default_factory=dict)  # episode index -> video
    # pose targets refused over all episodes, by kind (a Cartesian policy's: 'unreachable')
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def mean_score(self) -> float:
        return float(np.mean(self.scores)) if self.scores else float('nan')

    def metrics(self, prefix: str = 'test/') -> dict[str, float]:
        return {f'{prefix}mean_score': self.mean_score,
                f'{prefix}success_rate': float(np.mean(self.success)) if self.success else 0.0,
                f'{prefix}mean_steps': float(np.mean(self.steps)) if self.steps else 0.0,
                f'{prefix}eval_seconds': self.seconds,
                **({f'{prefix}refused_targets': float(sum(self.refused.values()))}
                   if self.refused else {})}


class EvalInterrupted(RuntimeError):
    """should_stop() asked to abandon the evaluation."""


def run_closed_loop(policy, seeds: Sequence[int], *, robot: str = 'point', max_steps: int = 300,
                    sampler: str | None = None, num_inference_steps: int | None = None,
                    sample_seed: int = 0, batch_size: int | None = None,
                    video_episodes: Sequence[int] = (), video_size: int = 256,
                    progress: bool = True,
                    should_stop: Callable[[], bool] | None = None) -> ClosedLoopResult:
    """Run one Push-T episode per seed with `policy` (a DiffusionPolicy, used as it is) on
    `robot` ('point' or 'arm').

    batch_size: episodes simulated and planned together (None: all). video_episodes: indices
    into `seeds` whose rendered frames (video_size, RGB, one per control step) are returned.
    """
    seeds = [int(s) for s in seeds]
    if max_steps < 1:
        raise ValueError(f'max_steps must be >= 1, got {max_steps}')
    bad = [i for i in video_episodes if not 0 <= i < len(seeds)]
    if bad:
        raise ValueError(f'video_episodes {bad} out of range for {len(seeds)} episodes')
    batch_size = len(seeds) if batch_size is None else int(batch_size)
    if batch_size < 1 and seeds:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    cfg = policy.config
    n_obs, n_act = cfg.n_obs_steps, cfg.n_action_steps
    device = policy.device
    was_training = policy.training
    policy.eval()
    t0 = time.perf_counter()
    scores = [0.0] * len(seeds)
    steps = [0] * len(seeds)
    success = [False] * len(seeds)
    frames: dict[int, list[np.ndarray]] = {i: [] for i in video_episodes}
    refused: Counter[str] = Counter()
    envs = [make_eval_env(robot, cfg, max_steps, video_size)
            for _ in range(min(batch_size, len(seeds)))]
    planner = _Planner(policy, sampler, num_inference_steps, pad_to=min(batch_size, len(seeds)))
    bar = tqdm(total=len(seeds) * max_steps, desc='closed-loop eval', unit='step',
               disable=not progress, leave=False, dynamic_ncols=True)
    try:
        for start in range(0, len(seeds), max(batch_size, 1)):
            chunk = list(range(start, min(start + batch_size, len(seeds))))
            gens, hists, rewards = {}, {}, {}
            for env, i in zip(envs, chunk, strict=False):
                obs, _ = env.reset(seed=seeds[i])
                hists[i] = deque([obs] * n_obs, maxlen=n_obs)
                gens[i] = episode_generator(sample_seed, seeds[i], device)
                rewards[i] = []
                if i in frames:
                    frames[i].append(env.render())
            env_of = dict(zip(chunk, envs, strict=False))
            active = list(chunk)
            while active:
                if should_stop is not None and should_stop():
                    raise EvalInterrupted('closed-loop evaluation interrupted')
                actions = planner.plan([hists[i] for i in active], [gens[i] for i in active])
                still = []
                for row, i in enumerate(active):
                    env, done = env_of[i], False
                    for k in range(n_act):
                        obs, reward, terminated, _, _ = env.step(actions[row, k])
                        hists[i].append(obs)
                        rewards[i].append(float(reward))
                        steps[i] += 1
                        bar.update(1)
                        if i in frames:
                            frames[i].append(env.render())
                        if terminated:
                            success[i] = True
                        if terminated or steps[i] >= max_steps:
                            done = True
                            break
                    if done:
                        bar.update(max_steps - steps[i])
                        scores[i] = max(rewards[i])
                        refused.update(getattr(env, 'refused', {}))
                    else:
                        still.append(i)
                active = still
    finally:
        bar.close()
        for env in envs:
            env.close()
        policy.train(was_training)
    return ClosedLoopResult(seeds=seeds, scores=scores, steps=steps, success=success,
                            seconds=time.perf_counter() - t0, frames=frames,
                            refused=dict(refused))


class _Planner:
    """Batched predict_action with one generator per episode (noise independent of batching).

    On CUDA each chunk is one CUDA graph replay (dp_ros.runtime.graph_sampler), padded to
    pad_to rows so that the batch shrinking as episodes end reuses one graph; on the CPU,
    predict_action itself.
    """

    def __init__(self, policy, sampler: str | None, num_inference_steps: int | None,
                 pad_to: int | None = None) -> None:
        self.policy = policy
        self.kwargs = {'sampler': sampler, 'num_inference_steps': num_inference_steps}
        self.graphs = ChunkGraphs(policy) if policy.device.type == 'cuda' else None
        self.pad_to = pad_to

    def plan(self, histories: list, generators: list[torch.Generator]) -> np.ndarray:
        obs = policy_obs(histories, self.policy.device)
        if self.graphs is None:
            out = self.policy.predict_action(obs, generator=generators, **self.kwargs)
        else:
            out = self.graphs.predict_action(obs, generator=generators, pad_to=self.pad_to,
                                             **self.kwargs)
        return out['action'].float().cpu().numpy()
