"""The policy artifact: a directory with model.safetensors (weights) and policy.json (the rest).

No pickle: loading runs no code from the file. A save writes a temporary sibling directory
and renames it into place, so an interrupted save leaves the old artifact (or nothing),
never half of one.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from dp_ros.atomic_dir import plain_file_mode, replace_dir, staging_dir
from dp_ros.errors import UserError
from dp_ros.params import is_number
from dp_ros.policy.hub import resolve_policy_dir

if TYPE_CHECKING:
    import torch

    from dp_ros.policy.config import PolicyConfig
    from dp_ros.policy.diffusion import DiffusionPolicy

# torch, safetensors and the model are imported where weights are saved or loaded: reading
# policy.json stays light, so a command's argument and checkpoint errors come in a fraction
# of a second rather than after torch's 5-s import.

WEIGHTS_FILE = 'model.safetensors'
METADATA_FILE = 'policy.json'
FORMAT = 'dp_ros.policy'
FORMAT_VERSION = 1
# PolicyConfig fields every policy.json has held since format_version 1's first files: a file
# without one is refused rather than given the dataclass default (a hand-edited schedule or
# shape that differs from the weights samples wrongly, with no error anywhere)
REQUIRED_CONFIG_FIELDS = (
    'shape_meta', 'horizon', 'n_obs_steps', 'n_action_steps', 'down_dims', 'kernel_size',
    'n_groups', 'diffusion_step_embed_dim', 'crop_shape', 'resnet_width', 'num_keypoints',
    'feature_dim', 'num_train_timesteps', 'beta_schedule', 'prediction_type', 'clip_sample',
    'sampler', 'num_inference_steps')
# nesting a policy.json never needs (a saved one: under 10 levels; provenance holds the
# training config): deeper is refused before deepcopy or a check recurses through it
MAX_JSON_DEPTH = 100
# PolicyConfig fields a policy.json may change after the save: how the policy is sampled and
# executed, and the training-only augmentation; every other field (the network, the noise
# schedule, the observation contract) and the normalizer are the weights' own
EDITABLE_CONFIG_FIELDS = ('sampler', 'num_inference_steps', 'n_action_steps', 'color_jitter')
# the weights file's metadata keys holding what the policy.json beside it said at the save
SAVED_CONFIG_KEY = 'dp_ros.config'
SAVED_NORMALIZER_KEY = 'dp_ros.normalizer_sha256'
# fields added since, each with the default that reads the files written before it
ADDED_CONFIG_FIELDS = (
    'color_jitter',  # training only: (0, 0, 0, 0), no jitter
    'final_block_groups',  # 8 where n_groups is; other files: config.with_final_block_groups
)


class CheckpointError(UserError, ValueError):
    """The artifact on disk is missing, malformed, or does not match its own config."""


def save_policy(policy: DiffusionPolicy, directory: str | Path, *, control_period_s: float = 0.1,
                provenance: dict | None = None, state_dict: dict | None = None) -> Path:
    """Write the artifact; `state_dict` (e.g. the EMA weights) replaces the policy's own weights.

    An existing artifact at `directory` is replaced as a whole.
    """
    from dp_ros.policy.diffusion import count_parameters

    directory = Path(directory)
    problem = control_period_problem(control_period_s)
    if problem:
        raise ValueError(problem)
    weights = dict(policy.state_dict() if state_dict is None else state_dict)
    _check_state_dict(policy.state_dict(), weights, source='state_dict')
    tensors = {k: v.detach().to('cpu').contiguous().clone() for k, v in weights.items()}
    dtypes = sorted({str(v.dtype).removeprefix('torch.') for v in tensors.values()})
    config = policy.config
    metadata = {
        'format': FORMAT,
        'format_version': FORMAT_VERSION,
        'config': config.to_dict(),
        'obs_keys': {'rgb': config.rgb_keys, 'low_dim': config.low_dim_keys},
        'obs_shapes': {k: list(config.obs_shape(k)) for k in config.obs_keys},
        'action_dim': config.action_dim,
        'normalizer': policy.normalizer.to_dict(),
        'control_period_s': float(control_period_s),
        'provenance': dict(provenance or {}),
        'weights': {'file': WEIGHTS_FILE, 'dtypes': dtypes,
                    'num_parameters': count_parameters(policy)},
    }
    try:
        text = json.dumps(metadata, indent=2, allow_nan=False)
    except (TypeError, ValueError) as e:
        where = _non_finite_path(metadata)
        if where:  # NaN statistics are a dataset's fault, not provenance's
            raise ValueError(f'policy metadata is not JSON-serialisable: NaN or inf at '
                             f'{where}') from None
        raise ValueError(f'policy metadata is not JSON-serialisable (check provenance): {e}') from e

    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(directory)  # a kill leaves it: the next `dp-ros train` removes it
    try:
        _write_safetensors(tmp / WEIGHTS_FILE, tensors, {
            'format': 'pt', SAVED_CONFIG_KEY: json.dumps(metadata['config'], sort_keys=True),
            SAVED_NORMALIZER_KEY: normalizer_digest(metadata['normalizer'])})
        (tmp / METADATA_FILE).write_text(text + '\n')
        plain_file_mode([tmp / WEIGHTS_FILE], like=tmp / METADATA_FILE)
        for name in (WEIGHTS_FILE, METADATA_FILE):
            _fsync(tmp / name)
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _write_safetensors(path: Path, tensors: dict, metadata: dict[str, str]) -> None:
    """safetensors' file, byte for byte the same for the same weights and metadata: the
    library writes the metadata's entries in a random order (a Rust HashMap: 6 orders of 3
    entries in 20 saves); its header is rewritten in place, sorted, in the same length (the
    file written by save_file, which streams the tensors: save() held two copies in memory)."""
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)
    with open(path, 'r+b') as f:
        size = int.from_bytes(f.read(8), 'little')
        header = json.loads(f.read(size))
        header['__metadata__'] = dict(sorted(header['__metadata__'].items()))
        text = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode()
        if len(text) <= size:  # else not the library's JSON: its own bytes stay, valid
            f.seek(8)
            f.write(text.ljust(size, b' '))


def normalizer_digest(normalizer: dict) -> str:
    """SHA-256 of a normalizer's policy.json form: the same after a JSON round trip."""
    import hashlib

    return hashlib.sha256(json.dumps(normalizer, sort_keys=True).encode()).hexdigest()


def check_saved_record(meta: dict, saved: dict[str, str] | None, path: Path) -> None:
    """CheckpointError where policy.json `meta` is not what the weights at `path` were saved
    with (their metadata `saved`), naming each field a hand edit changed; nothing for the
    same, or weights saved before the record. The sampler, its step count and n_action_steps
    may change: they are not the training's."""
    from dp_ros.policy.config import PolicyConfig, with_final_block_groups

    saved = saved or {}
    lines = []
    if SAVED_CONFIG_KEY in saved:
        now = metadata_config(meta, path.parent).to_dict()  # policy.json's own fault first
        try:
            record = with_final_block_groups(json.loads(saved[SAVED_CONFIG_KEY]),
                                             'the saved config')
            lacking = [f for f in REQUIRED_CONFIG_FIELDS if f not in record]
            if lacking:  # the dataclass defaults would be shown as what was saved
                raise ValueError(f'it lacks {", ".join(lacking[:4])}'
                                 + (f' and {len(lacking) - 4} more' if len(lacking) > 4 else ''))
            before = PolicyConfig.from_dict(record).to_dict()
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f'{path}: its record of the saved config is unreadable '
                                  f'({exc})') from None
        for name in sorted(set(before) | set(now)):
            if name not in EDITABLE_CONFIG_FIELDS:
                lines += _differences(before.get(name), now.get(name), name)
    if SAVED_NORMALIZER_KEY in saved and \
            normalizer_digest(meta['normalizer']) != saved[SAVED_NORMALIZER_KEY]:
        lines.append('normalizer: its statistics differ')
    if not lines:
        return
    shown = '; '.join(lines[:8]) + (f'; and {len(lines) - 8} more' if len(lines) > 8 else '')
    raise CheckpointError(
        f'{path.parent / METADATA_FILE} is not what {path.name} was trained and saved with: '
        f'{shown}. The weights only work with the saved values: restore them (only '
        f"{', '.join(EDITABLE_CONFIG_FIELDS[:3])} may be changed after the save; the node's "
        'parameters override the sampler and its steps)')


def check_unedited(directory: Path, meta: dict) -> None:
    """check_saved_record from the weights' header alone (no tensor read): before nodes
    start or an upload. A weights file that cannot be read is left to the loader, which
    says what is wrong."""
    from safetensors import SafetensorError, safe_open

    path = Path(directory) / WEIGHTS_FILE
    try:
        with safe_open(str(path), framework='numpy') as f:
            saved = f.metadata()
    except (SafetensorError, OSError):
        return
    check_saved_record(meta, saved, path)


def _differences(before: object, now: object, path: str) -> list[str]:
    """'path: now (saved: before)' for each leaf where two JSON values differ."""
    if isinstance(before, dict) and isinstance(now, dict):
        return [line for key in sorted(set(before) | set(now), key=str)
                for line in _differences(before.get(key), now.get(key), f'{path}.{key}')]
    if before == now:
        return []
    return [f'{path}: {_short_json(now)} (saved: {_short_json(before)})']


def _short_json(value: object, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def control_period_problem(value: object) -> str | None:
    """Why `value` is no control period (None: it is one): a finite number of seconds > 0,
    the rule of a save and of a read (0 made the node's period 0 ns, -0.1 negative)."""
    try:
        if is_number(value) and math.isfinite(value) and value > 0:
            return None
    except OverflowError:  # an int beyond a float (a 400-digit one): not finite
        pass
    return f'control_period_s must be > 0 s and finite, got {value!r}'


def _non_finite_path(x: object, path: str = '') -> str | None:
    """The dotted path of the first NaN or infinite float in nested dicts and lists."""
    if isinstance(x, float) and not math.isfinite(x):
        return path or '(top level)'
    items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ()
    for k, v in items:
        found = _non_finite_path(v, f'{path}.{k}' if path else str(k))
        if found:
            return found
    return None


def _too_deep(x: object, limit: int) -> bool:
    """Whether dicts and lists in `x` nest more than `limit` levels (iterative: a deep one
    is what would overflow a recursive walk)."""
    stack = [(x, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return True
            values = item.values() if isinstance(item, dict) else item
            stack.extend((v, depth + 1) for v in values)
    return False


def read_policy_metadata(directory: str | Path) -> dict:
    """policy.json, checked for format, without touching the weights. `directory` may be an
    hf://org/name[@rev] Hub spec (dp_ros/policy/hub.py)."""
    path = resolve_policy_dir(directory) / METADATA_FILE
    if not path.is_file():
        raise CheckpointError(f'{path} not found: not a dp_ros policy directory')
    too_deep = CheckpointError(f'{path} is nested more than {MAX_JSON_DEPTH} levels deep: '
                               'not a policy.json')
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f'{path} is not valid JSON: {e}') from e
    except UnicodeDecodeError as e:  # its own str() would name neither file nor parameter
        raise CheckpointError(f'{path} is not UTF-8 text ({e.reason} at byte {e.start}): not '
                              'a policy.json') from None
    except RecursionError:  # valid JSON nested thousands deep
        raise too_deep from None
    if _too_deep(meta, MAX_JSON_DEPTH):  # deepcopy and the checks recurse through it
        raise too_deep
    if not isinstance(meta, dict):
        raise CheckpointError(f'{path}: expected a JSON object, got {type(meta).__name__}')
    if meta.get('format') != FORMAT:
        raise CheckpointError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if type(meta.get('format_version')) is not int or meta['format_version'] != FORMAT_VERSION:
        # an int: JSON's true and 1.0 equal 1 in Python, no version any dp_ros wrote
        raise CheckpointError(f"{path}: format_version {meta.get('format_version')!r}, this code "
                              f'reads {FORMAT_VERSION}')
    if 'control_period_s' not in meta and 'control_period' in meta:
        warnings.warn(f"{path}: 'control_period' is the old name of 'control_period_s'; "
                      'save the policy again to update it', DeprecationWarning, stacklevel=2)
        meta['control_period_s'] = meta.pop('control_period')
    for key in ('config', 'normalizer', 'control_period_s'):
        if key not in meta:
            raise CheckpointError(f'{path}: missing {key!r}')
    for key in ('config', 'normalizer'):
        if not isinstance(meta[key], dict):
            raise CheckpointError(f'{path}: {key!r} must be a JSON object, got '
                                  f'{type(meta[key]).__name__}')
    missing = [name for name in REQUIRED_CONFIG_FIELDS if name not in meta['config']]
    if missing:
        raise CheckpointError(f"{path}: 'config' lacks {', '.join(map(repr, missing))} (every "
                              'saved policy.json has it; a default may not be what the '
                              'weights were trained with)')
    problem = control_period_problem(meta['control_period_s'])
    if problem:
        raise CheckpointError(f'{path}: {problem}')
    from dp_ros.policy.config import with_final_block_groups

    try:
        meta['config'] = with_final_block_groups(meta['config'], "its 'config'")
    except ValueError as exc:
        raise CheckpointError(f'{path}: {exc}') from None
    return meta


def metadata_config(meta: dict, directory: str | Path) -> PolicyConfig:
    """The PolicyConfig of policy.json `meta` (read from local `directory`): CheckpointError
    naming the file for a config this code refuses (an older dp_ros's, a hand edit), one
    line as load_policy's, not a traceback."""
    from dp_ros.policy.config import PolicyConfig

    try:
        return PolicyConfig.from_dict(meta['config'])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f'{Path(directory) / METADATA_FILE}: {exc}') from None


def recorded_score(provenance: dict) -> float | None:
    """The closed-loop score (test/mean_score) the training measured for these weights, from
    policy.json's provenance; None where it did not evaluate them."""
    return provenance.get('metrics', {}).get('test/mean_score')


def load_policy(directory: str | Path, device: str | torch.device = 'cpu',
                dtype: torch.dtype | None = None) -> DiffusionPolicy:
    """Rebuild the policy from policy.json and load model.safetensors into it, in eval mode.
    `directory` may be an hf://org/name[@rev] Hub spec (dp_ros/policy/hub.py). A device
    torch cannot use here is a ValueError naming it, before anything is read."""
    import torch
    from safetensors import SafetensorError, safe_open

    from dp_ros.policy.config import PolicyConfig
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    try:  # torch's own words, under the device's name: 'cuda' here, 'mps', ' cpu'
        device = torch.device(device)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f'device {str(device)!r} cannot be used here: {reason}') from None
    directory = resolve_policy_dir(directory)
    meta = read_policy_metadata(directory)
    try:
        config = PolicyConfig.from_dict(meta['config'])
        normalizer = Normalizer.from_dict(meta['normalizer'])
        with torch.device('meta'):  # no random init of weights that are overwritten anyway
            policy = DiffusionPolicy(config, normalizer)  # checks the normalizer's keys
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f'{directory / METADATA_FILE}: {e}') from e
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f'{path} not found')
    try:
        with safe_open(str(path), framework='pt', device='cpu') as f:
            check_saved_record(meta, f.metadata(), path)  # a hand edit, before the tensors
            weights = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as e:  # an interrupted copy, a full disk: say which file
        raise CheckpointError(f'{path} is damaged or truncated ({e}): copy or save it '
                              'again') from None
    _check_state_dict(policy.state_dict(), weights, source=str(path))
    # NaN or inf weights make every chunk non-finite: said here, not after activation
    bad = next((k for k, v in weights.items() if not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise CheckpointError(f'{path}: tensor {bad!r} holds NaN or infinite values: the '
                              'training diverged or the file was altered')
    policy.load_state_dict({k: v.float() if v.is_floating_point() else v
                            for k, v in weights.items()}, strict=True, assign=True)
    left = [n for n, t in [*policy.named_parameters(), *policy.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f'{path}: no values for {left}')
    policy.to(device=device)
    if dtype is not None:
        policy.to(dtype=dtype)
    return policy.eval()


def _check_state_dict(expected: dict, got: dict, source: str) -> None:
    """Raise one error that lists every missing, unexpected and mis-shaped tensor."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [f'{k}: file {list(got[k].shape)} vs config {list(expected[k].shape)}'
              for k in sorted(set(expected) & set(got)) if got[k].shape != expected[k].shape]
    # integer weights of the right shape: load_state_dict's 'Only Tensors of floating point
    # ... can require gradients' traceback otherwise
    dtypes = [f'{k}: file {str(got[k].dtype).removeprefix("torch.")}, expected floating point'
              for k in sorted(set(expected) & set(got))
              if expected[k].is_floating_point() and not got[k].is_floating_point()]
    if not (missing or unexpected or shapes or dtypes):
        return
    lines = [f'{source} does not match the policy config:']
    if missing:
        lines.append(f'  missing keys ({len(missing)}): {_short(missing)}')
    if unexpected:
        lines.append(f'  unexpected keys ({len(unexpected)}): {_short(unexpected)}')
    if shapes:
        lines.append(f'  shape mismatches ({len(shapes)}):')
        lines.extend(f'    {s}' for s in shapes[:20])
        if len(shapes) > 20:
            lines.append(f'    ... and {len(shapes) - 20} more')
    if dtypes:
        lines.append(f'  not floating point ({len(dtypes)}): {_short(dtypes)}')
    raise CheckpointError('\n'.join(lines))


def _short(keys: list[str], limit: int = 20) -> str:
    text = ', '.join(keys[:limit])
    return text + (f', ... and {len(keys) - limit} more' if len(keys) > limit else '')


def _fsync(path: Path) -> None:
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def _replace_dir(src: Path, dst: Path) -> None:
    """Swap the finished `src` in at `dst`, refusing to replace something that is no policy
    (a non-empty directory without policy.json, or a file: `results.json` was deleted)."""
    foreign_dir = dst.is_dir() and not (dst / METADATA_FILE).is_file() and any(dst.iterdir())
    if foreign_dir or dst.exists() and not dst.is_dir():
        raise CheckpointError(f'{dst} exists and is not a policy directory; not replacing it')
    replace_dir(src, dst)
