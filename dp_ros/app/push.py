"""`dp-ros push DIR hf://org/name[@branch]`: a policy directory onto the Hugging Face Hub.

Uploads policy.json and model.safetensors with a model card (README.md) generated from
policy.json: what the policy observes and does, its sampler, its metrics and where it came
from (training step, dataset, the whole training config). The directory itself is not
changed: the files go up from a temporary folder that links to them. Anyone can then run

    dp-ros sim --checkpoint hf://org/name
    dp-ros eval --checkpoint hf://org/name@<commit> --output report.json

Needs network and a token with write access (`hf auth login` or HF_TOKEN); any failure
(offline, refused, no token) is one line and exit 2. `--card-only FILE` writes the card
without uploading.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from dp_ros.atomic_dir import write_text
from dp_ros.policy.hub import HubError, hub_offline, not_hub_json, parse_hub_spec

CARD_FILE = 'README.md'
UPLOADED = ('policy.json', 'model.safetensors')


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f'{value:.4g}'
    return str(value)


def model_card(meta: dict[str, Any], repo_id: str) -> str:
    """The README.md of a policy repository, from its policy.json."""
    config = meta.get('config', {})
    prov = meta.get('provenance', {}) or {}
    metrics = prov.get('metrics', {}) or {}
    train_config = prov.get('train_config')
    shapes = meta.get('obs_shapes', {})
    keys = meta.get('obs_keys', {})
    weights = meta.get('weights', {})
    period = float(meta.get('control_period_s', 0.0))
    front = {'library_name': 'dp_ros', 'pipeline_tag': 'robotics',
             'tags': ['robotics', 'diffusion-policy', 'ros2', 'dp_ros']}
    if prov.get('dataset'):
        front['tags'].append('imitation-learning')
    lines = ['---', yaml.safe_dump(front, sort_keys=False).strip(), '---', '',
             f'# {repo_id}', '',
             'An image-conditioned diffusion policy (Chi et al., *Diffusion Policy*, RSS 2023) '
             'in the dp_ros artifact format: `policy.json` (config, '
             'normalizer, provenance) and `model.safetensors` (EMA weights). No pickle.', '',
             '## Use', '', '```bash',
             f'dp-ros sim --checkpoint hf://{repo_id}',
             f'dp-ros eval --via inprocess --checkpoint hf://{repo_id} --output eval.json',
             f'ros2 run dp_ros policy_node --ros-args -p checkpoint:=hf://{repo_id}',
             '```', '',
             'The checkpoint is fetched once into the Hugging Face cache; with '
             '`HF_HUB_OFFLINE=1` the cached copy is used. Pin a commit with '
             f'`hf://{repo_id}@<commit>`.', '',
             '## Policy', '', '| | |', '| --- | --- |']
    for kind in ('rgb', 'low_dim'):
        for key in keys.get(kind, []):
            shape = 'x'.join(str(s) for s in shapes.get(key, []))
            lines.append(f'| observation `{key}` | {"image" if kind == "rgb" else "low-dim"}, '
                         f'{shape} |')
    rows = [('action dimensions', meta.get('action_dim')),
            ('control period', f'{period:g} s ({1 / period:g} Hz)' if period > 0 else None),
            ('observation steps', config.get('n_obs_steps')),
            ('action horizon / executed', f"{config.get('horizon')} / "
                                          f"{config.get('n_action_steps')}"),
            ('sampler', f"{config.get('sampler', '')} {config.get('num_inference_steps', '')} "
                        f'steps'.strip()),
            ('parameters', f"{weights.get('num_parameters'):,}"
             if isinstance(weights.get('num_parameters'), int) else None),
            ('weights dtype', ', '.join(weights.get('dtypes', [])) or None)]
    lines += [f'| {name} | {value} |' for name, value in rows if value is not None]
    lines += ['', '## Metrics', '']
    if metrics:
        lines += ['| metric | value |', '| --- | --- |']
        lines += [f'| `{k}` | {_fmt(v)} |' for k, v in sorted(metrics.items())]
        if 'test/mean_score' in metrics:
            lines += ['', 'test/mean_score: the mean over the evaluation episodes of each '
                          "episode's best reward, min(coverage of the goal / 0.95, 1) (the "
                          "paper's Push-T protocol)."]
    else:
        lines.append('None recorded in policy.json.')
    lines += ['', '## Training provenance', '']
    saved = prov.get('saved_at')
    for name, value in (('step', prov.get('step')), ('epoch', prov.get('epoch')),
                        ('EMA weights', prov.get('ema')), ('dataset', prov.get('dataset')),
                        ('run directory', prov.get('run_dir')),
                        ('saved', time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(saved))
                         if isinstance(saved, (int, float)) else None)):
        if value is not None:
            lines.append(f'- {name}: `{value}`')
    if not prov:
        lines.append('None recorded in policy.json.')
    if train_config:
        lines += ['', 'Training config (`dp-ros train --config` takes it as is):', '',
                  '```yaml', yaml.safe_dump(train_config, sort_keys=False).rstrip(), '```']
    lines += ['', '## Model config', '', '```json', json.dumps(config, indent=2), '```', '']
    return '\n'.join(lines)


def _read_meta(directory: Path) -> dict[str, Any]:
    from dp_ros.policy.checkpoint import (
        WEIGHTS_FILE,
        CheckpointError,
        check_unedited,
        read_policy_metadata,
    )
    if not directory.is_dir():
        raise FileNotFoundError(f'{directory} is not a policy directory')
    meta = read_policy_metadata(directory)
    if not (directory / WEIGHTS_FILE).is_file():
        raise CheckpointError(f'{directory / WEIGHTS_FILE} not found')
    from safetensors import SafetensorError, safe_open
    try:  # its header and index read, not its tensors: a truncated file is not uploaded
        with safe_open(str(directory / WEIGHTS_FILE), framework='numpy') as f:
            f.keys()
    except SafetensorError as exc:
        raise CheckpointError(f'{directory / WEIGHTS_FILE} is damaged or truncated ({exc}): '
                              'save or copy it again before pushing') from None
    check_unedited(directory, meta)  # no one could load it: not uploaded
    return meta


def _stage(directory: Path, card: str, into: Path) -> None:
    for name in UPLOADED:
        try:
            os.link(directory / name, into / name)
        except OSError:
            shutil.copy2(directory / name, into / name)
    (into / CARD_FILE).write_text(card)


def push_policy(directory: str | Path, spec: str, *, private: bool = False,
                message: str | None = None, token: str | None = None) -> str:
    """Upload the policy directory with its card; the commit URL."""
    directory = Path(directory)
    repo_id, branch = parse_hub_spec(spec)
    meta = _read_meta(directory)
    card = model_card(meta, repo_id)
    if hub_offline():
        raise HubError(f'cannot push to {spec}: HF_HUB_OFFLINE is set (unset it, with network)')
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hf_errors

    api = HfApi(token=token, library_name='dp_ros')
    with tempfile.TemporaryDirectory(prefix='.push-', dir=directory.parent) as tmp:
        _stage(directory, card, Path(tmp))
        try:
            api.create_repo(repo_id, repo_type='model', private=private, exist_ok=True)
            if branch:
                api.create_branch(repo_id, branch=branch, exist_ok=True)
            info = api.upload_folder(repo_id=repo_id, folder_path=tmp, revision=branch,
                                     commit_message=message or f'dp_ros policy from '
                                                               f'{directory.name}')
        except (hf_errors.HfHubHTTPError, hf_errors.OfflineModeIsEnabled,
                hf_errors.LocalTokenNotFoundError) as exc:
            raise HubError(f'cannot push to {spec}: {" ".join(str(exc).split())} (a write '
                           f'token: `hf auth login` or HF_TOKEN)') from None
        except OSError as exc:
            raise HubError(f'cannot push to {spec}: {exc}') from None
        except json.JSONDecodeError as exc:
            raise HubError(f'cannot push to {spec}: {not_hub_json(exc)}') from None
        except Exception as exc:  # httpx transport errors (no network) are no OSError
            if not type(exc).__module__.startswith(('httpx', 'httpcore')):
                raise
            raise HubError(f'cannot push to {spec}: the Hub cannot be reached '
                           f'({type(exc).__name__}: {exc})') from None
    return str(getattr(info, 'commit_url', info))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='dp-ros push', description=__doc__.splitlines()[0])
    p.add_argument('directory', type=Path, help='policy directory (policy.json + '
                                                'model.safetensors)')
    p.add_argument('repo', help='hf://org/name or hf://org/name@branch')
    p.add_argument('--private', action='store_true', help='create the repository private')
    p.add_argument('--message', help='commit message')
    p.add_argument('--card-only', type=Path, metavar='FILE',
                   help='write the model card here and upload nothing')
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    repo_id, _ = parse_hub_spec(args.repo)
    if args.card_only is not None:
        card = model_card(_read_meta(args.directory), repo_id)  # no folder made for a refusal
        write_text(args.card_only, card)
        print(f'dp-ros push: model card written to {args.card_only}')
        return 0
    url = push_policy(args.directory, args.repo, private=args.private, message=args.message)
    print(f'dp-ros push: {args.directory} -> {url}')
    return 0


if __name__ == '__main__':
    import sys

    from dp_ros.cli import run_subcommand
    sys.exit(run_subcommand('push', sys.argv[1:]))

