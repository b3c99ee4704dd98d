"""`dp-ros dry-run-report` with a dry-run chunk whose stamp is far from when the bag received
it, and outside the other chunks' times (a stamp of 1 ns, a node whose clock jumped): the
chunk is left out and named, and the report is the one of the bag without it. Stamped 1 ns,
the grid ran from 1970 to the last due time: a 127 GiB allocation, a traceback; stamped an
hour early, coverage 0 %, an unreadable plot and another hold baseline. A chunk received
late but stamped among the others is sampled by its stamp, as before. Found by review."""
from __future__ import annotations

import json

import pytest
from test_dry_run_report_edges import DRY, DT, JOINTS, MS, NS, OPERATOR, T0, TRAJ, operator_at

from dp_ros import cli
from dp_ros.bags.recorder import BagRecorder, trajectory_message
from training.dry_run_report import STAMP_OUTLIER_S

BAD = 20  # the chunk planned at this step is the odd one


def write(path, bad_stamp: int | None, bad_receipt: int | None = None) -> None:
    """The operator's commands at 10 Hz and 8-point chunks every 4 steps, two periods late;
    chunk BAD stamped `bad_stamp` (None: left out of the bag), received `bad_receipt` (None:
    on time)."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(60):
            t = T0 + k * DT
            rec.write(OPERATOR, TRAJ, t + MS, trajectory_message(ts, JOINTS, operator_at(k)[None],
                                                                 t, DT))
        for k in range(0, 56, 4):
            stamp = T0 + k * DT
            if k == BAD:
                if bad_stamp is None:
                    continue
                stamp = bad_stamp
            received = bad_receipt if k == BAD and bad_receipt else T0 + k * DT + 2 * MS
            points = operator_at(range(k - 2, k + 6))
            rec.write(DRY, TRAJ, received, trajectory_message(ts, JOINTS, points, stamp, DT))


def report(capsys, tmp_path, bag, name: str) -> tuple[dict, str]:
    out = tmp_path / f'{name}.json'
    code = cli.main(['dry-run-report', str(bag), '--output', str(out), '--no-progress'])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert out.with_suffix('.png').stat().st_size > 10_000
    return json.loads(out.read_text()), captured.out


@pytest.mark.parametrize('stamp', [1, T0 + BAD * DT - 3600 * NS, T0 + BAD * DT + 3600 * NS],
                         ids=['1ns', 'an_hour_early', 'an_hour_late'])
def test_a_chunk_stamped_far_from_its_receipt_and_the_others_is_left_out_and_named(
        tmp_path, capsys, stamp):
    odd, clean = tmp_path / 'odd', tmp_path / 'clean'
    write(odd, stamp)
    write(clean, None)
    got, text = report(capsys, tmp_path, odd, 'odd')
    want, _ = report(capsys, tmp_path, clean, 'clean')
    assert got['metrics'] == want['metrics']
    [warning] = got['warnings']
    assert (f'{odd}: 1 dry-run chunk(s) left out: stamped more than {STAMP_OUTLIER_S:g} s from '
            'their receive times, outside the other chunks\' times') in warning
    assert f'received at {(BAD * DT + 2 * MS) / NS:.3f} s' in warning
    assert f'warning: {warning}' in text


def test_a_chunk_received_late_but_stamped_among_the_others_is_kept(tmp_path, capsys):
    """The recorder received chunk BAD 10 s late (a stalled recorder): its stamp fits the
    others, the controller would have run it then; kept, nothing said."""
    bag = tmp_path / 'late'
    write(bag, T0 + BAD * DT, bad_receipt=T0 + BAD * DT + 10 * NS)
    clean = tmp_path / 'clean'
    write(clean, T0 + BAD * DT)
    got, _ = report(capsys, tmp_path, bag, 'late')
    want, _ = report(capsys, tmp_path, clean, 'clean')
    assert got['metrics'] == want['metrics'] and got['warnings'] == []
