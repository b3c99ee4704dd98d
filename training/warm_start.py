"""train.init_from: start a run from another run's policy (weights and normalizer only)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dp_ros.policy.config import PolicyConfig

if TYPE_CHECKING:  # torch and diffusers load when a warm start is asked for
    from dp_ros.policy.diffusion import DiffusionPolicy

# sampling settings may differ: they do not change the network
IGNORED_FIELDS = ('sampler', 'num_inference_steps')


def load_init_policy(source: str | Path, policy_cfg: PolicyConfig) -> DiffusionPolicy:
    """The policy named by train.init_from, checked against this run's policy config.

    `source` is a policy checkpoint directory or a run directory (its checkpoints/latest).
    """
    from dp_ros.policy.checkpoint import load_policy

    path = Path(source)
    if (path / 'checkpoints' / 'latest').is_dir():
        path = path / 'checkpoints' / 'latest'
    if not (path / 'policy.json').is_file():
        raise FileNotFoundError(f'train.init_from={source}: no policy checkpoint (policy.json) '
                                'there, nor a run directory with checkpoints/latest')
    policy = load_policy(path)
    theirs, ours = policy.config.to_dict(), policy_cfg.to_dict()
    differ = sorted(k for k in ours if k not in IGNORED_FIELDS and theirs.get(k) != ours[k])
    if differ:
        raise ValueError(f'train.init_from={source}: the checkpoint\'s policy differs from this '
                         f'config in {", ".join(differ)}')
    return policy
