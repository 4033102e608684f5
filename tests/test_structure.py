"""The package's structure: layers without import cycles, one registry of
events that code and docs agree with, one table of fork strategies."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import pyjos
from pyjos import abi
from pyjos.kernel.events import COUNTERS, EVENTS
from pyjos.tools import costmodel

SRC = Path(pyjos.__file__).parent
ROOT = SRC.parent.parent
# Layers that must import everything at module level (tools may import an
# optional or heavy module lazily, for the command line's start-up).
STRICT_LAYERS = ("abi", "machine", "kernel", "guest")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The pyjos modules an ImportFrom names (a package's names may be modules)."""
    if node.level:
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("pyjos"):
        return []
    out = [target]
    out += [f"{target}.{alias.name}" for alias in node.names]
    return out


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(pyjos modules imported at run time at module level, function-level imports)."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    nested: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only: no run-time dependency
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, True)
                continue
            names: list[str] = []
            if isinstance(child, ast.ImportFrom):
                names = _resolve(module, is_package, child)
            elif isinstance(child, ast.Import):
                names = [a.name for a in child.names if a.name.startswith("pyjos")]
            if names:
                if in_function:
                    nested.append(f"{module}: {ast.unparse(child)}")
                else:
                    top.update(names)
            visit(child, in_function)

    visit(tree, False)
    return top, nested


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        top, _ = _imports(path)
        # A module's own packages are initialised before it, not imported by it.
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {m for m in top if m in modules and m != name and m not in ancestors}
    return graph


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node)


def test_layers_import_downwards_only():
    """machine knows no kernel or tools; the kernel no tools; guest no kernel."""
    forbidden = {"pyjos.machine": ("pyjos.kernel", "pyjos.tools", "pyjos.guest"),
                 "pyjos.abi": ("pyjos.machine", "pyjos.kernel", "pyjos.tools", "pyjos.guest"),
                 "pyjos.kernel": ("pyjos.tools",),
                 "pyjos.guest": ("pyjos.kernel", "pyjos.tools", "pyjos.machine")}
    bad = []
    for module, deps in _graph().items():
        for layer, banned in forbidden.items():
            if module == layer or module.startswith(layer + "."):
                bad += [f"{module} imports {d}" for d in deps if d.startswith(banned)]
    assert not bad, bad


def test_no_function_level_imports_in_the_core():
    nested = []
    for path in SRC.rglob("*.py"):
        if (_module_name(path).split(".") + [""])[1] in STRICT_LAYERS:
            nested += _imports(path)[1]
    assert not nested, nested


# --- events --------------------------------------------------------------------------
_EMIT = re.compile(r"""\.(bump|count|emit)\(\s*["']([^"']+)["']""")


def test_every_event_the_code_names_is_registered():
    named = {}
    for path in SRC.rglob("*.py"):
        for kind, name in _EMIT.findall(path.read_text()):
            named.setdefault(name, f"{path.relative_to(SRC)} ({kind})")
    unknown = {n: where for n, where in named.items() if n not in EVENTS}
    assert not unknown, unknown
    assert "syscalls.getenvid" in EVENTS and "syscalls.unknown" in EVENTS  # built from Sys


def test_cost_models_price_registered_counters():
    for names in costmodel.EVENT_COUNTERS.values():
        for name in names:
            assert name in COUNTERS or any(c.startswith(name) for c in COUNTERS), name


def test_architecture_lists_the_registry():
    """ARCHITECTURE.md's event table is the registry, name for name, meaning for meaning."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    section = text.split("<!-- events:begin -->")[1].split("<!-- events:end -->")[0]
    rows = re.findall(r"^\| `([^`]+)` \| (yes|no) \| (.+) \|$", section, re.M)
    documented = {name: (counted == "yes", meaning) for name, counted, meaning in rows}
    syscalls = {n for n in EVENTS if n.startswith("syscalls.")}
    expected = {n: (k.counted, k.meaning) for n, k in EVENTS.items() if n not in syscalls}
    expected["syscalls.<name>"] = (True, "system call sys_<name> (one counter per call, and "
                                         "syscalls.unknown)")
    assert documented == expected


# --- fork strategies -------------------------------------------------------------------
def test_fork_strategies_are_one_table():
    assert [abi.fork_strategy(n) for n in abi.FORK_STRATEGIES] == list(abi.ForkStrategy)
    assert abi.FORK_KINDS == (*abi.FORK_STRATEGIES, "sfork")
    # the C enum is checked against abi.ForkStrategy by test_abi; forkbench.c knows every kind
    forkbench = (SRC / "guest" / "user" / "forkbench.c").read_text()
    for kind in abi.FORK_KINDS:
        assert f'"{kind}"' in forkbench, kind
