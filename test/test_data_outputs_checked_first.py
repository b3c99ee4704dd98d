"""`dp-ros bag2zarr --summary-json PATH` and `dp-ros convert --report PATH` where PATH cannot
be written (a directory): exit 2 before the output changes (found by exploratory testing: the
store was appended to first, so a retry with a good path appended the same bags twice). An
error leaves the output as it was; the file is checked first, as open-loop's and eval's are
(dp_ros/atomic_dir.check_writable_file)."""
from __future__ import annotations

import numpy as np
import yaml

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training import bag2zarr
from training.replay_buffer import ReplayBuffer

T0 = 1_700_000_000_000_000_000
PERIOD = 100_000_000


def _bag(path, n=6):
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for k in range(n):
            t = T0 + k * PERIOD
            rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', t + 1000,
                      image_message(ts, np.full((8, 8, 3), k, np.uint8), t))
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + 2000,
                      joint_state_message(ts, ['j1', 'j2'], np.array([k, k + 1.0]), t))
    return path


def _config(tmp_path):
    path = tmp_path / 'cfg.yaml'
    path.write_text(yaml.safe_dump({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['j1', 'j2']},
                 'action': {'future_of': 'state'}}}))
    return path


def test_an_unwritable_summary_json_leaves_the_store_unchanged(tmp_path, capsys):
    bag, cfg, out = _bag(tmp_path / 'bag'), _config(tmp_path), tmp_path / 'out.zarr'
    assert bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(out), '--no-progress']) == 0
    assert ReplayBuffer.open(out).n_episodes == 1
    (tmp_path / 'summary').mkdir()  # not a file
    rc = bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(out), '--no-progress',
                        '--summary-json', str(tmp_path / 'summary')])
    assert '--summary-json' in capsys.readouterr().err
    episodes = ReplayBuffer.open(out).n_episodes
    assert rc == 2 and episodes == 1, (
        f'a failed run (rc {rc}) left the store with {episodes} episodes, not 1: the '
        'summary path must be checked before the store is changed')


def test_an_unwritable_convert_report_fails_before_the_dataset_is_written(tmp_path):
    """`dp-ros convert SRC DST --report DIR`: the same, exit 2 with DST written."""
    from dp_ros import cli

    store = ReplayBuffer.create(tmp_path / 's.zarr')
    store.add_episode({'state': np.zeros((3, 2)), 'action': np.zeros((3, 2))})
    (tmp_path / 'report').mkdir()  # not a file
    out = tmp_path / 'le'
    rc = cli.main(['convert', str(tmp_path / 's.zarr'), str(out), '--fps', '10',
                   '--no-progress', '--report', str(tmp_path / 'report')])
    assert rc == 2 and not out.exists(), (
        f'a failed conversion (rc {rc}) left {out} written: exists={out.exists()}')


def test_an_output_holding_the_bags_is_refused_even_with_overwrite(tmp_path, capsys):
    """`dp-ros bag2zarr DIR/bag -o DIR --overwrite` would swap DIR out, the bags with it:
    refused before anything is read or written; an output inside a bag folder too."""
    bag = _bag(tmp_path / 'data' / 'bag')
    cfg = _config(tmp_path)
    for out in (tmp_path / 'data', bag / 'out.zarr'):
        assert bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(out), '--overwrite',
                              '--no-progress']) == 2
        assert 'the source' in capsys.readouterr().err
    assert sorted(p.name for p in bag.iterdir()) == ['bag.mcap', 'metadata.yaml']  # whole
    assert bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(tmp_path / 'ok.zarr'),
                          '--no-progress']) == 0
