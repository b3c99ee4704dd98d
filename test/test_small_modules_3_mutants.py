"""Behaviour of three small modules that their other tests left unpinned (a mutation review of
dp_ros/runtime/repeated_message.py, training/cpu_precision.py and dp_ros/app/param_docs.py).

RepeatedMessage: the seconds since the last report are rounded, not truncated (a `//`
mutant), and a period given as a float is kept as int nanoseconds. cpu_precision: bf16 is
kept on every CPU whose torch kernels are not x86 below AVX-512 (AVX512, SVE256, VSX,
ZVECTOR: a mutant that adds one to the emulated set, or tests `!= 'AVX512'`), the fp32
fallback's warning names the setting, and cpu_capability() is what torch reports (a mutant
that hard-codes a capability). param_docs: a README without a node's markers is refused,
naming the node and the lines to add (a mutant that drops the check would let `--check` pass
a README with no tables); drift in the pusht_sim_node table is caught, as is a removed row (a
mutant that drops a node from NODES); `--check` of a current README exits 0 and says nothing,
of a stale one exits 1, names the file and the `--write` command on stderr and leaves the
file as it was (a mutant that writes in --check); two tables of one node are each regenerated
and the prose between them kept (a greedy `.*` or a count=1 mutant); `--write` and `--check`
are one of them and required; `python -m dp_ros.app.param_docs --check` exits 1 on drift as
a process (a mutant that calls main() without sys.exit).

Real parts only: the README itself, files in tmp_path, real torch.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dp_ros.app import param_docs
from dp_ros.runtime.repeated_message import RepeatedMessage
from training.cpu_precision import EMULATED_BF16, cpu_capability, effective_mixed_precision

S = 1_000_000_000
REPO = Path(__file__).resolve().parents[1]
README = REPO / 'README.md'


# --- RepeatedMessage -------------------------------------------------------------------------

def test_the_seconds_since_the_last_report_are_rounded():
    msg = RepeatedMessage(period_ns=10 * S)
    assert msg.add('e', 0) == 'e'
    assert msg.add('e', 5 * S) is None
    assert msg.add('e', 12_700_000_000) == ('e (and 1 more since the last report 13 s ago; '
                                            '3 in all)')
    assert msg.add('e', 12_800_000_000) is None
    assert msg.add('e', 12_800_000_000 + 10 * S) == (
        'e (and 1 more since the last report 10 s ago; 5 in all)')
    assert msg.total == 5


def test_a_period_given_in_float_nanoseconds_is_an_int():
    msg = RepeatedMessage(period_ns=2.5e9)
    assert msg.period_ns == 2_500_000_000 and type(msg.period_ns) is int


# --- cpu_precision ---------------------------------------------------------------------------

@pytest.mark.parametrize('capability', ['AVX512', 'SVE256', 'VSX', 'ZVECTOR'])
def test_bf16_is_kept_on_every_cpu_that_is_not_x86_below_avx512(capability):
    assert effective_mixed_precision('bf16', True, capability) == ('bf16', None)


def test_the_emulated_set_is_x86_below_avx512():
    assert EMULATED_BF16 == {'DEFAULT', 'NO AVX', 'AVX2'}


def test_the_fallback_warnings_name_the_setting_and_what_is_used():
    _, bf16 = effective_mixed_precision('bf16', True, 'AVX2')
    _, fp16 = effective_mixed_precision('fp16', True, 'AVX512')
    assert bf16.startswith(
        'train.mixed_precision bf16 on this CPU (AVX2 kernels: no AVX-512 or SVE)')
    assert bf16.endswith('training in fp32 instead')
    assert fp16.startswith('train.mixed_precision fp16 on the CPU')
    assert 'training in fp32 instead' in fp16


def test_cpu_capability_is_what_torch_reports():
    import torch

    capability = cpu_capability()
    assert type(capability) is str
    assert capability == str(torch.backends.cpu.get_cpu_capability())
    expected = ('no', 'bf16')[capability not in EMULATED_BF16]
    assert effective_mixed_precision('bf16', True)[0] == expected


# --- param_docs ------------------------------------------------------------------------------

def _without(text: str, name: str) -> str:
    """`text` with the markers of `name`'s table (and the table) cut out."""
    begin = param_docs.BEGIN.format(name=name)
    end = param_docs.END.format(name=name)
    return text[:text.index(begin)] + text[text.index(end) + len(end) + 1:]


@pytest.mark.parametrize('name', sorted(param_docs.NODES))
def test_a_readme_without_a_nodes_markers_is_refused(name, tmp_path):
    text = _without(README.read_text(), name)
    begin = param_docs.BEGIN.format(name=name)
    end = param_docs.END.format(name=name)
    with pytest.raises(ValueError) as info:
        param_docs.update(text)
    assert str(info.value) == (f'no parameter table markers for {name}: add the lines\n'
                               f'{begin}\n{end}')
    path = tmp_path / 'README.md'
    path.write_text(text)
    with pytest.raises(ValueError, match=f'no parameter table markers for {name}'):
        param_docs.main(['--check', str(path)])


def test_a_readme_without_any_table_is_refused():
    with pytest.raises(ValueError, match='no parameter table markers for policy_node'):
        param_docs.update('# dp_ros\n\nno tables here\n')


def test_the_nodes_are_the_policy_and_the_sim_node():
    assert list(param_docs.NODES) == ['policy_node', 'pusht_sim_node']


@pytest.mark.parametrize('stale', ['changed', 'removed'])
def test_drift_in_the_sim_nodes_table_is_caught(stale, tmp_path):
    text = README.read_text()
    row = '| `video_size` | int | `256` | [8, 4096] | video frame size (px) |\n'
    assert text.count(row) == 1
    planted = text.replace(row, row.replace('video frame size', 'old words')
                           if stale == 'changed' else '')
    assert param_docs.update(planted) == text
    path = tmp_path / 'README.md'
    path.write_text(planted)
    assert param_docs.main(['--check', str(path)]) == 1


def test_check_of_a_current_readme_exits_0_and_says_nothing(tmp_path, capsys):
    path = tmp_path / 'README.md'
    path.write_text(README.read_text())
    before = path.stat().st_mtime_ns
    assert param_docs.main(['--check', str(path)]) == 0
    assert capsys.readouterr() == ('', '')
    assert path.read_text() == README.read_text() and path.stat().st_mtime_ns == before


def test_check_of_a_stale_readme_says_so_and_leaves_the_file(tmp_path, capsys):
    text = README.read_text()
    row = '| `video_size` | int | `256` | [8, 4096] | video frame size (px) |\n'
    planted = text.replace(row, '')
    path = tmp_path / 'README.md'
    path.write_text(planted)
    assert param_docs.main(['--check', str(path)]) == 1
    assert path.read_text() == planted
    out, err = capsys.readouterr()
    assert out == ''
    assert err == (f'{path}: the parameter tables differ from the node configs; run '
                   f'python -m dp_ros.app.param_docs --write {path}\n')


def test_two_tables_of_one_node_are_each_regenerated_and_the_prose_between_kept():
    text = README.read_text()
    name = 'policy_node'
    begin = param_docs.BEGIN.format(name=name)
    end = param_docs.END.format(name=name)
    stale = f'{begin}\n| stale |\n{end}\n'
    doc = _without(text, name) + '\n' + stale + '\nprose between the tables\n\n' + stale
    new = param_docs.update(doc)
    fresh = f'{begin}\n{param_docs.render(name)}{end}\n'
    assert new == (_without(text, name) + '\n' + fresh + '\nprose between the tables\n\n'
                   + fresh)


@pytest.mark.parametrize('options', [[], ['--write', '--check']])
def test_one_of_write_and_check_is_required(options, tmp_path, capsys):
    argv = []
    for i, option in enumerate(options):
        path = tmp_path / f'{i}.md'
        path.write_text(README.read_text())
        argv += [option, str(path)]
    with pytest.raises(SystemExit) as info:
        param_docs.main(argv)
    assert info.value.code == 2
    assert 'usage: python -m dp_ros.app.param_docs' in capsys.readouterr().err


def test_the_module_as_a_process_exits_1_on_drift(tmp_path):
    path = tmp_path / 'README.md'
    path.write_text(README.read_text().replace('video frame size (px)', 'old words'))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    run = subprocess.run([sys.executable, '-m', 'dp_ros.app.param_docs', '--check', str(path)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert 'the parameter tables differ from the node configs' in run.stderr
