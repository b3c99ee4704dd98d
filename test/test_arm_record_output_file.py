"""`dp-ros arm-record --output` naming an existing file: one line, exit 2, before the dataset
loads or a sim starts (a review got a FileExistsError traceback from output.mkdir), as train
and download-pusht refuse one; the file is left as it was."""
from __future__ import annotations

import subprocess

from support import checkout_env, module_cmd, nonempty_lines
from tiny_runs import write_small_store


def test_an_output_that_is_a_file_is_one_line(tmp_path):
    store = write_small_store(tmp_path / 'small.zarr')  # loads: the output is the problem
    taken = tmp_path / 'afile'
    taken.write_text('mine')
    proc = subprocess.run(module_cmd('dp_ros.cli', 'arm-record', '--output', str(taken),
                                     '--dataset', str(store)),
                          env=checkout_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert nonempty_lines(proc.stderr) == [
        f'dp-ros arm-record: --output {taken} is a file: give the folder that receives the '
        'episode bags (made if missing)']
    assert taken.read_text() == 'mine'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['afile', 'small.zarr']
