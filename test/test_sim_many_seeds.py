"""`dp-ros sim` / `eval --via ros` with tens of thousands of seeds: the sim still starts.

Linux takes at most 131072 bytes in one exec argument (MAX_ARG_STRLEN); about 20,000 seeds
as one `-p seeds:=[...]` are more, and Popen died with `Argument list too long` after the
policy node had started. A parameter that long travels in a ROS parameter file
(--params-file, after the robot's file so that it wins), written into the session's own
temporary folder, which the session removes when it closes.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dp_ros.app.sim_launcher import SessionConfig, SimSession, sim_command
from dp_ros.errors import UserError

MAX_ARG_STRLEN = 131072  # linux/binfmts.h: 32 pages
SEEDS = list(range(100000, 120000))


def test_long_seeds_go_into_a_parameter_file(tmp_path):
    cfg = SessionConfig(checkpoint=Path('checkpoints/pusht_default'), seeds=SEEDS)
    argv = sim_command(cfg, tmp_path)
    assert max(len(a.encode()) for a in argv) < MAX_ARG_STRLEN
    files = [Path(argv[i + 1]) for i, a in enumerate(argv) if a == '--params-file']
    assert len(files) == 2 and files[1].parent == tmp_path  # the robot's file, then this one
    (section,) = yaml.safe_load(files[1].read_text()).values()
    assert section['ros__parameters'] == {'seeds': SEEDS}
    assert not any(a.startswith('seeds:=') for a in argv)
    assert 'max_steps:=300' in argv  # the short ones stay on the command line


def test_short_seeds_stay_on_the_command_line(tmp_path):
    cfg = SessionConfig(checkpoint=Path('checkpoints/pusht_default'), seeds=[1, 2])
    assert 'seeds:=[1,2]' in sim_command(cfg, tmp_path) and not list(tmp_path.iterdir())


def test_without_a_folder_long_seeds_are_refused():
    cfg = SessionConfig(checkpoint=Path('checkpoints/pusht_default'), seeds=SEEDS)
    with pytest.raises(UserError, match='too long for a command line'):
        sim_command(cfg)


def test_the_session_removes_its_parameter_folder(monkeypatch, tmp_path):
    import dp_ros.ros.background_node as background_node
    from dp_ros.app import sim_launcher

    class FakeNode:
        def __init__(self, *args, **kwargs):
            self.node = self

        def create_subscription(self, *args, **kwargs):
            return None

        start = close = lambda self: None

    started = {}
    monkeypatch.setattr(background_node, 'BackgroundNode', FakeNode)
    monkeypatch.setattr(sim_launcher.processes, 'start_logged',
                        lambda argv, log, env: started.setdefault(log.stem, argv))
    monkeypatch.setattr(sim_launcher.processes, 'interrupt', lambda proc: None)
    monkeypatch.setattr(sim_launcher.processes, 'stop', lambda proc, **kwargs: None)
    cfg = SessionConfig(checkpoint=Path('checkpoints/pusht_default'), seeds=SEEDS,
                        log_dir=tmp_path / 'logs')
    with SimSession(cfg):
        argv = started['pusht_sim']
        params_file = Path(argv[[i for i, a in enumerate(argv) if a == '--params-file'][-1] + 1])
        assert params_file.is_file()
    assert not params_file.parent.exists()
