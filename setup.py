"""ament_python setup for dp_ros.

The ROS packages (rclpy, message packages) are not listed in install_requires: on a ROS
machine they come from the ROS install and colcon must not pull PyPI copies. The pip-only
environment adds them from requirements.txt.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'dp_ros'

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
    maintainer='dp_ros developers',
    maintainer_email='dev@dp-ros.invalid',
    description='Diffusion policy as a ROS 2 node, with training and a Push-T sim bridge.',
    license='MIT',
    entry_points={
        'console_scripts': [
            'policy_node = dp_ros.ros.policy_node:main',
            'policy_lifecycle_node = dp_ros.ros.policy_lifecycle_node:main',
            'pusht_sim_node = sim_bridge.pusht_sim_node:main',
            'dp-ros = dp_ros.cli:main',
            'pusht_record_demo = sim_bridge.record_demo:main',
            'pusht_teleop = sim_bridge.teleop:main',
        ],
    },
)
