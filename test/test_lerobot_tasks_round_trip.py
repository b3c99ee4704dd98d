"""A multi-task LeRobot set converted to zarr and back came back single-task: every episode
got the one --task text (default ''). The zarr store now records each episode's task
(TASKS_ATTR) and the way back gives it again; an explicit --task still names them all, and
episodes appended later get the default."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
from test_lerobot_format import dataset as dataset  # noqa: F401 (fixture)
from test_lerobot_format import episodes as episodes  # noqa: F401 (fixture)

from training.lerobot_convert import TASKS_ATTR, main, recorded_tasks
from training.lerobot_format import LeRobotReader
from training.replay_buffer import ReplayBuffer

TASKS = ['push the T', 'push it again', 'push the T', 'push it again']


def episode_tasks_of(root) -> list[str]:
    table = pq.read_table(root / 'meta/episodes/chunk-000/file-000.parquet')
    return [tasks[0] for tasks in table['tasks'].to_pylist()]


def test_each_episode_keeps_its_task_through_zarr_and_back(tmp_path, dataset):  # noqa: F811
    back, again = tmp_path / 'back.zarr', tmp_path / 'again'
    assert main([str(dataset), str(back), '--no-progress', '--keys', 'action']) == 0
    assert ReplayBuffer.open(back).root_attrs()[TASKS_ATTR] == TASKS
    assert main([str(back), str(again), '--no-progress']) == 0
    assert episode_tasks_of(again) == TASKS
    assert sorted(LeRobotReader(again).tasks().values()) == sorted(set(TASKS))


def test_an_explicit_task_names_every_episode(tmp_path, dataset):  # noqa: F811
    back, again = tmp_path / 'back.zarr', tmp_path / 'again'
    main([str(dataset), str(back), '--no-progress', '--keys', 'action'])
    assert main([str(back), str(again), '--no-progress', '--task', 'one']) == 0
    assert episode_tasks_of(again) == ['one'] * 4


def test_recorded_tasks_cover_only_the_episodes_they_name(tmp_path):
    store = ReplayBuffer.create(tmp_path / 's.zarr')
    store.write_array('action', (6, 2), np.float32, [np.zeros((6, 2), np.float32)])
    store.set_episode_ends(np.array([2, 4, 6]))
    assert recorded_tasks(store) == ['', '', '']  # none recorded
    store.set_root_attrs(**{TASKS_ATTR: ['a', 'b']})
    assert recorded_tasks(store) == ['a', 'b', '']  # one appended after the conversion
    store.set_root_attrs(**{TASKS_ATTR: ['a', 'b', 'c', 'd']})
    assert recorded_tasks(store) == ['', '', '']  # more than it holds: which is which?


def test_episodes_appended_without_a_task_are_named_on_export(tmp_path, dataset,  # noqa: F811
                                                              capsys):
    """A review's day 2: episodes appended to a round-tripped store (bag2zarr gives no task)
    went out with task '' beside the recorded ones, without a word."""
    back, again = tmp_path / 'back.zarr', tmp_path / 'again'
    main([str(dataset), str(back), '--no-progress', '--keys', 'action'])
    store = ReplayBuffer.open(back, mode='r+')
    store.set_root_attrs(**{TASKS_ATTR: TASKS[:2]})  # as if episodes 2 and 3 came later
    capsys.readouterr()
    assert main([str(back), str(again), '--no-progress']) == 0
    assert ('note: episode(s) [2, 3] have no task beside others that have one (appended after '
            'the tasks were recorded): --task TEXT gives every episode one') \
        in capsys.readouterr().out
