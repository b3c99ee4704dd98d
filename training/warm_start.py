"""train.init_from: start a run from another run's policy (weights and normalizer only).

Torch-free: the checkpoint is found and its config checked before torch loads.
"""
from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path

from dp_ros.dimension_names import NAMES
from dp_ros.policy.config import PolicyConfig
from dp_ros.recorded_sources import FRAME_SIZE, SOURCES
from training.errors import TrainConfigError
from training.nested_diff import diff_values, in_field

log = logging.getLogger(__name__)

# sampling settings may differ: they do not change the network
IGNORED_FIELDS = ('sampler', 'num_inference_steps')


def init_checkpoint(source: str | Path) -> Path:
    """The policy checkpoint directory train.init_from names: the directory itself, or a run
    directory's checkpoints/latest. Checked before the dataset is read (FileNotFoundError)."""
    path = Path(source)
    if (path / 'checkpoints' / 'latest').is_dir():
        path = path / 'checkpoints' / 'latest'
    if not (path / 'policy.json').is_file():
        raise FileNotFoundError(f'train.init_from={source}: no policy checkpoint (policy.json) '
                                'there, nor a run directory with checkpoints/latest')
    return path


def check_init_policy(source: str | Path, policy_cfg: PolicyConfig) -> Path:
    """The checkpoint directory train.init_from names, its policy config compared with this
    run's from policy.json alone (TrainConfigError naming the fields that differ), before
    torch loads: the weights are read later, by load_policy.

    `source` is a policy checkpoint directory or a run directory (its checkpoints/latest).
    """
    from dp_ros.policy.checkpoint import CheckpointError, read_policy_metadata

    path = init_checkpoint(source)
    try:
        with warnings.catch_warnings():  # an old key: load_policy warns once, later
            warnings.simplefilter('ignore', DeprecationWarning)
            theirs = PolicyConfig.from_dict(read_policy_metadata(path)['config']).to_dict()
    except CheckpointError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f'train.init_from={source}: {path / "policy.json"}: {exc}'
                              ) from None
    ours = policy_cfg.to_dict()
    ours['shape_meta'] = names_only_where_recorded(ours['shape_meta'], theirs['shape_meta'])
    # where the data was recorded from (topics, rates, a sim's clock) changes no weight: a
    # camera appended at 15 Hz, sim-trained weights fine-tuned on a robot's bags; said
    recorded = [f'{k} {a} -> {b}' for k, a, b in diff_values(theirs['shape_meta'],
                                                             ours['shape_meta'])
                if in_field(k, SOURCES)]
    if recorded:
        log.warning('train.init_from=%s: its data was recorded otherwise (%s%s); the weights '
                    'do not depend on it', source, '; '.join(recorded[:4]),
                    f'; {len(recorded) - 4} more' if len(recorded) > 4 else '')
    theirs['shape_meta'], ours['shape_meta'] = (without_sources(theirs['shape_meta']),
                                                without_sources(ours['shape_meta']))
    differ = sorted(k for k in ours if k not in IGNORED_FIELDS and theirs.get(k) != ours[k])
    order = [list(meta['shape_meta']['obs']) for meta in (theirs, ours)]
    if 'shape_meta' not in differ and order[0] != order[1]:
        differ.append(f'shape_meta (its observations in the order {", ".join(order[0])}, '
                      f'this config\'s {", ".join(order[1])}: the order of their features)')
    if differ:
        raise TrainConfigError(f"train.init_from={source}: the checkpoint's policy differs "
                               f'from this config in {", ".join(differ)}')
    return path


def validation_trained_on(provenance: dict, split: dict, episode_ends) -> list[int]:
    """This run's validation episodes (split: split_record's) that the checkpoint it warm
    starts from (its provenance) trained on: where it was trained on the same episodes this
    dataset begins with (bags appended since), the split drawn anew over the grown set puts
    some of them in validation, whose loss is then optimistic. [] where that cannot be said
    (another dataset, or a checkpoint that recorded no split)."""
    from training.dataset_meta import episodes_digest

    theirs = provenance.get('split') or {}
    n, trained = theirs.get('n_episodes'), theirs.get('train_episodes')
    if not isinstance(n, int) or not isinstance(trained, list) or n > len(episode_ends) \
            or episodes_digest(episode_ends[:n]) != theirs.get('episode_ends_sha256'):
        return []
    return sorted(set(split['val_episodes']) & set(trained))


def without_sources(meta: dict) -> dict:
    """A shape_meta without its entries' recorded sources (dp_ros/recorded_sources.py)."""
    meta = copy.deepcopy(meta)
    for entry in (meta.get('action', {}), *meta.get('obs', {}).values()):
        entry.pop(SOURCES, None)
    return meta


def names_only_where_recorded(ours: dict, theirs: dict) -> dict:
    """`ours` without the joint names, sources and frame size `theirs` has not recorded: a
    checkpoint trained before its data recorded names (or topics, 7a3c22c; or a LeRobot
    camera's frame size) does not differ from this run in them (unknown, not other)."""
    ours = copy.deepcopy(ours)
    entries = [(ours.get('action', {}), theirs.get('action', {}))] + [
        (entry, theirs.get('obs', {}).get(key, {})) for key, entry in ours.get('obs', {}).items()]
    for mine, other in entries:
        for field in (NAMES, SOURCES, FRAME_SIZE):
            if field not in other:
                mine.pop(field, None)
    return ours

