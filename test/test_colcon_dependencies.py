"""A ROS 2 machine gets dp_ros's Python packages from rosdep (package.xml's python3-* keys) and
the README's pip line; together they must cover requirements.txt, or a command fails there on
an import (found: tqdm, rosbags, pyarrow, matplotlib missing from the pip line)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from support import REPO_ROOT

# what the pip-only environment has that a ROS machine gets otherwise or does not need
NOT_FOR_COLCON = {'pytest', 'pytest-timeout', 'pytest-xdist', 'execnet', 'ruff',  # development
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
    words = line.split('#')[0].split()[2:]
    # the packages, not pip's options (-c keep_numpy.txt: a constraints file and its name)
    packages, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif w.startswith('-'):
            skip = w in ('-c', '--constraint', '-r', '--requirement')
        else:
            packages.append(w.lower())
    return set(packages)


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


# --- the ROS packages: package.xml's exec_depends against what the code imports ---------------
# runtime code (tests and benches run on the pip-only environment)
RUNTIME_FOLDERS = ('dp_ros', 'sim_bridge', 'training', 'launch')
# exec_depends that are no Python import: the `ros2 launch` command
NOT_IMPORTED = {'ros2launch'}
# ROS packages the code could import beside the pinned message wheels
OTHER_ROS = {'launch', 'launch_ros', 'rcl_interfaces', 'builtin_interfaces', 'ament_index_python',
             'rosidl_runtime_py', 'message_filters', 'cv_bridge', 'tf2_ros', 'tf2_msgs',
             'control_msgs', 'action_msgs', 'rclpy', 'unique_identifier_msgs'}


def imported_modules() -> set[str]:
    """The top-level names the runtime code imports."""
    import ast

    names = set()
    for folder in RUNTIME_FOLDERS:
        for path in (REPO_ROOT / folder).rglob('*.py'):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split('.')[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split('.')[0])
    return names


def ros_exec_depends() -> set[str]:
    root = ET.parse(REPO_ROOT / 'package.xml').getroot()
    return {e.text.strip() for e in root if e.tag in ('exec_depend', 'depend')
            and not e.text.strip().startswith('python3-')}


def known_ros_packages() -> set[str]:
    pinned = set()
    for line in (REPO_ROOT / 'requirements.txt').read_text().splitlines():
        name = re.split(r'[\[=<>~ ]', line.split('#')[0].strip())[0].lower()
        if name.startswith('ros-'):
            pinned.add(name.removeprefix('ros-').replace('-', '_'))
    return pinned | OTHER_ROS | ros_exec_depends()


def test_every_ros_package_the_code_imports_is_an_exec_depend():
    """rosdep installs what package.xml names: one imported and not named fails at run time
    on a ROS machine, never here (the pip environment has every wheel)."""
    missing = (imported_modules() & known_ros_packages()) - ros_exec_depends()
    assert not missing, f'imported but not in package.xml: {sorted(missing)}'


def test_every_ros_exec_depend_is_imported():
    """An exec_depend nothing imports (visualization_msgs was one) is a package rosdep
    installs for nothing."""
    unused = ros_exec_depends() - NOT_IMPORTED - imported_modules()
    assert not unused, f'in package.xml, imported nowhere: {sorted(unused)}'
