"""The installed console scripts run: each one once, with an input that ends it quickly and
the same way every time (help, or a bad parameter that must be one clear line, exit 2),
found before torch loads (they run where `import torch` fails): a fast answer.

The other tests start the nodes and commands as `python -m MODULE` from this checkout; these
run the scripts `pip install .` (`make venv`) generated in the test interpreter's prefix, so
a broken entry point, a stale install or an import that only works from the source tree
shows up here. PYTHONPATH is dropped for them: they run the installed copy.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import (
    console_scripts,
    installed_script,
    nonempty_lines,
    run_installed,
    without_torch,
)

# script -> (arguments, exit code, words the output must contain)
CASES: dict[str, list[tuple[list[str], int, tuple[str, ...]]]] = {
    'dp-ros': [(['--help'], 0, ('sim', 'train', 'plot', 'eval', 'bag2zarr', 'replay',
                                'download-pusht'))],
    'policy_node': [(['--ros-args', '-p', 'checkpoint:=/nonexistent/policy'], 2,
                     ('checkpoint', '/nonexistent/policy')),
                    # YAML reads [x,y] as [str, bool]: rcl refuses the argument itself
                    (['--ros-args', '-p', 'state_joint_names:=[x,y]'], 2,
                     ('invalid arguments', 'state_joint_names', 'bool'))],
    'policy_lifecycle_node': [(['--ros-args', '-p', 'checkpoint:=/nonexistent/policy'], 2,
                               ('checkpoint', '/nonexistent/policy'))],
    'pusht_sim_node': [(['--ros-args', '-p', 'mode:=bogus'], 2, ('mode', 'bogus'))],
    'pusht_record_demo': [(['--help'], 0, ('--output', '--storage')),
                          (['--storage', 'mcap'], 2, ('--output',))],  # -o is required
    'pusht_teleop': [(['--help'], 0, ('--namespace',)),
                     (['--no-such-option'], 2, ('--no-such-option',))],
}


def test_every_console_script_has_a_case():
    assert set(CASES) == set(console_scripts())


@pytest.mark.parametrize('name', sorted(CASES))
def test_installed_script_runs_this_interpreter_and_its_entry_point(name):
    path = installed_script(name)
    text = path.read_text()
    shebang = text.splitlines()[0].removeprefix('#!').split()[0]
    # the script runs in this environment: its interpreter lives in sys.prefix
    assert Path(shebang).parent.resolve() == Path(sys.executable).parent.resolve(), shebang
    module, function = console_scripts()[name].split(':')
    assert f'from {module} import {function}' in text, f'{path} is stale: run `make venv`'


@pytest.mark.parametrize('name,args,rc,words', [
    pytest.param(n, a, rc, w, id=' '.join([n, *a])) for n, cases in sorted(CASES.items())
    for a, rc, w in cases])
def test_installed_script_runs(name, args, rc, words, tmp_path):
    proc = run_installed(name, *args, cwd=tmp_path, timeout=120,
                         env=without_torch(tmp_path / 'no_torch'))
    output = proc.stdout + proc.stderr
    assert proc.returncode == rc, output[-3000:]
    assert 'Traceback' not in output, output[-3000:]
    for word in words:
        assert word in output, output[-3000:]
    if rc == 2 and '--ros-args' in args:
        # a node's bad parameter: one line that names it, nothing else (but rcl's own line
        # when it cannot parse the arguments at all)
        lines = [line for line in nonempty_lines(output)
                 if not line.endswith('[rcl]: Failed to parse global arguments')]
        assert len(lines) == 1, output
    if rc == 2 and '--ros-args' not in args:
        assert 'error:' in nonempty_lines(proc.stderr)[-1], proc.stderr  # argparse's line
