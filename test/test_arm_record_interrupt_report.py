"""`dp-ros arm-record`'s report lists every episode whose bag is in --output, whatever stops
the run between a kept bag's move into --output and the report's write (a fault review):
the resume skips an episode whose bag is there, so a row not written then never was ('1 of 1
episodes kept' with two bags). The row is staged before the move, and the resume reports it;
Ctrl-C or SIGTERM is held back over the two."""
from __future__ import annotations

import json
import signal

import pytest
from test_arm_record_interrupt import (
    INTERRUPTED,
    arm_record,
    demo_dataset,
    namespaces,  # noqa: F401 (fixture)
    own_lines,
    staging,
    stopped_run,
)

pytestmark = pytest.mark.ros


@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGINT], ids=['SIGKILL', 'SIGINT'])
def test_a_run_stopped_at_the_report_write_leaves_a_report_of_every_bag(
        tmp_path, namespaces, sig):  # noqa: F811
    """Stopped where the report is first written (episode 0's bag just moved into --output),
    then resumed: both episodes listed, both bags there. Ctrl-C comes after the write."""
    ns = f'/arm_gap_{sig.name.lower()}'
    namespaces.extend([ns, f'{ns}_rerun'])
    dataset = demo_dataset(tmp_path / 'demo.zarr')
    output, report_path = tmp_path / 'bags', tmp_path / 'bags_report.json'
    args = ['--mode', 'lockstep', '--output', str(output), '--dataset', str(dataset)]
    proc = stopped_run([*args, '--namespace', ns], 'dp_ros.app.arm_record:write_text', 1, sig,
                       suffix='_report.json')
    bags = sorted(p.name for p in output.iterdir())
    assert bags == ['episode_000'], (bags, proc.stderr[-3000:])
    if sig == signal.SIGINT:
        assert proc.returncode == 130, proc.stderr[-3000:]
        assert own_lines(proc.stderr) == [INTERRUPTED], proc.stderr[-3000:]
        assert staging(tmp_path) == []
        assert sorted(json.loads(report_path.read_text())['episodes']) == ['0']
    else:
        assert proc.returncode == -signal.SIGKILL
    again = arm_record(*args, '--namespace', f'{ns}_rerun')
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    report = json.loads(report_path.read_text())['episodes']
    assert {k: r['success'] for k, r in report.items()} == {'0': True, '1': True}
    assert report['0']['result']['steps'] == 7 and report['0']['unrun_steps'] == []
    assert sorted(p.name for p in output.iterdir()) == ['episode_000', 'episode_001']
    assert f'2 of 2 episodes kept in {output}' in again.stdout
    assert staging(tmp_path) == []
