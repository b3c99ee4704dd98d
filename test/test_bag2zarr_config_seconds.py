"""bag2zarr config times that would make no nanosecond grid are one-line errors, exit 2,
nothing written (found by exploratory testing: a control_period_s below half a nanosecond
rounded to 0 ns, a ValueError traceback; periods or offsets past int64 nanoseconds, an
OverflowError traceback): periods from 1 us, and periods, offsets and tolerances within an
hour."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training import bag2zarr

T0 = 1_700_000_000_000_000_000
PERIOD = 100_000_000
KEYS = {'img': {'image': '/cam/image_raw'},
        'state': {'joint_state': '/joint_states', 'joints': ['j1']}}


@pytest.mark.parametrize('raw', [
    {'control_period_s': 1e-10},
    {'control_period_s': 1e12},
    {'keys': {**KEYS, 'action': {'future_of': 'state', 'offset': 1e10}}},
    {'keys': {**KEYS, 'action': {'joint_state': '/joint_states', 'joints': ['j1'],
                                 'offset': -4000}}},
    {'tolerance': 1e12},
], ids=['period_rounds_to_0_ns', 'period_overflows_int64', 'offset_overflows_int64',
        'source_offset_past_an_hour', 'tolerance_past_an_hour'])
def test_a_period_or_offset_that_makes_no_ns_grid_is_a_one_line_error(tmp_path, capsys, raw):
    bag = tmp_path / 'bag'
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for k in range(4):
            t = T0 + k * PERIOD
            rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', t,
                      image_message(ts, np.zeros((4, 4, 3), np.uint8), t))
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t,
                      joint_state_message(ts, ['j1'], np.array([float(k)]), t))
    cfg = tmp_path / 'cfg.yaml'
    cfg.write_text(yaml.safe_dump({'control_period_s': 0.1, 'keys': KEYS, **raw}))
    rc = bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(tmp_path / 'o.zarr'),
                        '--no-progress'])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1 and err[0].startswith('dp-ros bag2zarr: '), err
    assert not (tmp_path / 'o.zarr').exists()
