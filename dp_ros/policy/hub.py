"""Policies on the Hugging Face Hub: `hf://org/name[@revision]` -> a local policy directory.

Every place that takes a checkpoint (load_policy, read_policy_metadata, `dp-ros eval` and
`dp-ros sim --checkpoint`, the policy node's `checkpoint` parameter) passes it through
resolve_policy_dir: a plain path comes back unchanged, a Hub spec is fetched with
huggingface_hub.snapshot_download into the Hugging Face cache (HF_HUB_CACHE, or
HF_HOME/hub, default ~/.cache/huggingface/hub) and the cached snapshot directory comes back.
A cached snapshot is used without network when HF_HUB_OFFLINE=1 is set or the Hub cannot be
reached; a spec that is neither cached nor reachable is a HubError naming the repository and
how to fetch it.

huggingface_hub is imported only when a Hub spec is resolved: this layer stays torch-only for
plain paths.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from dp_ros.errors import UserError

SCHEME = 'hf://'
# the files of a policy artifact (dp_ros/policy/checkpoint.py) and its model card
POLICY_FILES = ['policy.json', 'model.safetensors', 'README.md']
_REPO_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')
_TRUE = {'1', 'on', 'yes', 'true'}
_COMMIT = re.compile(r'^[0-9a-f]{40}$')


class HubError(UserError, ValueError):
    """A Hub checkpoint that cannot be had: a bad spec, unknown repository or revision, or
    not cached while offline."""


def is_hub_spec(spec: object) -> bool:
    return isinstance(spec, str) and spec.startswith(SCHEME)


def parse_hub_spec(spec: str) -> tuple[str, str | None]:
    """'hf://org/name@rev' -> ('org/name', 'rev'); no '@': revision None (the main branch)."""
    if not is_hub_spec(spec):
        raise HubError(f'{spec!r} is not a Hub checkpoint (hf://org/name[@revision])')
    body = spec[len(SCHEME):]
    repo_id, _, revision = body.partition('@')
    repo_id = repo_id.strip('/')
    if not _REPO_ID.match(repo_id) or '..' in repo_id or (revision == '' and '@' in body):
        raise HubError(f'{spec!r} is not of the form hf://org/name[@revision]')
    # huggingface_hub joins the revision to the cache's refs/ folder as it is: '..' or a
    # leading '/' would leave the cache, and no git ref name holds either
    if revision and ('..' in revision or revision.startswith('/') or '\\' in revision):
        raise HubError(f'{spec!r}: revision {revision!r} is no branch, tag or commit (a git '
                       "ref holds no '..', leading '/' or '\\')")
    return repo_id, revision or None


def hub_cache_dir() -> Path:
    """The cache huggingface_hub uses, read from the environment now (the library reads it
    once, at import)."""
    if os.environ.get('HF_HUB_CACHE'):
        return Path(os.environ['HF_HUB_CACHE']).expanduser()
    if os.environ.get('HF_HOME'):
        return Path(os.environ['HF_HOME']).expanduser() / 'hub'
    from huggingface_hub import constants
    return Path(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE set now (or when huggingface_hub was imported)."""
    if os.environ.get('HF_HUB_OFFLINE', '').strip().lower() in _TRUE:
        return True
    from huggingface_hub import constants
    return bool(constants.HF_HUB_OFFLINE)


def fetch_hint(repo_id: str, revision: str | None) -> str:
    rev = f' --revision {revision}' if revision else ''
    return (f'fetch it once with network: `hf download {repo_id}{rev}` (or run this command '
            f'online, without HF_HUB_OFFLINE=1)')


def not_hub_json(exc: json.JSONDecodeError) -> str:
    """What an answer that is no JSON means (a captive portal's or a proxy's login page
    answers HTML to every address): one line for resolving a spec and for `dp-ros push`."""
    from huggingface_hub import constants
    return (f"{constants.ENDPOINT} answered with something that is not the Hub's JSON ({exc}): "
            'a login page of the network (a captive portal, a proxy) or a wrong HF_ENDPOINT?')


def checkpoint_arg(text: str) -> str | Path:
    """argparse type of a --checkpoint: an hf:// spec stays a string (a Path would fold its
    '//'), anything else is a Path."""
    return text if is_hub_spec(text) else Path(text)


def resolve_policy_dir(spec: str | os.PathLike) -> Path:
    """A local policy directory for a path or an hf://org/name[@revision] spec."""
    if not is_hub_spec(spec):
        return Path(spec)
    repo_id, revision = parse_hub_spec(str(spec))
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import snapshot_download

    cache = hub_cache_dir()
    offline = hub_offline()
    where = f'{SCHEME}{repo_id}' + (f'@{revision}' if revision else '')
    if revision and _COMMIT.match(revision):  # a commit never changes: no need to ask the Hub
        cached = _cached_snapshot(repo_id, revision, cache)
        if cached is not None:
            return cached
    try:
        path = snapshot_download(repo_id, revision=revision, cache_dir=cache,
                                 allow_patterns=POLICY_FILES, local_files_only=offline,
                                 library_name='dp_ros')
    except hf_errors.RepositoryNotFoundError:
        raise HubError(f'{where}: no such model repository on the Hub (or it is private: log '
                       f'in with `hf auth login` or set HF_TOKEN)') from None
    except hf_errors.RevisionNotFoundError:
        raise HubError(f'{where}: the repository has no revision {revision!r}') from None
    except (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled) as exc:
        reason = 'HF_HUB_OFFLINE is set' if offline else 'the Hub cannot be reached'
        raise HubError(f'{where} is not in the Hugging Face cache ({cache}) and {reason}: '
                       f'{fetch_hint(repo_id, revision)} [{type(exc).__name__}]') from None
    except hf_errors.HfHubHTTPError as exc:
        raise HubError(f'{where}: the Hub refused the download: '
                       f'{" ".join(str(exc).split())}') from None
    except OSError as exc:  # network errors that reach here unwrapped
        raise HubError(f'{where}: download failed ({exc}); {fetch_hint(repo_id, revision)}'
                       ) from None
    except json.JSONDecodeError as exc:
        raise HubError(f'{where}: {not_hub_json(exc)}') from None
    return Path(path)


def _cached_snapshot(repo_id: str, revision: str, cache: Path) -> Path | None:
    """The cached snapshot of a commit when it holds a policy (huggingface_hub's own lookup)."""
    from huggingface_hub import try_to_load_from_cache
    found = try_to_load_from_cache(repo_id, POLICY_FILES[0], cache_dir=cache, revision=revision)
    if isinstance(found, str) and Path(found).parent.joinpath(POLICY_FILES[1]).is_file():
        return Path(found).parent
    return None
