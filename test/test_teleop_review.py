"""Review tests of sim_bridge/teleop.py that need no display and no ROS graph."""
from __future__ import annotations

import sys

import pytest

from sim_bridge import teleop

pytestmark = pytest.mark.skipif(sys.platform in ('darwin', 'win32'),
                                reason='a desktop OS always has a display')


@pytest.mark.parametrize('env, expected', [
    ({'DISPLAY': ':0'}, True), ({'WAYLAND_DISPLAY': 'wayland-0'}, True), ({}, False)])
def test_either_display_variable_is_a_display(monkeypatch, env, expected):
    """X11 (DISPLAY) or Wayland (WAYLAND_DISPLAY) alone is enough for the window (Linux)."""
    for name in ('DISPLAY', 'WAYLAND_DISPLAY'):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert teleop.has_display() is expected


def test_defaults_are_the_sim_namespace_and_the_control_rate():
    """--namespace /pusht and --fps 10 (the Push-T control rate) by default."""
    args = teleop.build_parser().parse_args([])
    assert (args.namespace, args.fps) == ('/pusht', 10.0)


def test_without_a_display_main_exits_2_before_any_ros_node(monkeypatch, capsys):
    """Headless: exit code 2 and a message pointing at the headless route, no node made."""
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    assert teleop.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith('teleop: no display') and 'record_demo' in err
