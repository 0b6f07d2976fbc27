"""The import graph of keras_trm: no cycle, and no function-level import of a keras_trm module.

Every module under keras_trm/ is parsed with `ast` (nothing is imported). An edge A -> B is an import of B in A,
at module level or inside a function. Importing `keras_trm.x.y` also runs the package `keras_trm.x` first, so the
edge goes to `keras_trm.x` as well, unless that package is one A itself lives in (it is already being imported
when A runs). `from P import n` is an edge to `P.n` when `P.n` is a module. A cycle in this graph is an import
cycle whether or not a function-level import hides it from Python at import time.

Function-level imports are for optional dependencies only (tensorboard, PIL, torch, ...): a keras_trm module
imported inside a function must be on the allow-list below with its reason.
"""

import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "keras_trm")

# (importing module, imported module) -> why it is imported inside a function.
FUNCTION_LEVEL_ALLOWED = {
    ("keras_trm.data", "keras_trm.data.sampler"): (
        "data/__init__.py's lazy `PuzzleBatches` (__getattr__): the sampler is the only module of the data room "
        "that imports keras"
    ),
}
# keras_trm.cli: `keras-trm --help` and argument errors answer without importing keras and a backend framework.
FUNCTION_LEVEL_ALLOWED_MODULES = {"keras_trm.cli"}


def _module_name(path):
    rel = os.path.relpath(path, os.path.dirname(ROOT))[: -len(".py")].split(os.sep)
    if rel[-1] == "__init__":
        rel = rel[:-1]
    return ".".join(rel)


def _modules():
    found = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found[_module_name(path)] = path
    return found


def _is_package(module, modules):
    return module in modules and modules[module].endswith("__init__.py")


def _imports(module, path, modules):
    """[(imported keras_trm module, line, at function level)] of one module."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if _is_package(module, modules) else module.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, child.lineno, inner))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module
                found.append((target, child.lineno, inner))
                for alias in child.names:
                    if f"{target}.{alias.name}" in modules:
                        found.append((f"{target}.{alias.name}", child.lineno, inner))
            visit(child, inner)

    visit(tree, False)
    return [(t, line, inner) for t, line, inner in found if t == "keras_trm" or t.startswith("keras_trm.")]


def _targets(importer, target, modules):
    """`target` and the packages above it that importing it runs (those `importer` is not inside)."""
    parts = target.split(".")
    out = []
    for i in range(2, len(parts) + 1):
        name = ".".join(parts[:i])
        inside = importer == name or importer.startswith(name + ".")
        if name in modules and (name == target or not inside):
            out.append(name)
    return out


def _graph():
    modules = _modules()
    edges, function_level = {m: set() for m in modules}, []
    for module, path in modules.items():
        for target, line, inner in _imports(module, path, modules):
            for name in _targets(module, target, modules):
                if name != module:
                    edges[module].add(name)
            if inner and target in modules:
                function_level.append((module, target, f"{os.path.relpath(path, os.path.dirname(ROOT))}:{line}"))
    return edges, function_level


def _find_cycle(edges):
    """One cycle as a list of modules (first == last), or None."""
    state, stack = {}, []

    def dfs(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = dfs(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = dfs(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_the_package():
    edges, _ = _graph()
    assert {"keras_trm.models.trm_backbone", "keras_trm.utils.preset_utils", "keras_trm.layers.recursion"} <= set(edges)
    # Edges the layout relies on, read by the parser (a broken parser would find no cycle in an empty graph).
    assert "keras_trm.utils.preset_utils" in edges["keras_trm.models.trm_backbone"]
    assert "keras_trm.backend.ops" in edges["keras_trm.layers.recursion"]
    assert "keras_trm.layers" in edges["keras_trm.models.trm_backbone"]  # the package runs before its module


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _find_cycle(edges) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = _find_cycle(_graph()[0])
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_function_level_import_of_keras_trm_modules():
    _, function_level = _graph()
    unexplained = [
        f"{where}: {module} imports {target}"
        for module, target, where in function_level
        if (module, target) not in FUNCTION_LEVEL_ALLOWED and module not in FUNCTION_LEVEL_ALLOWED_MODULES
    ]
    assert not unexplained, "function-level imports of keras_trm modules:\n" + "\n".join(unexplained)
    stale = set(FUNCTION_LEVEL_ALLOWED) - {(m, t) for m, t, _ in function_level}
    assert not stale, f"allow-list entries no longer needed: {sorted(stale)}"


@pytest.mark.parametrize(
    "layer_module", ["keras_trm.layers.recursion", "keras_trm.layers.block", "keras_trm.layers.embedding"]
)
def test_layers_depend_on_no_training_code(layer_module):
    edges, _ = _graph()
    training = sorted(
        m
        for m in _reachable(edges, layer_module)
        if m.startswith(("keras_trm.training", "keras_trm.models")) or "trainer" in m
    )
    assert not training, f"{layer_module} reaches {training}"


def _reachable(edges, start):
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node])
    return seen


@pytest.mark.parametrize("utils_module", ["keras_trm.utils.preset_utils", "keras_trm.utils.puzzle_spec"])
def test_utils_import_no_model(utils_module):
    """As keras-hub's utils/preset_utils.py: the preset helpers never reach a model, a layer or training code."""
    edges, _ = _graph()
    reached = sorted(
        m
        for m in _reachable(edges, utils_module)
        if m.startswith(("keras_trm.models", "keras_trm.layers", "keras_trm.training"))
    )
    assert not reached, f"{utils_module} reaches {reached}"
