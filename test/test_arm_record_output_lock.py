"""Two `dp-ros arm-record` runs into one --output share its `.<name>.partial` folder and
`<name>_report.json`: the second must be refused in one line (exit 2) before it touches them,
as bag2zarr, convert and train refuse a second writer (dp_ros/atomic_dir.py output_lock).
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tiny_runs import write_small_store

from dp_ros.atomic_dir import output_lock
from dp_ros.cli import run_subcommand


@pytest.fixture
def restored_environment() -> Iterator[None]:
    """arm-record's main sets the node environment in this process: put it back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_a_second_run_into_one_output_is_refused_and_leaves_the_first_ones_files(
        tmp_path, capsys, restored_environment):
    dataset = write_small_store(tmp_path / 'demos.zarr')
    output = tmp_path / 'bags'
    partial = tmp_path / '.bags.partial' / 'episode_000'  # the first run's half-written bag
    partial.mkdir(parents=True)
    (partial / 'bag_0.mcap').write_bytes(b'half')
    report = tmp_path / 'bags_report.json'  # the first run's report so far
    report.write_text('{}')
    with output_lock(output, 'dp-ros arm-record'):  # the first run, still recording
        code = run_subcommand('arm-record', ['--output', str(output), '--dataset', str(dataset),
                                             '--no-progress', '--timeout', '1'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith('dp-ros arm-record: '), err
    assert 'being written by another dp-ros command' in err[0]
    assert 'dp-ros arm-record, process' in err[0]
    assert (partial / 'bag_0.mcap').read_bytes() == b'half'
    assert report.read_text() == '{}'
