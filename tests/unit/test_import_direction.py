"""The direction of imports inside callshield/ (docs/architecture.md, "The import rule").

Every import of every module is read from its AST, function-level imports included; only
imports under ``if TYPE_CHECKING:`` are exempt (they never run). Each module has a layer:

- foundation: ``config``, ``errors``, ``display`` (and the package's ``__init__``);
- core: ``read/``, ``screening/``, ``models/``, ``dialplan/``;
- store: ``store/``;
- edges: ``agi/``, ``ami_monitor/``, ``manage/``, ``cli``, ``serve``, ``services``, ``wiring``, ``__main__``;
- training: ``training/`` (offline).

The rule: foundation imports only foundation; the core imports foundation and the core;
the store imports foundation, the store and, from the core, only the data types named in
STORE_CORE_TYPES; edges import anything but training (``cli`` may import training inside
the commands that train, evaluate or simulate); training imports anything. And no two
folders (or top-level modules) import each other, directly or round a longer circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "callshield"

FOUNDATION = {"config", "errors", "display", "__init__"}
CORE = {"read", "screening", "models", "dialplan"}
EDGES = {"agi", "ami_monitor", "manage", "cli", "serve", "services", "wiring", "__main__"}
ALLOWED = {
    "foundation": {"foundation"},
    "core": {"foundation", "core"},
    "store": {"foundation", "store"},  # and the core's data types, below
    "edge": {"foundation", "core", "store", "edge"},
    "training": {"foundation", "core", "store", "edge", "training"},
}
# The only core names the store may import: data it writes or reads back, no logic.
STORE_CORE_TYPES = {
    "callshield.screening.screener": {"Screening"},
    "callshield.screening.lists": {"LIST_NAMES", "ListSnapshot"},
    "callshield.models.memory": {"CallKeys"},
    "callshield.dialplan.state": {"SLOTS", "ActivePlan", "NumberRoute", "Override", "PlanRoute", "RouteState"},
    "callshield.read.numbers": {"NumberIntel"},  # under TYPE_CHECKING only: the edge passes one in
}
# cli's commands that may import training/, inside the function only.
CLI_TRAINING_FUNCTIONS = {"train", "eval_", "simulate_command", "_corpus_lines"}


def unit_of(module: str) -> str:
    """The folder or top-level module a dotted callshield module belongs to."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def layer_of(module: str) -> str:
    unit = unit_of(module)
    if unit in FOUNDATION:
        return "foundation"
    if unit in CORE:
        return "core"
    if unit == "store":
        return "store"
    if unit == "training":
        return "training"
    assert unit in EDGES, f"{module}: a folder or module with no layer; add it to the import rule"
    return "edge"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class Imports(ast.NodeVisitor):
    """(target module, names imported from it, enclosing function or None, under TYPE_CHECKING)."""

    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package = module, is_package
        self.found: list[tuple[str, tuple[str, ...], str | None, bool, int]] = []
        self.functions: list[str] = []
        self.type_checking = 0

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.type_checking += 1
            for child in node.body:
                self.visit(child)
            self.type_checking -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, target: str, names: tuple[str, ...], line: int) -> None:
        if target == "callshield" or target.startswith("callshield."):
            function = self.functions[0] if self.functions else None
            self.found.append((target, names, function, self.type_checking > 0, line))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, (), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            package = package[:len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if is_module(sub):  # from callshield.read import numbers: the module numbers
                self._add(sub, (), node.lineno)
            else:
                self._add(base, (alias.name,), node.lineno)


def imports_of(path: Path) -> list[tuple[str, tuple[str, ...], str | None, bool, int]]:
    visitor = Imports(module_name(path), path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return visitor.found


def violations(module: str, found: list[tuple[str, tuple[str, ...], str | None, bool, int]]) -> list[str]:
    bad: list[str] = []
    source = layer_of(module)
    for target, names, function, type_checking, line in found:
        if type_checking:
            continue
        dest = layer_of(target)
        where = f"{module}:{line} imports {target}" + (f" ({', '.join(names)})" if names else "")
        if dest == "training" and source != "training":
            if not (module == "callshield.cli" and function in CLI_TRAINING_FUNCTIONS):
                bad.append(f"{where}: training/ is offline; only training/ (and cli's train/eval/simulate commands) import it")
            continue
        if source == "store" and dest == "core":
            allowed = STORE_CORE_TYPES.get(target, set())
            if not names or not set(names) <= allowed:
                bad.append(f"{where}: the store imports only the core's data types ({sorted(allowed) or 'none from here'})")
            continue
        if dest not in ALLOWED[source]:
            bad.append(f"{where}: {source} must not import {dest}")
    return bad


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_import_follows_the_direction() -> None:
    bad = [v for path in all_modules() for v in violations(module_name(path), imports_of(path))]
    assert bad == [], "imports against the direction (docs/architecture.md, the import rule):\n" + "\n".join(bad)


def folder_graph() -> dict[str, set[str]]:
    """Unit -> units it imports at run time (TYPE_CHECKING imports never run)."""
    graph: dict[str, set[str]] = {}
    for path in all_modules():
        module = module_name(path)
        source = unit_of(module)
        for target, _names, _function, type_checking, _line in imports_of(path):
            if not type_checking and unit_of(target) != source:
                graph.setdefault(source, set()).add(unit_of(target))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                found.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:  # each circle once, from its smallest unit
                walk(nxt, path + [nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_no_folder_imports_itself_back() -> None:
    found = cycles(folder_graph())
    assert found == [], "folders in a circle of imports:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_scan_sees_the_package() -> None:
    names = {module_name(p) for p in all_modules()}
    assert {"callshield.cli", "callshield.read.numbers", "callshield.training.train", "callshield.store.routing"} <= names
    found = imports_of(PACKAGE / "cli.py")
    assert any(t.startswith("callshield.training") and f == "train" for t, _n, f, _tc, _l in found)


# The rule fails on a violation: each of these sources, put in the named module, is refused.
@pytest.mark.parametrize(("module", "source"), [
    ("callshield.screening.decision", "from callshield.agi import screen\n"),
    ("callshield.screening.insights", "def f():\n    from callshield.store import lists\n"),
    ("callshield.config", "def validate():\n    from callshield.read.numbers import typed_key\n"),
    ("callshield.store.lists", "from callshield.read.numbers import typed_key\n"),
    ("callshield.store.routing", "from callshield.dialplan.policy import RoutingTable\n"),
    ("callshield.store.calls", "from callshield.manage import routing\n"),
    ("callshield.serve", "from callshield.training.replay import replay\n"),
    ("callshield.cli", "from callshield.training import train\n"),
    ("callshield.cli", "def score():\n    from callshield.training import train\n"),
    ("callshield.dialplan.policy", "import callshield.wiring\n"),
])
def test_a_violation_is_refused(module: str, source: str) -> None:
    visitor = Imports(module, False)
    visitor.visit(ast.parse(source))
    assert violations(module, visitor.found)


@pytest.mark.parametrize(("module", "source"), [
    ("callshield.store.journal", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from callshield.screening.screener import Screening\n"),
    ("callshield.store.calls", "from callshield.models.memory import CallKeys\n"),
    ("callshield.cli", "def train():\n    from callshield.training import train as training\n"),
    ("callshield.training.replay", "from callshield.wiring import build_screener\n"),
])
def test_what_the_rule_allows(module: str, source: str) -> None:
    visitor = Imports(module, False)
    visitor.visit(ast.parse(source))
    assert violations(module, visitor.found) == []


def test_a_circle_is_found() -> None:
    assert cycles({"dialplan": {"store"}, "store": {"dialplan"}}) == [["dialplan", "store", "dialplan"]]


def test_no_module_imports_itself_back() -> None:
    """Module by module too (run-time imports, function-level ones included): no circle such
    as training/train.py <-> training/evaluate.py (their metrics are in training/metrics.py)."""
    graph: dict[str, set[str]] = {}
    for path in all_modules():
        module = module_name(path)
        for target, _names, _function, type_checking, _line in imports_of(path):
            package_of_module = target == module.rsplit(".", 1)[0] and path.name != "__init__.py"
            if not type_checking and target != module and not package_of_module:
                graph.setdefault(module, set()).add(target)
    found = cycles(graph)
    assert found == [], "modules in a circle of imports:\n" + "\n".join(" -> ".join(c) for c in found)
