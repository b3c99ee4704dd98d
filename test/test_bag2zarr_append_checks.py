"""What an append to a bag2zarr store must keep (found by exploratory testing). The rate:
README: "The store records its control_period_s (training takes it as the policy's;
appending at another period is refused)"; a store that went to LeRobot and back (`dp-ros
convert`) records it as fps, as LeRobot does, and bag2zarr's append check reads it the way
training does (bags at another period were appended, the store then saying fps 10 and
control_period_s 0.2 at once). The offsets: an action that is the state one control period
ahead must not be appended to at five periods ahead (two tasks in one array, without a word
before); a store written before offsets were recorded is not contradicted."""
from __future__ import annotations

import numpy as np
import yaml

from dp_ros.bags.recorder import BagRecorder, joint_state_message
from training import bag2zarr, lerobot_convert
from training.replay_buffer import ReplayBuffer

T0 = 1_700_000_000_000_000_000


def _bag(path, period_ns, n=12):
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for k in range(n):
            t = T0 + k * period_ns
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t,
                      joint_state_message(ts, ['j1'], np.array([float(k)]), t))
    return path


def _config(tmp_path, period, offset=None):
    path = tmp_path / f'cfg_{period}_{offset}.yaml'
    action = {'future_of': 'state', **({'offset': offset} if offset is not None else {})}
    path.write_text(yaml.safe_dump({
        'control_period_s': period,
        'keys': {'state': {'joint_state': '/joint_states', 'joints': ['j1']},
                 'action': action}}))
    return path


def _bag2zarr(bag, cfg, out):
    return bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(out), '--no-progress'])


def test_a_store_back_from_lerobot_refuses_bags_of_another_period(tmp_path, capsys):
    first = tmp_path / 'first.zarr'
    assert _bag2zarr(_bag(tmp_path / 'a', 100_000_000), _config(tmp_path, 0.1), first) == 0
    assert lerobot_convert.main([str(first), str(tmp_path / 'le'), '--no-progress']) == 0
    back = tmp_path / 'back.zarr'
    assert lerobot_convert.main([str(tmp_path / 'le'), str(back), '--no-progress']) == 0
    assert ReplayBuffer.open(back).n_episodes == 1

    # the same append to the bag2zarr store is refused (README); to the round-tripped one?
    slow_bag, slow_cfg = _bag(tmp_path / 'b', 200_000_000), _config(tmp_path, 0.2)
    assert _bag2zarr(slow_bag, slow_cfg, first) == 2
    rc = _bag2zarr(slow_bag, slow_cfg, back)
    store = ReplayBuffer.open(back)
    assert rc == 2 and store.n_episodes == 1, (
        f'bags at 0.2 s appended to a 10 fps store (rc {rc}, {store.n_episodes} episodes, '
        f'root attrs {store.root_attrs()})')


def test_an_append_at_another_action_offset_is_refused(tmp_path, capsys):
    import zarr

    out = tmp_path / 'out.zarr'
    bag = _bag(tmp_path / 'a', 100_000_000, n=20)
    assert _bag2zarr(bag, _config(tmp_path, 0.1), out) == 0
    assert [s['offset_s'] for s in ReplayBuffer.open(out).attrs('action')['sources']] == [0.1]
    capsys.readouterr()
    assert _bag2zarr(bag, _config(tmp_path, 0.1, offset=0.5), out) == 2
    err = capsys.readouterr().err
    assert ('its values from /joint_states were sampled at grid time + 0.1 s there, + 0.5 s '
            'here') in err, err
    assert ReplayBuffer.open(out).n_episodes == 1
    # the same offset: appended (another recording: one converted already is refused)
    assert _bag2zarr(_bag(tmp_path / 'b', 100_000_000, n=20), _config(tmp_path, 0.1, offset=0.1),
                     out) == 0
    assert ReplayBuffer.open(out).n_episodes == 2
    # a store written before offsets were recorded: unknown, not contradicted, kept unknown
    for key in ('state', 'action'):
        array = zarr.open_group(str(out), mode='r+')['data'][key]
        array.attrs['sources'] = [{k: v for k, v in s.items() if k != 'offset_s'}
                                  for s in array.attrs['sources']]
    assert _bag2zarr(_bag(tmp_path / 'c', 100_000_000, n=20), _config(tmp_path, 0.1, offset=0.5),
                     out) == 0
    store = ReplayBuffer.open(out)
    assert store.n_episodes == 3
    assert all('offset_s' not in s for s in store.attrs('action')['sources'])
