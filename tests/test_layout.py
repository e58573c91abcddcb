"""The tests' own layout: a test module imports shared scenery from tests/support, never
another test module (whose tests would then be collected, and whose helpers drift)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def is_test_module(name: str) -> bool:
    # tests.support holds helpers named test_* (test_settings) that are no test modules
    if not name.startswith("tests.") or name.startswith("tests.support"):
        return False
    return name.rsplit(".", 1)[-1].startswith("test_")


def test_no_test_module_imports_another_test_module() -> None:
    # given every Python file under tests/
    offenders = {
        f"{path.relative_to(TESTS)} imports {name}"
        for path in TESTS.rglob("*.py")
        for name in imported_modules(path)
        if is_test_module(name)
    }
    # then none of them reaches into a test module
    assert not offenders, sorted(offenders)


def test_the_check_finds_a_test_module_import() -> None:
    # the rule above must see both spellings of such an import
    assert is_test_module("tests.auth.test_auth_keys")
    assert is_test_module("tests.api.graphql.test_subscriptions")
    assert not is_test_module("tests.support.keys")
    assert not is_test_module("tests.support.test_settings")
    # `from tests.api.graphql import test_subscriptions` names the module as an attribute
    assert is_test_module("tests.api.graphql.test_subscriptions")
