"""The package's layers point down and its modules import no circle.

Layers, lowest first (README "Layout" lists the same table):

0. foundation: ``version``, ``utils``, ``safe_load``, ``registry``, ``structures``
1. formats and pure algorithms: ``datasets.ava_io``, ``datasets.track_feature_io``,
   ``datasets.frame_check``, ``evaluation.functional``, ``tracking``,
   ``localization``
2. registered components: the rest of ``datasets``, ``models``, ``evaluation``,
   ``engine``
3. applications: ``apis``, ``visualization``, ``benchmark``
4. entry: the package ``__init__`` and ``compat``

Every import (module level or inside a function) must go to the same or a lower
layer. The only exceptions are the deprecation shims of moved modules, which
import their new location lazily. Module-level imports must not form a cycle.
"""
import ast
import os
import os.path as osp
from collections import defaultdict

from helpers import REPO

PKG = osp.join(REPO, 'stadl_plugins')

LAYERS = [
    (0, ['stadl_plugins.version', 'stadl_plugins.utils', 'stadl_plugins.safe_load',
         'stadl_plugins.registry', 'stadl_plugins.structures']),
    (1, ['stadl_plugins.datasets.ava_io', 'stadl_plugins.datasets.track_feature_io',
         'stadl_plugins.datasets.frame_check', 'stadl_plugins.evaluation.functional',
         'stadl_plugins.tracking', 'stadl_plugins.localization']),
    (2, ['stadl_plugins.datasets', 'stadl_plugins.models', 'stadl_plugins.evaluation',
         'stadl_plugins.engine']),
    (3, ['stadl_plugins.apis', 'stadl_plugins.visualization', 'stadl_plugins.benchmark']),
    (4, ['stadl_plugins.compat', 'stadl_plugins']),
]

#: deprecated locations kept for one release; they import the new home lazily
SHIMS = {'stadl_plugins.models.backbones', 'stadl_plugins.models.backbones.flow_two_stream',
         'stadl_plugins.models.track_heads.reclnet',
         'stadl_plugins.models.roi_heads.atr_head',
         'stadl_plugins.tracking.track_features'}


def layer_of(module: str) -> int:
    best, layer = -1, None
    for lv, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + '.')) and len(p) > best:
                best, layer = len(p), lv
    assert layer is not None, module
    assert best > len('stadl_plugins') or module in ('stadl_plugins',), (
        f'{module} is in no layer: add its package to LAYERS (and to the README)')
    return layer


def modules():
    out = {}
    for d, _, files in os.walk(PKG):
        if '.mim' in d:
            continue
        for f in files:
            if f.endswith('.py'):
                rel = osp.relpath(osp.join(d, f), REPO)[:-3].replace(os.sep, '.')
                name = rel[:-len('.__init__')] if rel.endswith('.__init__') else rel
                out[name] = osp.join(d, f)
    return out


def imports(name: str, path: str, mods: dict):
    """``[(target module, is_module_level)]`` of a module's package imports."""
    tree = ast.parse(open(path).read())
    is_pkg = path.endswith('__init__.py')
    package = name if is_pkg else name.rpartition('.')[0]
    top_level = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - node.level + 1])
                base = f'{base}.{node.module}' if node.module else base
            else:
                base = node.module or ''
            if not base.startswith('stadl_plugins'):
                continue
            for alias in node.names:
                sub = f'{base}.{alias.name}'
                targets.append(sub if sub in mods else base)
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.startswith('stadl_plugins')]
        for t in targets:
            found.append((t, id(node) in top_level))
    return found


def test_every_import_points_to_the_same_or_a_lower_layer():
    mods = modules()
    bad = []
    for name, path in sorted(mods.items()):
        if name in SHIMS:
            continue
        for target, _ in imports(name, path, mods):
            if layer_of(target) > layer_of(name):
                bad.append(f'{name} (layer {layer_of(name)}) imports {target} '
                           f'(layer {layer_of(target)})')
    assert not bad, '\n'.join(bad)


def test_module_level_imports_form_no_cycle():
    mods = modules()
    graph = defaultdict(set)
    for name, path in mods.items():
        for target, top in imports(name, path, mods):
            # a package importing its own children is the normal __init__ pattern
            if top and target != name and not target.startswith(name + '.') \
                    and target in mods:
                graph[name].add(target)
    state, stack, cycles = {}, [], []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = 2

    for m in sorted(mods):
        if m not in state:
            visit(m)
    # an import of a parent package from a child (``from .. import x``) resolves to
    # the parent's __init__, which imports the child back: only real module
    # cycles count, so drop edges to ancestors
    real = [c for c in cycles
            if not any(b == a.rpartition('.')[0] or a.startswith(b + '.')
                       for a, b in zip(c, c[1:]))]
    assert not real, '\n'.join(' -> '.join(c) for c in real)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The layer check can fail: an evaluation module importing apis is caught."""
    assert layer_of('stadl_plugins.apis.inference') > \
        layer_of('stadl_plugins.evaluation.functional.video_ap')
    mods = {'stadl_plugins.evaluation.functional.x': '',
            'stadl_plugins.apis.inference': ''}
    path = tmp_path / 'x.py'
    path.write_text('from ...apis.inference import STADInferencer\n')
    found = imports('stadl_plugins.evaluation.functional.x', str(path), mods)
    assert found == [('stadl_plugins.apis.inference', True)]
