"""Hub checkpoints (hf://org/name[@rev]) from a prepared Hugging Face cache, offline; the
model card and the one-line failures of `dp-ros push` without network.

The cache is laid out as huggingface_hub lays it out (blobs/<sha256>, snapshots/<commit>/<file>
-> ../../blobs/<sha256>, refs/<branch or tag> = commit), and the library's own scan_cache_dir
and try_to_load_from_cache must recognise it before anything is resolved from it.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from huggingface_hub import scan_cache_dir, try_to_load_from_cache
from support import (
    SHIPPED_CHECKPOINT,
    checkout_env,
    make_tiny_checkpoint,
    module_cmd,
    nonempty_lines,
)

from dp_ros.app import push
from dp_ros.app.eval_report import build_eval_parser, check_eval_args, eval_config_dict
from dp_ros.app.sim_launcher import build_parser as sim_parser
from dp_ros.app.sim_launcher import resolve_checkpoint
from dp_ros.policy.checkpoint import load_policy, read_policy_metadata
from dp_ros.policy.hub import HubError, checkpoint_arg, parse_hub_spec, resolve_policy_dir

COMMIT = '0123456789abcdef0123456789abcdef01234567'
OTHER_COMMIT = 'fedcba9876543210fedcba9876543210fedcba98'


def cache_policy(cache: Path, repo_id: str, policy_dir: Path, commit: str = COMMIT,
                 refs: tuple[str, ...] = ('main',)) -> Path:
    """Put a policy directory into a Hugging Face cache as snapshot_download would."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / 'snapshots' / commit
    snapshot.mkdir(parents=True)
    (repo / 'blobs').mkdir(exist_ok=True)
    for name in ('policy.json', 'model.safetensors'):
        data = (policy_dir / name).read_bytes()
        blob = repo / 'blobs' / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(Path('../../blobs') / blob.name)
    (repo / 'refs').mkdir(exist_ok=True)
    for ref in refs:
        (repo / 'refs' / ref).write_text(commit)
    return snapshot


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('tiny') / 'policy')


@pytest.fixture
def cache(tmp_path, monkeypatch, tiny) -> Path:
    """HF_HUB_CACHE with org/tiny at COMMIT (main, tag v1); offline."""
    root = tmp_path / 'hf_cache'
    cache_policy(root, 'org/tiny', tiny, refs=('main', 'v1'))
    monkeypatch.setenv('HF_HUB_CACHE', str(root))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    return root


def test_the_prepared_cache_is_what_huggingface_hub_reads(cache):
    info = scan_cache_dir(cache)
    assert not info.warnings
    (repo,) = info.repos
    assert repo.repo_id == 'org/tiny' and repo.repo_type == 'model'
    assert set(repo.refs) == {'main', 'v1'}
    assert {f.file_name for f in repo.refs['main'].files} == {'policy.json',
                                                             'model.safetensors'}
    found = try_to_load_from_cache('org/tiny', 'policy.json', cache_dir=cache)
    assert found == str(cache / 'models--org--tiny/snapshots' / COMMIT / 'policy.json')


def test_specs_are_parsed_and_plain_paths_pass_through(tmp_path):
    assert parse_hub_spec('hf://org/name') == ('org/name', None)
    assert parse_hub_spec('hf://org/name@v1.2') == ('org/name', 'v1.2')
    for bad in ('hf://name', 'hf://org/name@', 'hf://org/a/b', 'hf://', 'org/name'):
        with pytest.raises(HubError, match='hf://org/name'):
            parse_hub_spec(bad)
    assert resolve_policy_dir(tmp_path) == tmp_path
    assert resolve_policy_dir(str(tmp_path)) == tmp_path
    assert checkpoint_arg('hf://org/name') == 'hf://org/name'  # a Path would fold the //
    assert checkpoint_arg('runs/x') == Path('runs/x')


@pytest.mark.parametrize('spec', ['hf://org/tiny', 'hf://org/tiny@v1', f'hf://org/tiny@{COMMIT}'])
def test_cached_snapshot_resolves_offline(cache, spec):
    snapshot = cache / 'models--org--tiny/snapshots' / COMMIT
    assert resolve_policy_dir(spec) == snapshot
    assert read_policy_metadata(spec)['format'] == 'dp_ros.policy'


def test_load_policy_from_a_hub_spec(cache, tiny):
    hub = load_policy('hf://org/tiny')
    local = load_policy(tiny)
    for (name, a), (_, b) in zip(hub.state_dict().items(), local.state_dict().items(),
                                 strict=True):
        assert a.equal(b), name


def test_a_cached_commit_needs_no_network_even_online(cache, monkeypatch):
    monkeypatch.delenv('HF_HUB_OFFLINE')
    assert resolve_policy_dir(f'hf://org/tiny@{COMMIT}').name == COMMIT


@pytest.mark.parametrize('spec, hint', [
    ('hf://org/absent', '`hf download org/absent`'),
    ('hf://org/tiny@v2', '`hf download org/tiny --revision v2`'),
    (f'hf://org/tiny@{OTHER_COMMIT}', f'--revision {OTHER_COMMIT}'),
])
def test_not_cached_while_offline_is_one_clear_error(cache, spec, hint):
    with pytest.raises(HubError) as info:
        resolve_policy_dir(spec)
    message = str(info.value)
    assert message.startswith(spec) and 'HF_HUB_OFFLINE' in message
    assert hint in message and str(cache) in message
    assert '\n' not in message


def test_eval_and_sim_take_a_hub_spec(cache):
    snapshot = cache / 'models--org--tiny/snapshots' / COMMIT
    args = build_eval_parser().parse_args(['--checkpoint', 'hf://org/tiny', '--output', 'x.json',
                                           '--seeds', '100000:100002'])
    check_eval_args(args)
    assert args.checkpoint == snapshot
    assert eval_config_dict(args)['checkpoint'] == 'hf://org/tiny'  # the report names the spec
    assert sim_parser().parse_args(['--checkpoint', 'hf://org/tiny']).checkpoint == 'hf://org/tiny'
    assert resolve_checkpoint('hf://org/tiny') == snapshot.resolve()


def test_eval_of_an_uncached_spec_offline_is_one_line_exit_2(tmp_path):
    env = checkout_env(HF_HUB_OFFLINE='1', HF_HUB_CACHE=str(tmp_path / 'empty_cache'))
    proc = subprocess.run(module_cmd('dp_ros.cli', 'eval', '--checkpoint', 'hf://org/absent',
                                     '--output', str(tmp_path / 'out/report.json')),
                          env=env, capture_output=True, text=True, timeout=120)
    lines = nonempty_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith('dp-ros eval: hf://org/absent is not in the Hugging Face cache')
    assert not (tmp_path / 'out').exists()


# ---------------------------------------------------------------------------- push
def test_model_card_of_the_shipped_policy():
    meta = read_policy_metadata(SHIPPED_CHECKPOINT)
    card = push.model_card(meta, 'me/pusht')
    assert card.startswith('---\nlibrary_name: dp_ros\n')
    for text in ('# me/pusht', 'dp-ros sim --checkpoint hf://me/pusht',
                 '| observation `image` | image, 3x96x96 |', '| action dimensions | 2 |',
                 '| control period | 0.1 s (10 Hz) |', '| sampler | ddim 10 steps |',
                 # the shipped run's figures (runs/pusht_cpu_28k_clean, its best step)
                 '| `test/mean_score` | 0.9316 |', '- step: `20000`',
                 'pusht_cchi_v7_replay.zarr', '```yaml\npolicy:\n  horizon: 16',
                 '"down_dims": ['):
        assert text in card, text


def test_model_card_without_provenance(tiny):
    card = push.model_card(read_policy_metadata(tiny), 'org/tiny')
    assert 'None recorded in policy.json.' in card


def run_push(tmp_path, *args, **env):
    return subprocess.run(module_cmd('dp_ros.cli', 'push', *args),
                          env=checkout_env(**env), capture_output=True, text=True, timeout=120)


def test_push_card_only_writes_the_card(tiny, tmp_path):
    proc = run_push(tmp_path, str(tiny), 'hf://org/tiny', '--card-only', str(tmp_path / 'card.md'))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / 'card.md').read_text().startswith('---\n')


@pytest.mark.parametrize('how', ['offline', 'unreachable'])
def test_push_without_network_is_one_line_exit_2(how, tiny, tmp_path):
    env = {'HF_HUB_OFFLINE': '1'} if how == 'offline' else {
        'HF_ENDPOINT': 'http://127.0.0.1:9', 'HF_TOKEN': 'hf_test_not_a_token'}  # closed port
    before = sorted(tiny.parent.rglob('*'))
    proc = run_push(tmp_path, str(tiny), 'hf://org/tiny', **env)
    lines = nonempty_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith('dp-ros push: cannot push to hf://org/tiny: ')
    assert ('HF_HUB_OFFLINE' if how == 'offline' else 'cannot be reached') in lines[0]
    assert sorted(tiny.parent.rglob('*')) == before  # no card, no temporary folder left


def test_push_refuses_what_is_no_policy(tmp_path):
    proc = run_push(tmp_path, str(tmp_path), 'hf://org/x', HF_HUB_OFFLINE='1')
    lines = nonempty_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and 'policy.json' in lines[0], proc.stderr


def test_push_refuses_damaged_weights_before_the_hub(tiny, tmp_path):
    """A truncated model.safetensors (an interrupted copy) is refused, named, before any
    upload is tried (only the file's existence was checked)."""
    import shutil

    policy = tmp_path / 'policy'
    shutil.copytree(tiny, policy)
    whole = (policy / 'model.safetensors').read_bytes()
    (policy / 'model.safetensors').write_bytes(whole[:len(whole) // 2])
    proc = run_push(tmp_path, str(policy), 'hf://org/x', HF_HUB_OFFLINE='1')
    lines = nonempty_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert 'model.safetensors is damaged or truncated' in lines[0], lines[0]


def test_policy_node_takes_a_hub_spec(cache):
    from dp_ros.runtime.policy_node_config import PolicyNodeConfig, load_setup

    cfg = PolicyNodeConfig(checkpoint='hf://org/tiny', device='cpu')
    load_setup(cfg)
    assert cfg.checkpoint == str(cache / 'models--org--tiny/snapshots' / COMMIT)
    with pytest.raises(HubError, match='hf://org/absent'):
        load_setup(PolicyNodeConfig(checkpoint='hf://org/absent', device='cpu'))
