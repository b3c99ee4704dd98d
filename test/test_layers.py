"""The layers import one way only (README "Layers"): every import of every module, including
those inside functions and importlib.import_module of a constant name, is checked against the
table below, and the module graph has no cycle. Importing a module runs its packages'
__init__.py too, so those are imported as well; package roots are checked as every module is.

A planted wrong-way import and a planted cycle must make the checker fail, so this test cannot
pass by accident (e.g. by finding no module at all).
"""
from __future__ import annotations

import ast
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ('dp_ros', 'training', 'sim_bridge')

# layer -> module prefixes, most specific first wins (see layer_of)
LAYERS: dict[str, tuple[str, ...]] = {
    'base': ('dp_ros.atomic_dir', 'dp_ros.dimension_names', 'dp_ros.errors',
             'dp_ros.held_signals', 'dp_ros.image_fit', 'dp_ros.image_header', 'dp_ros.jpeg_decode',
             'dp_ros.params', 'dp_ros.pose_fields', 'dp_ros.recorded_sources',
             'dp_ros.safe_yaml', 'dp_ros.selection', 'dp_ros.stamps'),
    'policy': ('dp_ros.policy',),
    'runtime': ('dp_ros.runtime',),
    'ros': ('dp_ros.ros',),
    'bags': ('dp_ros.bags',),
    'sim': ('sim_bridge',),
    'training': ('training',),
    'app': ('dp_ros.app', 'dp_ros.cli'),
}
# package roots under no layer's prefix -> their layer: every import of a module of the
# package runs them first, so they may import no more than the lowest layer in it
ROOT_LAYERS: dict[str, str] = {'dp_ros': 'base'}
# layer -> the layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    'base': set(),
    'policy': {'base'},
    'runtime': {'base', 'policy'},
    'ros': {'base', 'policy', 'runtime'},
    'bags': {'base', 'ros'},  # message conversions only; never the policy
    'sim': {'base', 'ros', 'bags'},  # never the policy or training
    'training': {'base', 'policy', 'runtime', 'bags', 'sim'},
    'app': {'base', 'policy', 'runtime', 'ros', 'bags', 'sim', 'training'},
}
# layers that must run where no ROS client library is installed (not even through an import)
NO_RCLPY = {'base', 'policy', 'runtime', 'bags', 'training'}


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def collect_modules(root: Path) -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob('*.py')):
            mods[module_name(path, root)] = path
    return mods


def _import_module_name(node: ast.Call, package: str) -> str | None:
    """The module a call importlib.import_module('name') (or import_module('name'), or a
    relative '.name' with its package given as a constant) imports; None for any other call
    or a name computed at run time."""
    func = node.func
    named = (isinstance(func, ast.Attribute) and func.attr == 'import_module'
             and isinstance(func.value, ast.Name) and func.value.id == 'importlib'
             or isinstance(func, ast.Name) and func.id == 'import_module')
    if not named or not node.args:
        return None
    arg = node.args[0]
    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
        return None
    if not arg.value.startswith('.'):
        return arg.value
    given = node.args[1] if len(node.args) > 1 else next(
        (k.value for k in node.keywords if k.arg == 'package'), None)
    if isinstance(given, ast.Name) and given.id == '__package__':
        given = ast.Constant(package)
    if not (isinstance(given, ast.Constant) and isinstance(given.value, str)):
        return None
    return importlib.util.resolve_name(arg.value, given.value)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement anywhere in the file, and every
    importlib.import_module of a constant name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if (imported := _import_module_name(node, package)) is not None:
                out.append((imported, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = '.'.join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from pkg import module` imports pkg.module
                sub = f'{base}.{alias.name}'
                out.append((sub if sub in modules else base, node.lineno))
    return out


def layer_of(module: str) -> str | None:
    if module in ROOT_LAYERS:
        return ROOT_LAYERS[module]
    best, best_len = None, -1
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + '.')) and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


def packages_run(module: str, importer: str, modules: dict[str, Path]) -> list[str]:
    """The packages (their __init__.py) an import of `module` runs as well: each one above
    it, except the importer's own, which ran before the importer did."""
    parts = module.split('.')
    parents = ['.'.join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
    return [p for p in parents if p in modules
            and not (importer == p or importer.startswith(p + '.'))]


def check_layers(root: Path) -> list[str]:
    """Every violation, as a line naming the file, the import and the rule it breaks."""
    modules = collect_modules(root)
    problems = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    uses_rclpy = set()
    for name, path in modules.items():
        src_layer = layer_of(name)
        for target, line in imports_of(name, path, modules):
            where = f'{path.relative_to(root)}:{line}'
            if target.split('.')[0] == 'rclpy':
                uses_rclpy.add(name)
            if target.split('.')[0] not in PACKAGES:
                continue
            dst = target
            while dst and dst not in modules:
                dst = dst.rpartition('.')[0]
            if not dst:
                problems.append(f'{where}: imports {target}, which is no module of this tree')
                continue
            run = [dst, *packages_run(dst, name, modules)]
            graph[name].update(m for m in run if m != name)
            if src_layer is None:
                problems.append(f'{where}: module {name} belongs to no layer')
                continue
            for module in run:
                dst_layer = layer_of(module)
                if dst_layer is None:
                    problems.append(f'{where}: imports {module}, which belongs to no layer')
                elif dst_layer != src_layer and dst_layer not in ALLOWED[src_layer]:
                    problems.append(f'{where}: {name} ({src_layer}) imports {module} '
                                    f'({dst_layer}): {src_layer} may import only '
                                    f'{sorted(ALLOWED[src_layer])}')
    # rclpy through any chain of this tree's imports
    for name in modules:
        if layer_of(name) not in NO_RCLPY:
            continue
        seen, stack = set(), [name]
        while stack:
            m = stack.pop()
            if m in seen:
                continue
            seen.add(m)
            if m in uses_rclpy:
                problems.append(f'{modules[name].relative_to(root)}: {name} ({layer_of(name)}) '
                                f'reaches rclpy through {m}')
                break
            stack.extend(graph[m])
    problems += [f'import cycle: {" -> ".join(c)}' for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer_and_imports_point_down():
    modules = collect_modules(ROOT)
    assert len(modules) > 40, sorted(modules)  # the walk found the tree
    assert {layer_of(m) for m in modules} >= set(LAYERS)
    assert check_layers(ROOT) == []


@pytest.fixture()
def tree_copy(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg,
                        ignore=shutil.ignore_patterns('__pycache__'))
    assert check_layers(tmp_path) == []
    return tmp_path


def _plant(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f'\n\ndef _planted():\n    {line}\n')


def test_a_planted_wrong_way_import_fails(tree_copy: Path):
    _plant(tree_copy / 'dp_ros/policy/config.py', 'from training import config  # noqa')
    _plant(tree_copy / 'sim_bridge/pusht_env.py', 'import dp_ros.policy.diffusion  # noqa')
    # a package root: every dp_ros import runs it
    _plant(tree_copy / 'dp_ros/__init__.py', 'from dp_ros.runtime import safety  # noqa')
    _plant(tree_copy / 'dp_ros/bags/reader.py',
           "import importlib; importlib.import_module('dp_ros.app.sim_launcher')  # noqa")
    problems = check_layers(tree_copy)
    assert any('dp_ros.policy.config (policy) imports training.config (training)' in p
               for p in problems), problems
    assert any('sim_bridge.pusht_env (sim) imports dp_ros.policy.diffusion (policy)' in p
               for p in problems), problems
    assert any('dp_ros (base) imports dp_ros.runtime.safety (runtime)' in p
               for p in problems), problems
    assert any('dp_ros.bags.reader (bags) imports dp_ros.app.sim_launcher (app)' in p
               for p in problems), problems


def test_a_planted_cycle_and_rclpy_below_ros_fail(tree_copy: Path):
    _plant(tree_copy / 'training/replay_buffer.py', 'from . import sampler  # noqa')
    _plant(tree_copy / 'dp_ros/runtime/action_schedule.py', 'import rclpy  # noqa')
    # imported by no module: reached only as the package of dp_ros.bags.reader, whose
    # import runs it
    _plant(tree_copy / 'dp_ros/bags/__init__.py', 'import rclpy  # noqa')
    problems = check_layers(tree_copy)
    assert 'import cycle: training.replay_buffer -> training.sampler' in problems, problems
    assert any('dp_ros.runtime.action_schedule (runtime) reaches rclpy' in p
               for p in problems), problems
    assert any('training.bag_episodes (training) reaches rclpy through dp_ros.bags' in p
               for p in problems), problems
