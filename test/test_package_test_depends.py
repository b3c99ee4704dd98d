"""`colcon test` on the README's ROS 2 machine gets the tools the suite runs.

The README's colcon block ends with `colcon test --packages-select dp_ros`, after rosdep's keys
(package.xml) and its pip line, and neither gave the suite its two tools: pytest-timeout
(pytest.ini's `timeout = 600`: without it no test has a time limit) and ruff (test/test_lint.py).
pytest-timeout now comes from rosdep (test_depend python3-pytest-timeout, an apt package
on Ubuntu and Debian in ros/rosdistro's rosdep/python.yaml). ruff has no such key, only a pip
one (python3-ruff-pip) that pip refuses in a system Python (PEP 668) as rosdep runs it: the
README's colcon section installs it with pip, outside its runtime pip line, which names only
what requirements.txt needs to run (test_colcon_dependencies.py).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from support import REPO_ROOT


def package_keys(*tags: str) -> set[str]:
    root = ET.parse(REPO_ROOT / 'package.xml').getroot()
    return {e.text.strip() for e in root if e.tag in tags}


def colcon_section() -> str:
    text = (REPO_ROOT / 'README.md').read_text()
    return text.split('## Building with colcon on a ROS 2 machine', 1)[1].split('\n## ', 1)[0]


def test_pytest_and_pytest_timeout_come_from_rosdep():
    assert {'python3-pytest', 'python3-pytest-timeout'} <= package_keys('test_depend', 'depend')


def test_no_rosdep_key_is_a_pip_one():
    """rosdep runs a -pip key's pip in the system Python, which PEP 668 refuses: the whole
    `rosdep install` of the README would fail."""
    keys = package_keys('depend', 'exec_depend', 'build_depend', 'test_depend')
    assert not {k for k in keys if k.endswith('-pip')}


def test_the_readme_installs_ruff_for_colcon_test():
    """ruff, which no rosdep key installs, is installed by a pip command of the section."""
    assert re.search(r'pip install [^\n`]*\bruff\b', colcon_section()), (
        "README's colcon section does not say to install ruff (pip) for colcon test")
