"""The layers import one way only (README "Layers"): every import of every module, including
those inside functions, is checked against the table below, and the module graph has no cycle.

A planted wrong-way import and a planted cycle must make the checker fail, so this test cannot
pass by accident (e.g. by finding no module at all).
"""
from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ('dp_ros', 'training', 'sim_bridge')

# layer -> module prefixes, most specific first wins (see layer_of)
LAYERS: dict[str, tuple[str, ...]] = {
    'base': ('dp_ros.atomic_dir', 'dp_ros.dimension_names', 'dp_ros.errors',
             'dp_ros.image_fit', 'dp_ros.image_header', 'dp_ros.params', 'dp_ros.pose_fields',
             'dp_ros.recorded_sources', 'dp_ros.safe_yaml', 'dp_ros.selection',
             'dp_ros.stamps'),
    'policy': ('dp_ros.policy',),
    'runtime': ('dp_ros.runtime',),
    'ros': ('dp_ros.ros',),
    'bags': ('dp_ros.bags',),
    'sim': ('sim_bridge',),
    'training': ('training',),
    'app': ('dp_ros.app', 'dp_ros.cli'),
}
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


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement anywhere in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
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
    best, best_len = None, -1
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + '.')) and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


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
            if dst != name:
                graph[name].add(dst)
            dst_layer = layer_of(dst)
            if src_layer is None:
                if name not in PACKAGES:  # package roots hold docstrings only
                    problems.append(f'{where}: module {name} belongs to no layer')
                continue
            if dst_layer is None:
                if dst not in PACKAGES:
                    problems.append(f'{where}: imports {dst}, which belongs to no layer')
                continue
            if dst_layer != src_layer and dst_layer not in ALLOWED[src_layer]:
                problems.append(f'{where}: {name} ({src_layer}) imports {dst} ({dst_layer}): '
                                f'{src_layer} may import only {sorted(ALLOWED[src_layer])}')
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
    problems = check_layers(tree_copy)
    assert any('dp_ros.policy.config (policy) imports training.config (training)' in p
               for p in problems), problems
    assert any('sim_bridge.pusht_env (sim) imports dp_ros.policy.diffusion (policy)' in p
               for p in problems), problems


def test_a_planted_cycle_and_rclpy_below_ros_fail(tree_copy: Path):
    _plant(tree_copy / 'training/replay_buffer.py', 'from . import sampler  # noqa')
    _plant(tree_copy / 'dp_ros/runtime/action_schedule.py', 'import rclpy  # noqa')
    problems = check_layers(tree_copy)
    assert 'import cycle: training.replay_buffer -> training.sampler' in problems, problems
    assert any('dp_ros.runtime.action_schedule (runtime) reaches rclpy' in p
               for p in problems), problems
