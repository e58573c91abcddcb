"""No import cycle anywhere in `app/`: every module can be understood (and imported) after
the modules it names, never in a circle. Lazy imports inside functions count too: they only
hide a cycle from Python, not from the reader. `if TYPE_CHECKING:` imports do not count."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in APP.rglob("*.py")}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(tree: ast.AST) -> list[str]:
    """Every module an import statement names, outside `if TYPE_CHECKING:` blocks."""
    found: list[str] = []

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for branch in node.orelse:
                walk(branch)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree)
    return found


def graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the app modules importing it runs (with their packages' `__init__`), less
    its own packages, which Python has always initialised before it."""
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        own = {".".join(name.split(".")[:n]) for n in range(1, name.count(".") + 1)}
        targets: set[str] = set()
        for target in imported(ast.parse(path.read_text())):
            parts = target.split(".")
            for n in range(1, len(parts) + 1):
                prefix = ".".join(parts[:n])
                if prefix in known and prefix not in own and prefix != name:
                    targets.add(prefix)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_app_imports_itself_in_a_circle() -> None:
    assert cycles(graph(modules())) == []


def test_the_check_finds_a_circle_when_there_is_one() -> None:
    edges = {"app.a": {"app.b"}, "app.b": {"app.c"}, "app.c": {"app.a"}, "app.d": {"app.a"}}
    assert cycles(edges) == [["app.a", "app.b", "app.c"]]


def test_lazy_imports_count_and_type_checking_ones_do_not() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from app.b import B\n"
        "def f():\n    from app.c import c\n"
    )
    assert "app.b" not in imported(tree)
    assert "app.c" in imported(tree)


def test_every_import_of_the_app_names_a_module_or_a_name_that_exists() -> None:
    known = modules()
    missing = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "app":
                missing += [
                    f"{name}: app.{a.name}" for a in node.names if f"app.{a.name}" not in known
                ]
    assert missing == []
