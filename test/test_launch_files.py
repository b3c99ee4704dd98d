"""The launch files name only things that exist: executables, parameter files, parameters.

There is no `launch` package here to run them, so they are read as Python syntax trees:
every Node's executable must be a console script of setup.py, every parameter file must be in
config/, and every parameter (in the files and in the launch files' dicts) must be one the
node declares. A few of their functions run here alone, the launch library's classes stubbed
(launch_function): which parameters the arguments set, the Fast DDS profile's variables.
test/ros/test_launch_run.py runs the files with the real launch library.
"""
from __future__ import annotations

import ast
import py_compile
from pathlib import Path
from types import SimpleNamespace

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


# how the launch files read their arguments: LaunchConfiguration('x'), or in an
# OpaqueFunction arguments['x'] / arguments.get('x') of arguments = context.launch_configurations
ARGUMENT_MAPS = {'arguments', 'context.launch_configurations'}


def argument_name(expr: ast.AST) -> str | None:
    """'x' of LaunchConfiguration('x'), arguments['x'] or arguments.get('x'), else None."""
    if isinstance(expr, ast.Call) and call_name(expr) == 'LaunchConfiguration':
        return ast.literal_eval(expr.args[0])
    if (isinstance(expr, ast.Subscript) and ast.unparse(expr.value) in ARGUMENT_MAPS
            and isinstance(expr.slice, ast.Constant)):
        return expr.slice.value
    if (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == 'get' and ast.unparse(expr.func.value) in ARGUMENT_MAPS):
        return ast.literal_eval(expr.args[0])
    return None


def launch_function(path: Path, name: str, **names):
    """The module-level function `name` of a launch file, compiled alone with `names` as its
    globals (stubs of the launch library's classes: there is none here to import)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert found, f'{path.name} has no function {name}'
    namespace = dict(names)
    exec(compile(ast.Module(body=found, type_ignores=[]), str(path), 'exec'), namespace)
    return namespace[name]


def parameter_value(value, value_type=None):
    """Stands for launch_ros's ParameterValue."""
    return SimpleNamespace(value=value, value_type=value_type)


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
        self.functions = {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}
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
        argument = argument_name(expr)
        if argument is not None:
            default = self.arguments.get(argument)
            return None if default is None else self.yaml_name(default)
        return None

    def set_keys(self, function: str) -> set[str]:
        """The parameters a function of the file sets: params['x'] = ... and {'x': ...}."""
        keys = set()
        for n in ast.walk(self.functions[function]):
            targets = n.targets if isinstance(n, ast.Assign) else []
            keys |= {t.slice.value for t in targets
                     if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant)}
            if isinstance(n, ast.Dict):
                keys |= {ast.literal_eval(k) for k in n.keys}
        return keys


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
    used = {argument_name(n) for n in ast.walk(launch.tree)} - {None}
    assert used, f'{path.name} reads none of its arguments'
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
            elif (isinstance(item, ast.Call) and isinstance(item.func, ast.Name)
                  and item.func.id in launch.functions):  # overrides(arguments)
                keys = launch.set_keys(item.func.id)
                assert keys and keys <= declared, f'{executable}: undeclared {keys - declared}'
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
                                 ast.literal_eval(launch.resolve(kwarg(node, 'name'))))


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


POLICY_LAUNCH = REPO_ROOT / 'launch' / 'policy.launch.py'


def test_policy_launch_starts_one_of_the_two_policy_nodes_under_the_nodes_name():
    from dp_ros.ros.policy_node import NODE_NAME

    launch = LaunchFile(POLICY_LAUNCH)
    assert {ast.literal_eval(kwarg(n, 'executable')) for n in launch.nodes} == {
        'policy_node', 'policy_lifecycle_node'}
    assert {ast.unparse(kwarg(n, 'name')) for n in launch.nodes} == {'NODE_NAME'}
    assert ast.literal_eval(launch.assigned['NODE_NAME']) == NODE_NAME
    # by default a managed launch loads the policy but does not move the arm
    assert ast.literal_eval(launch.arguments['autostart']) == 'configure'


def test_policy_launch_sends_the_transitions_to_its_node_under_any_namespace():
    # defect: LifecycleTransition(lifecycle_node_names=['/dp_policy']) matched no node under
    # a pushed namespace (/r1/dp_policy): it stayed unconfigured, silently
    launch = LaunchFile(POLICY_LAUNCH)
    names = {call_name(c) for c in launch.calls}
    assert 'LifecycleTransition' not in names
    assert 'lifecycle_node_names' not in {k.arg for c in launch.calls for k in c.keywords}
    (lifecycle,) = [n for n in ast.walk(launch.tree) if isinstance(n, ast.Assign)
                    and isinstance(n.value, ast.Call) and call_name(n.value) == 'LifecycleNode']
    node = lifecycle.targets[0].id
    changes = [c for c in launch.calls if call_name(c) == 'ChangeState']
    assert {ast.unparse(kwarg(c, 'transition_id')) for c in changes} == {
        'Transition.TRANSITION_CONFIGURE', 'Transition.TRANSITION_ACTIVATE'}
    for change in changes:  # the very action the launch started
        assert ast.unparse(kwarg(change, 'lifecycle_node_matcher')) == f'matches_action({node})'
    (on_configured,) = [c for c in launch.calls if call_name(c) == 'OnStateTransition']
    assert ast.unparse(kwarg(on_configured, 'target_lifecycle_node')) == node
    # activate once, after the launch's configure: not after a later deactivate (a hold)
    assert ast.literal_eval(kwarg(on_configured, 'start_state')) == 'configuring'
    assert ast.literal_eval(kwarg(on_configured, 'goal_state')) == 'inactive'
    assert ast.literal_eval(kwarg(on_configured, 'handle_once')) is True
    assert 'ChangeState' in ast.unparse(kwarg(on_configured, 'entities'))


OVERRIDE_ARGUMENTS = ('checkpoint', 'device', 'mode', 'use_sim_time')


def policy_overrides():
    return launch_function(POLICY_LAUNCH, 'overrides', ParameterValue=parameter_value)


def plain(params: dict) -> dict:
    return {k: (v.value, v.value_type) if isinstance(v, SimpleNamespace) else v
            for k, v in params.items()}


def test_policy_launch_arguments_left_out_leave_the_parameter_file_its_values():
    # defect: the dict after params_file always set device (auto), lockstep and use_sim_time
    # (false: mode's default realtime) and required checkpoint:=, so the file's never applied
    launch = LaunchFile(POLICY_LAUNCH)
    for name in OVERRIDE_ARGUMENTS:
        assert ast.literal_eval(launch.arguments[name]) == '', name
    overrides = policy_overrides()
    defaults = {name: ast.literal_eval(launch.arguments[name]) for name in OVERRIDE_ARGUMENTS}
    assert overrides(defaults) == {} and overrides({}) == {}


@pytest.mark.parametrize('given, expected', [
    ({'checkpoint': '/data/run #3'}, {'checkpoint': ('/data/run #3', str)}),
    ({'checkpoint': '2024-05-01', 'device': 'yes'},
     {'checkpoint': ('2024-05-01', str), 'device': ('yes', str)}),
    ({'mode': 'lockstep'}, {'lockstep': True, 'use_sim_time': True}),
    ({'mode': 'realtime'}, {'lockstep': False, 'use_sim_time': False}),
    ({'mode': 'lockstep', 'use_sim_time': 'false'}, {'lockstep': True, 'use_sim_time': False}),
    ({'use_sim_time': 'True'}, {'use_sim_time': True}),
])
def test_policy_launch_arguments_given_override_the_file_as_strings(given, expected):
    # defect: raw text went through launch_ros's YAML reading ('/data/run #3' -> '/data/run',
    # 'yes' -> true, '2024-05-01' -> a date)
    assert plain(policy_overrides()(dict(given))) == expected


def test_policy_launch_passes_the_file_then_the_overrides():
    launch = LaunchFile(POLICY_LAUNCH)
    parameters = launch.resolve(kwarg(launch.nodes[0], 'parameters'))
    assert [ast.unparse(e) for e in parameters.elts] == [
        "arguments['params_file']", 'overrides(arguments)']  # the later source wins
    assert launch.set_keys('overrides') == {'checkpoint', 'device', 'lockstep', 'use_sim_time'}
    for node in launch.nodes:
        assert kwarg(node, 'emulate_tty') is None  # ANSI colour codes in log files


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


DDS_LAUNCH = REPO_ROOT / 'launch' / 'fast_dds_profile.launch.py'


@pytest.mark.parametrize('path', TOP_LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_set_the_dds_profile(path):
    launch = LaunchFile(path)
    # which variables, and to what: dp_ros.app.sim_launcher.dds_profile_variables (below)
    assert 'SetEnvironmentVariable' in {call_name(c) for c in launch.calls}
    assert ast.literal_eval(launch.arguments['dds_profile']) == ''  # '': the rule below
    # the environment's value is node_environment's to judge, not EnvironmentVariable's
    # (which takes a variable set but empty as a choice: the nodes got '')
    assert 'EnvironmentVariable' not in {call_name(c) for c in launch.calls}


def launch_dds_variables(environment: dict[str, str], dds_profile: str = '') -> dict[str, str]:
    """What fast_dds_profile.launch.py sets, run with `environment` as the launch's (the
    package's share: this checkout)."""
    set_variables = launch_function(DDS_LAUNCH, 'profile_variables',
                                    SetEnvironmentVariable=lambda name, value: (name, value))
    context = SimpleNamespace(environment=environment,
                              launch_configurations={'dds_profile': dds_profile})
    return dict(set_variables(context))


@pytest.mark.parametrize('environment, dds_profile, expected', [
    ({}, '', {'FASTDDS_DEFAULT_PROFILES_FILE': 'shipped'}),
    # defect: a variable set but empty was taken as a choice and the nodes got ''
    ({'FASTDDS_DEFAULT_PROFILES_FILE': ''}, '', {'FASTDDS_DEFAULT_PROFILES_FILE': 'shipped'}),
    ({'FASTDDS_DEFAULT_PROFILES_FILE': '', 'FASTRTPS_DEFAULT_PROFILES_FILE': ''}, '',
     {'FASTDDS_DEFAULT_PROFILES_FILE': 'shipped'}),
    ({'FASTDDS_DEFAULT_PROFILES_FILE': '', 'FASTRTPS_DEFAULT_PROFILES_FILE': '/etc/my.xml'}, '',
     {'FASTDDS_DEFAULT_PROFILES_FILE': '/etc/my.xml'}),
    ({'FASTDDS_DEFAULT_PROFILES_FILE': '/etc/my.xml'}, '',
     {'FASTDDS_DEFAULT_PROFILES_FILE': '/etc/my.xml'}),
    ({'FASTDDS_DEFAULT_PROFILES_FILE': '/etc/my.xml'}, '/mine.xml',
     {'FASTDDS_DEFAULT_PROFILES_FILE': '/mine.xml'}),
    ({'ROS_DISTRO': 'jazzy', 'FASTDDS_DEFAULT_PROFILES_FILE': ''}, '',
     {v: 'shipped' for v in DDS_VARS}),
    ({'ROS_DISTRO': 'jazzy', 'FASTRTPS_DEFAULT_PROFILES_FILE': ''}, '',
     {v: 'shipped' for v in DDS_VARS}),
    ({'ROS_DISTRO': 'humble'}, '/mine.xml', {v: '/mine.xml' for v in DDS_VARS}),
])
def test_the_dds_profile_launch_follows_dp_ros_sims_rule(environment, dds_profile, expected):
    from dp_ros.app.sim_launcher import node_environment

    expected = {k: str(DDS_PROFILE) if v == 'shipped' else v for k, v in expected.items()}
    assert launch_dds_variables(environment, dds_profile) == expected
    # the nodes' variables (what the launch sets over what they inherit) are those that
    # node_environment gives `dp-ros sim`'s nodes (dds_profile:= as the caller's choice)
    nodes = {**environment, **expected}
    chosen = dict(environment, FASTDDS_DEFAULT_PROFILES_FILE=dds_profile) if dds_profile \
        else environment
    sim = node_environment(chosen)
    assert {v: nodes.get(v) for v in DDS_VARS} == {v: sim.get(v) for v in DDS_VARS}


def test_launch_and_dp_ros_sim_know_the_same_fast_dds_2_distros():
    # one rule: the launch file takes dp-ros sim's, distros and variable names included
    launch = LaunchFile(DDS_LAUNCH)
    imported = {a.name for n in ast.walk(launch.tree) if isinstance(n, ast.ImportFrom)
                and n.module == 'dp_ros.app.sim_launcher' for a in n.names}
    assert imported == {'dds_profile_variables'}
    assert not {'FAST_DDS_2_DISTROS', 'PROFILE_VARIABLES'} & set(launch.assigned)


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


@pytest.mark.parametrize('path', TOP_LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_arguments_reach_the_nodes_as_strings(path):
    # defect: launch_ros reads a plain parameter value as YAML: checkpoint:='/data/run #3'
    # reached the node as '/data/run', device:=yes as true, a dated directory as a date
    launch = LaunchFile(path)
    wrapped = [c for c in launch.calls if call_name(c) == 'ParameterValue']
    assert wrapped, f'{path.name} passes no argument as a ParameterValue'
    for call in wrapped:
        assert ast.unparse(kwarg(call, 'value_type')) == 'str', ast.unparse(call)
    for node in launch.nodes:
        for item in launch.resolve(kwarg(node, 'parameters')).elts:
            for key, value in zip(getattr(item, 'keys', []), getattr(item, 'values', []),
                                  strict=True):
                value = launch.resolve(value)  # lockstep = mode == 'lockstep': a bool
                assert (isinstance(value, (ast.Compare, ast.Constant))
                        or call_name(value) == 'ParameterValue'), \
                    f'{path.name}: {ast.literal_eval(key)}: {ast.unparse(value)} goes as YAML'


@pytest.mark.parametrize('name', SIM_LAUNCH_FILES)
def test_sim_launch_files_end_when_a_node_exits(name):
    # defect: the policy node died (device:=cuda without CUDA: exit 2) and the sim ran on
    # until killed; `dp-ros sim` stops, "a node died". And the launch then exited 0: a node's
    # failure now fails it (sim_launcher.ends_the_launch: check, then Shutdown)
    launch = LaunchFile(REPO_ROOT / 'launch' / name)
    assert len(launch.nodes) == 2
    for node in launch.nodes:
        assert call_name(kwarg(node, 'on_exit')) == 'ends_the_launch', ast.unparse(node)


@pytest.mark.parametrize('name', SIM_LAUNCH_FILES)
def test_sim_launch_files_put_the_sim_where_the_policys_topics_are(name):
    # defect: the sim's namespace was relative ('pusht'), the policy's topics absolute
    # ('/pusht/...'): under a pushed namespace (/r1/pusht/...) the policy got no data
    from dp_ros.app.sim_launcher import SIM_NAMESPACE, launch_parameters

    launch = LaunchFile(REPO_ROOT / 'launch' / name)
    (sim,) = [n for n in launch.nodes if ast.literal_eval(kwarg(n, 'executable'))
              == 'pusht_sim_node']
    assert ast.unparse(kwarg(sim, 'namespace')) == 'SIM_NAMESPACE'
    assert SIM_NAMESPACE.startswith('/')  # a pushed namespace leaves it be
    _, policy = launch_parameters(REPO_ROOT / 'checkpoints' / 'pusht_default',
                                  SIM_LAUNCH_FILES[name])
    topics = [v for k, v in policy.items() if k.endswith('_topic') and v]
    topics += [t for k, v in policy.items() if k.endswith('_topics') and isinstance(v, list)
               for t in v]
    assert topics and all(t.startswith(SIM_NAMESPACE + '/') for t in topics), topics


@pytest.mark.parametrize('name', SIM_LAUNCH_FILES)
def test_sim_launch_files_remove_their_parameter_files_when_the_launch_ends(name):
    # defect: a /tmp/dp_ros_launch_* directory was left behind by every launch
    launch = LaunchFile(REPO_ROOT / 'launch' / name)
    (handler,) = [c for c in launch.calls if call_name(c) == 'OnShutdown']
    removal = ast.unparse(handler)
    assert 'shutil.rmtree(sim_params.parent' in removal
    (wired,) = [n.value for n in ast.walk(launch.tree) if isinstance(n, ast.Assign)
                and isinstance(n.value, ast.Call)
                and call_name(n.value) == 'launch_parameter_files']
    assert len(wired.args) == 2  # no directory given: a new one of its own


def test_launch_parameter_files_write_nothing_for_a_missing_checkpoint(tmp_path, monkeypatch):
    import tempfile

    from dp_ros.app.sim_launcher import launch_parameter_files
    from dp_ros.policy.checkpoint import CheckpointError

    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    with pytest.raises(CheckpointError):
        launch_parameter_files(tmp_path / 'nothing', 'arm')
    assert list(tmp_path.iterdir()) == []  # no directory for the launch file to remove
    sim, policy = launch_parameter_files(REPO_ROOT / 'checkpoints' / 'pusht_default', 'point')
    assert sim.parent == policy.parent and sim.parent.parent == tmp_path
    assert sim.parent.name.startswith('dp_ros_launch_')


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

    with pytest.raises(CheckpointError, match='nothing') as raised:
        launch_parameters(tmp_path / 'nothing', 'arm')
    # the launch files' argument, not the command line's option of `dp-ros sim`
    assert 'checkpoint:=DIR' in str(raised.value) and '--checkpoint' not in str(raised.value)


def test_dp_ros_sim_names_its_own_option_for_a_missing_checkpoint(tmp_path):
    from dp_ros.app.sim_launcher import resolve_checkpoint
    from dp_ros.policy.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match='or pass --checkpoint DIR$'):
        resolve_checkpoint(tmp_path / 'nothing')


# --- package.xml: what rosdep installs for the nodes and the launch files ---------------------

# the rosdep keys of Python packages here, each checked in ros/rosdistro's rosdep/python.yaml
# (a key that rosdep cannot resolve fails `rosdep install` for everyone). safetensors and
# pymunk have none; gymnasium only a pip key, which pip refuses in a system Python (PEP 668);
# python3-torch is the distribution's CPU build: pip installs torch (a CUDA one on a GPU)
ROSDEP_PYTHON_KEYS = {'python3-numpy', 'python3-opencv', 'python3-yaml',
                      'python3-shapely', 'python3-pygame', 'python3-pytest',
                      'python3-pytest-timeout'}
ROS_MODULE_SUFFIXES = ('_msgs', '_srvs', '_interfaces')
ROS_MODULES = {'rclpy', 'launch', 'launch_ros', 'ament_index_python'}


def package_dependencies(tag: str) -> set[str]:
    import xml.etree.ElementTree as ET

    root = ET.parse(REPO_ROOT / 'package.xml').getroot()
    return {e.text.strip() for e in root.iter(tag)}


def imported_top_modules(paths) -> set[str]:
    found = set()
    for path in paths:
        for n in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(n, ast.Import):
                found |= {a.name.split('.')[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
                found.add(n.module.split('.')[0])
    return found


def test_package_xml_names_every_ros_package_the_code_imports():
    # defect: rcl_interfaces (dp_ros/ros/parameters.py, the sim node) was missing
    sources = [p for d in ('dp_ros', 'sim_bridge', 'launch') for p in (REPO_ROOT / d).rglob('*.py')]
    ros = {m for m in imported_top_modules(sources)
           if m in ROS_MODULES or m.endswith(ROS_MODULE_SUFFIXES)}
    assert {'rcl_interfaces', 'lifecycle_msgs', 'launch_ros'} <= ros
    missing = ros - package_dependencies('exec_depend')
    assert not missing, f'package.xml lacks <exec_depend> {sorted(missing)}'


def test_package_xml_depends_on_ros2launch_for_its_launch_files():
    # the `ros2 launch` command: ROS's docs ask it of a package that ships launch files
    assert LAUNCH_FILES and 'ros2launch' in package_dependencies('exec_depend')


def test_package_xml_python_keys_are_rosdep_keys():
    keys = {k for k in package_dependencies('exec_depend') | package_dependencies('test_depend')
            if k.startswith('python3-')}
    assert keys == ROSDEP_PYTHON_KEYS
    assert {'python3-shapely', 'python3-pygame'} <= keys  # the sim
    assert 'python3-torch' not in keys  # a CPU build that would stand in for a CUDA one
