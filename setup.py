"""ament_python setup for dp_ros.

The ROS packages (rclpy, message packages) are not listed in install_requires: on a ROS
machine they come from the ROS install and colcon must not pull PyPI copies. The pip-only
environment adds them from requirements.txt.
"""
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.install_scripts import install_scripts

PACKAGE = 'dp_ros'
CLI = 'dp-ros'  # the command line; the other scripts are ROS executables (`ros2 run`)


class InstallScripts(install_scripts):
    """colcon's layout (setup.cfg: every script in lib/dp_ros, where `ros2 run` looks) also
    gets bin/dp-ros, on the PATH `source install/setup.bash` sets, as README's commands are
    written. A wheel (pip) has its scripts in bin/ already: its install_dir is not lib/dp_ros."""

    def run(self) -> None:
        super().run()
        scripts = Path(self.install_dir)
        if scripts.parts[-2:] == ('lib', PACKAGE) and (scripts / CLI).is_file():
            bin_dir = scripts.parent.parent / 'bin'
            self.mkpath(str(bin_dir))
            self.outfiles.append(self.copy_file(str(scripts / CLI), str(bin_dir / CLI))[0])

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=['dp_ros', 'dp_ros.*', 'training', 'training.*',
                                    'sim_bridge', 'sim_bridge.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', sorted(glob('launch/*.launch.py'))),
        (f'share/{PACKAGE}/config', sorted(glob('config/*.yaml') + glob('config/*.xml'))),
        # the shipped Push-T policy, so `ros2 launch dp_ros pusht_sim.launch.py` needs no args
        (f'share/{PACKAGE}/checkpoints/pusht_default',
         sorted(glob('checkpoints/pusht_default/*'))),
    ],
    install_requires=['setuptools', 'numpy', 'pyyaml'],
    extras_require={'test': ['pytest', 'pytest-timeout', 'ruff']},
    zip_safe=True,
    cmdclass={'install_scripts': InstallScripts},
    maintainer='dp_ros developers',
    maintainer_email='dev@dp-ros.invalid',
    description='Diffusion policy as a ROS 2 node, with training and a Push-T sim bridge.',
    license='MIT',
    entry_points={
        'console_scripts': [
            'policy_node = dp_ros.app.node_executables:policy_node',
            'policy_lifecycle_node = dp_ros.app.node_executables:policy_lifecycle_node',
            'pusht_sim_node = dp_ros.app.node_executables:pusht_sim_node',
            'dp-ros = dp_ros.cli:main',
            'pusht_record_demo = sim_bridge.record_demo:main',
            'pusht_teleop = sim_bridge.teleop:main',
        ],
    },
)
