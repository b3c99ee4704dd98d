"""The launch files name only things that exist: executables, parameter files, parameters.

There is no `launch` package here to run them, so they are read as Python syntax trees:
every Node's executable must be a console script of setup.py, every parameter file must be in
config/, and every parameter (in the files and in the launch files' dicts) must be one the
node declares.
"""
from __future__ import annotations

import ast
import py_compile
from pathlib import Path

import pytest
import yaml
from support import REPO_ROOT, console_scripts

from dp_ros.app.sim_launcher import POLICY_PARAMS, SIM_PARAMS
from dp_ros.params import config_from_dict
from dp_ros.ros.parameters import descriptors
from dp_ros.runtime.policy_node_config import PolicyNodeConfig

LAUNCH_FILES = sorted((REPO_ROOT / 'launch').glob('*.launch.py'))
ALWAYS = {'use_sim_time'}  # every rclpy node has it


def declared_parameters(executable: str) -> set[str]:
    if executable in ('policy_node', 'policy_lifecycle_node'):  # the same parameters
        return set(descriptors(PolicyNodeConfig)) | ALWAYS
    if executable == 'pusht_sim_node':
        from sim_bridge.sim_node_config import DEPRECATED_PARAMETERS, SimNodeConfig

        return set(descriptors(SimNodeConfig)) | set(DEPRECATED_PARAMETERS) | ALWAYS
    raise AssertionError(f'no parameter list known for executable {executable}')


def kwarg(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def call_name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ''


def included_files(tree: ast.AST) -> list[str]:
    """The launch files of this package that IncludeLaunchDescription calls in `tree` name."""
    return [n.value for call in ast.walk(tree)
            if isinstance(call, ast.Call) and call_name(call) == 'IncludeLaunchDescription'
            for n in ast.walk(call)
            if isinstance(n, ast.Constant) and str(n.value).endswith('.launch.py')]


INCLUDED = {name for p in LAUNCH_FILES for name in included_files(ast.parse(p.read_text()))}
# the files a user launches; the included ones are checked as part of them
TOP_LAUNCH_FILES = [p for p in LAUNCH_FILES if p.name not in INCLUDED]


class LaunchFile:
    """A launch file's calls, with those of the files it includes (an include is not scoped:
    its arguments and environment are the includer's)."""

    def __init__(self, path: Path):
        self.path = path
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.includes = included_files(self.tree)
        self.calls = [n for n in ast.walk(self.tree) if isinstance(n, ast.Call)]
        for name in self.includes:
            assert (path.parent / name).is_file(), f'{path.name} includes missing {name}'
            self.calls += LaunchFile(path.parent / name).calls
        self.arguments = {}
        for call in self.calls:
            if call_name(call) == 'DeclareLaunchArgument':
                self.arguments[ast.literal_eval(call.args[0])] = kwarg(call, 'default_value')
        self.nodes = [c for c in self.calls if call_name(c) in ('Node', 'LifecycleNode')]
        # names assigned once (`parameters = [...]` shared by two Node calls)
        self.assigned = {t.id: n.value for n in ast.walk(self.tree) if isinstance(n, ast.Assign)
                         for t in n.targets if isinstance(t, ast.Name)}
        # `sim, policy = launch_parameter_files(checkpoint, robot)`: name -> (executable, the
        # package's parameter file it is made from)
        self.wired = {}
        for n in ast.walk(self.tree):
            if (isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                    and call_name(n.value) == 'launch_parameter_files'):
                robot = ast.literal_eval(n.value.args[1])
                sim, policy = n.targets[0].elts
                self.wired[sim.id] = ('pusht_sim_node', SIM_PARAMS[robot])
                self.wired[policy.id] = ('policy_node', POLICY_PARAMS[robot])

    def resolve(self, expr: ast.AST | None) -> ast.AST | None:
        return self.assigned.get(expr.id, expr) if isinstance(expr, ast.Name) else expr

    def yaml_name(self, expr: ast.AST) -> str | None:
        """'x.yaml' of os.path.join(config_dir, 'x.yaml'), directly or as an argument default."""
        if isinstance(expr, ast.Call) and call_name(expr) == 'join':
            last = expr.args[-1]
            if isinstance(last, ast.Constant) and str(last.value).endswith('.yaml'):
                return last.value
        if isinstance(expr, ast.Call) and call_name(expr) == 'LaunchConfiguration':
            default = self.arguments.get(ast.literal_eval(expr.args[0]))
            return None if default is None else self.yaml_name(default)
        return None


def test_there_are_launch_files():
    assert {p.name for p in LAUNCH_FILES} >= {'pusht_sim.launch.py', 'policy.launch.py'}


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / 'x.pyc'), doraise=True)
    assert any(isinstance(n, ast.FunctionDef) and n.name == 'generate_launch_description'
               for n in ast.parse(path.read_text()).body)


def test_the_dds_profile_is_one_included_file():
    assert INCLUDED == {'fast_dds_profile.launch.py'}
    for path in TOP_LAUNCH_FILES:
        assert LaunchFile(path).includes == ['fast_dds_profile.launch.py'], path.name


@pytest.mark.parametrize('path', TOP_LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_declares_its_arguments(path):
    launch = LaunchFile(path)
    assert {'checkpoint', 'mode', 'device', 'dds_profile'} <= set(launch.arguments)
    used = {ast.literal_eval(c.args[0]) for c in launch.calls
            if call_name(c) == 'LaunchConfiguration'}
    undeclared = used - set(launch.arguments)
    assert not undeclared, f'undeclared launch arguments {undeclared}'


@pytest.mark.parametrize('path', TOP_LAUNCH_FILES, ids=lambda p: p.name)
def test_nodes_name_existing_executables_files_and_parameters(path):
    launch = LaunchFile(path)
    scripts = console_scripts()
    assert launch.nodes, f'{path.name} starts no node'
    for node in launch.nodes:
        assert ast.literal_eval(kwarg(node, 'package')) == 'dp_ros'
        executable = ast.literal_eval(kwarg(node, 'executable'))
        assert executable in scripts, f'{executable} is not a console script of setup.py'
        declared = declared_parameters(executable)
        params = launch.resolve(kwarg(node, 'parameters'))
        assert isinstance(params, ast.List)
        files = []
        for item in params.elts:
            if isinstance(item, ast.Dict):
                keys = {ast.literal_eval(k) for k in item.keys}
                assert keys <= declared, f'{executable}: undeclared {keys - declared}'
            elif isinstance(item, ast.Name) and item.id in launch.wired:
                wired_executable, name = launch.wired[item.id]
                assert wired_executable == executable, f'{path.name}: {item.id} is not for ' \
                                                       f'{executable}'
                files.append(name)
            else:
                name = launch.yaml_name(item)
                assert name is not None, f'{path.name}: cannot tell the parameter file of ' \
                                         f'{ast.unparse(item)}'
                files.append(name)
        assert files, f'{executable} in {path.name} gets no parameter file'
        for name in files:
            check_parameter_file(REPO_ROOT / 'config' / name, executable,
                                 ast.literal_eval(kwarg(node, 'name')))


def check_parameter_file(path: Path, executable: str, node_name: str) -> None:
    assert path.is_file(), f'{path} does not exist'
    data = yaml.safe_load(path.read_text())
    sections = {k.lstrip('/').split('/')[-1] if k != '/**' else '/**': v
                for k, v in data.items()}
    assert node_name in sections or '/**' in sections, \
        f'{path.name} has no section for node {node_name} (has {list(data)})'
    params = (sections.get(node_name) or sections['/**'])['ros__parameters']
    declared = declared_parameters(executable)
    unknown = set(params) - declared
    assert not unknown, f'{path.name}: {executable} does not declare {sorted(unknown)}'


def test_policy_launch_starts_one_of_the_two_policy_nodes_under_the_nodes_name():
    from dp_ros.ros.policy_node import NODE_NAME

    launch = LaunchFile(REPO_ROOT / 'launch' / 'policy.launch.py')
    conditions = {ast.literal_eval(kwarg(n, 'executable')): ast.unparse(kwarg(n, 'condition'))
                  for n in launch.nodes}
    assert conditions == {'policy_node': "UnlessCondition(managed)",
                          'policy_lifecycle_node': "IfCondition(managed)"}
    assert {ast.literal_eval(kwarg(n, 'name')) for n in launch.nodes} == {NODE_NAME}
    assert ast.literal_eval(launch.assigned['NODE']) == '/' + NODE_NAME  # transitions' target
    # by default a managed launch loads the policy but does not move the arm
    assert ast.literal_eval(launch.arguments['autostart']) == 'configure'


@pytest.mark.parametrize('name', ['policy_pusht.yaml', 'policy_pusht_arm.yaml',
                                  'policy_example_arm.yaml'])
def test_policy_parameter_files_are_valid_configs(name):
    """Every key is declared and its value passes the node's own type checks."""
    check_parameter_file(REPO_ROOT / 'config' / name, 'policy_node', 'dp_policy')
    params = yaml.safe_load((REPO_ROOT / 'config' / name).read_text())['/**/dp_policy'][
        'ros__parameters']
    params.pop('use_sim_time', None)
    cfg = config_from_dict(PolicyNodeConfig, params)
    assert len(cfg.action_lower) == len(cfg.action_upper) == len(cfg.action_joint_names)


def test_descriptors_describe_every_parameter():
    described = descriptors(PolicyNodeConfig)
    assert all(d.description for d in described.values())
    assert described['max_input_age_s'].floating_point_range[0].from_value > 0
    assert described['num_inference_steps'].integer_range[0].to_value >= 100


# --- the Fast DDS profile for full-size images -----------------------------------------------

DDS_PROFILE = REPO_ROOT / 'config' / 'fastdds_large_data.xml'
DDS_VARS = {'FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE'}


def test_the_shipped_dds_profile_puts_a_640x480_frame_through_shared_memory():
    import xml.etree.ElementTree as ET

    ns = {'d': 'http://www.eprosima.com'}
    root = ET.parse(DDS_PROFILE).getroot()
    shm = [t for t in root.iterfind('.//d:transport_descriptor', ns)
           if t.findtext('d:type', namespaces=ns) == 'SHM']
    assert shm and int(shm[0].findtext('d:segment_size', namespaces=ns)) >= 8 * 640 * 480 * 3
    participant = root.find('.//d:participant', ns)
    assert participant.get('is_default_profile') == 'true'
    used = [t.text for t in participant.iterfind('.//d:userTransports/d:transport_id', ns)]
    assert shm[0].findtext('d:transport_id', namespaces=ns) in used and len(used) == 2
    assert participant.findtext('.//d:useBuiltinTransports', namespaces=ns) == 'false'


@pytest.mark.parametrize('path', TOP_LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_set_the_dds_profile(path):
    launch = LaunchFile(path)
    set_vars = {ast.literal_eval(c.args[0]) for c in launch.calls
                if call_name(c) == 'SetEnvironmentVariable'}
    assert set_vars == DDS_VARS
    default = ast.unparse(launch.arguments['dds_profile'])
    assert DDS_PROFILE.name in default and all(v in default for v in DDS_VARS)


def test_launch_and_dp_ros_sim_know_the_same_fast_dds_2_distros():
    from dp_ros.app.sim_launcher import FAST_DDS_2_DISTROS

    tree = ast.parse((REPO_ROOT / 'launch' / 'fast_dds_profile.launch.py').read_text())
    assigned = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                for t in n.targets}
    assert assigned['FAST_DDS_2_DISTROS'] == FAST_DDS_2_DISTROS


def test_dp_ros_sim_gives_its_nodes_the_profile_unless_one_is_set():
    from dp_ros.app.sim_launcher import node_environment

    env = node_environment({'PATH': '/bin'})
    assert Path(env['FASTDDS_DEFAULT_PROFILES_FILE']) == DDS_PROFILE
    assert 'FASTRTPS_DEFAULT_PROFILES_FILE' not in env  # Fast DDS 3 warns about the old name
    assert env['PATH'] == '/bin' and env['PYTHONUNBUFFERED'] == '1'
    jazzy = node_environment({'ROS_DISTRO': 'jazzy'})  # Fast DDS 2 reads only the old name
    assert {jazzy[v] for v in DDS_VARS} == {str(DDS_PROFILE)}
    # the caller's profile under either name, as fast_dds_profile.launch.py takes it
    mine = node_environment({'FASTRTPS_DEFAULT_PROFILES_FILE': '/etc/my.xml'})
    assert {mine[v] for v in DDS_VARS} == {'/etc/my.xml'}
    # defect: on a Fast DDS 2 distro a profile named only by the new name reached no node
    humble = node_environment({'ROS_DISTRO': 'humble', 'FASTDDS_DEFAULT_PROFILES_FILE': '/my.xml'})
    assert {humble[v] for v in DDS_VARS} == {'/my.xml'}


def test_dp_ros_sim_overrides_keep_names_that_yaml_reads_as_booleans():
    # a pose field y (or a joint named on, n) in a -p override: YAML 1.1 reads the bare word
    # as a boolean and rcl refuses the list ("Sequence should be of same type")
    import yaml

    from dp_ros.app.sim_launcher import SessionConfig, policy_command

    cfg = SessionConfig(checkpoint=Path('/tmp/policy'), seeds=[7], policy_overrides={
        'state_joint_names': ['x', 'y', 'on'], 'frame_id': "it's n", 'action_lower': [0, -1.5]})
    args = policy_command(cfg)
    values = dict(a.split(':=', 1) for a in args if ':=' in a)
    parsed = {k: yaml.safe_load(v) for k, v in values.items()}
    assert parsed['state_joint_names'] == ['x', 'y', 'on']
    assert parsed['frame_id'] == "it's n" and parsed['checkpoint'] == '/tmp/policy'
    assert parsed['lockstep'] is True and parsed['env_seed'] == 7
    assert parsed['action_lower'] == [0, -1.5]


# --- the sim launch files wire what the checkpoint acts on, as dp-ros sim does ---------------

SIM_LAUNCH_FILES = {'pusht_sim.launch.py': 'point', 'pusht_arm_sim.launch.py': 'arm'}


@pytest.mark.parametrize('name', SIM_LAUNCH_FILES)
def test_sim_launch_files_take_their_parameters_from_launch_parameter_files(name):
    launch = LaunchFile(REPO_ROOT / 'launch' / name)
    robot = SIM_LAUNCH_FILES[name]
    firsts = {ast.literal_eval(kwarg(n, 'executable')):
              launch.wired.get(launch.resolve(kwarg(n, 'parameters')).elts[0].id)
              for n in launch.nodes}
    assert firsts == {'pusht_sim_node': ('pusht_sim_node', SIM_PARAMS[robot]),
                      'policy_node': ('policy_node', POLICY_PARAMS[robot])}


def section(name: str) -> dict:
    (only,) = yaml.safe_load((REPO_ROOT / 'config' / name).read_text()).values()
    return only['ros__parameters']


def test_launch_parameters_of_a_joint_policy_are_the_parameter_files():
    from dp_ros.app.sim_launcher import launch_parameters

    sim, policy = launch_parameters(REPO_ROOT / 'checkpoints' / 'pusht_default', 'point')
    assert sim == section(SIM_PARAMS['point']) and policy == section(POLICY_PARAMS['point'])


def test_launch_parameters_of_a_cartesian_policy_wire_the_pose_topics(tmp_path):
    from support import make_tiny_pose_checkpoint

    from dp_ros.app.sim_launcher import cartesian_overrides, launch_parameters
    from dp_ros.policy.checkpoint import read_policy_metadata
    from dp_ros.runtime.policy_node_config import resolve_setup

    checkpoint = make_tiny_pose_checkpoint(tmp_path / 'pose', state='pose')
    sim, policy = launch_parameters(checkpoint, 'arm')
    wired_sim, wired_policy = cartesian_overrides(read_policy_metadata(checkpoint))
    assert sim == {**section(SIM_PARAMS['arm']), **wired_sim}
    assert policy == {**section(POLICY_PARAMS['arm']), **wired_policy}
    # the joints' bounds, emptied for pose fields: in a parameter file an empty list leaves
    # the node's default, empty too
    emptied = {k for k, v in wired_policy.items() if v == []}
    assert emptied == {'action_lower', 'action_upper', 'max_step_delta'}
    assert all(getattr(PolicyNodeConfig(), k) == [] for k in emptied)
    assert set(policy) <= declared_parameters('policy_node')
    assert set(sim) <= declared_parameters('pusht_sim_node')
    # the node takes them for this checkpoint without a warning
    cfg = config_from_dict(PolicyNodeConfig, dict(policy, checkpoint=str(checkpoint),
                                                  device='cpu'))
    assert resolve_setup(cfg, read_policy_metadata(checkpoint)).warnings == []


def test_launch_parameters_name_a_missing_checkpoint(tmp_path):
    from dp_ros.app.sim_launcher import launch_parameters
    from dp_ros.policy.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match='nothing'):
        launch_parameters(tmp_path / 'nothing', 'arm')
