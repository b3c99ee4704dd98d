"""A ROS 2 machine gets dp_ros's Python packages from rosdep (package.xml's python3-* keys) and
the README's pip line; together they must cover requirements.txt, or a command fails there on
an import (found: tqdm, rosbags, pyarrow, matplotlib missing from the pip line)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from support import REPO_ROOT

# what the pip-only environment has that a ROS machine gets otherwise or does not need
NOT_FOR_COLCON = {'pytest', 'pytest-timeout', 'ruff',  # development
                  'fsspec'}  # zarr's own dependency
# rosdep python3-X keys whose pip package is named otherwise
ROSDEP_PIP = {'opencv': 'opencv-python', 'yaml': 'pyyaml'}


def requirements() -> set[str]:
    names = set()
    for line in (REPO_ROOT / 'requirements.txt').read_text().splitlines():
        line = line.split('#')[0].strip()
        if line:
            names.add(re.split(r'[\[=<>~ ]', line)[0].lower())
    return {n for n in names if not n.startswith('ros-')} - NOT_FOR_COLCON


def readme_pip_line() -> set[str]:
    text = (REPO_ROOT / 'README.md').read_text()
    section = text.split('## Building with colcon on a ROS 2 machine', 1)[1].split('\n## ', 1)[0]
    block = section.split('```bash', 1)[1].split('```', 1)[0]
    command = block.replace('\\\n', ' ')
    (line,) = [x for x in command.splitlines() if x.strip().startswith('pip install')]
    return {w.lower() for w in line.split('#')[0].split()[2:]}


def rosdep_python_keys() -> set[str]:
    root = ET.parse(REPO_ROOT / 'package.xml').getroot()
    keys = [e.text.strip() for e in root if e.tag in ('exec_depend', 'depend')]
    names = {k.removeprefix('python3-') for k in keys if k.startswith('python3-')}
    return {ROSDEP_PIP.get(n, n) for n in names}


def test_rosdep_and_the_readme_pip_line_cover_the_requirements():
    missing = requirements() - readme_pip_line() - rosdep_python_keys()
    assert not missing, f'neither package.xml nor the README pip line installs {sorted(missing)}'


def test_the_readme_pip_line_names_only_required_packages():
    extra = readme_pip_line() - requirements()
    assert not extra, f'the README pip line installs {sorted(extra)}, not in requirements.txt'
