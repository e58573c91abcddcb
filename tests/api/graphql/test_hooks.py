"""Our extension runner keeps Strawberry's semantics: hooks entered in the extensions'
order and left in reverse, each kind of hook (generator, async generator, coroutine, plain
function) run, an error passed through every hook and never swallowed, an async hook
refused in a sync stage; and what it learns of a class it learns once."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension

from app.api.graphql import hooks
from app.api.graphql.hooks import HookRunner

calls: list[str] = []


class First(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        calls.append("first in")
        yield
        calls.append("first out")


class Second(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        calls.append("second in")
        try:
            yield
        except ValueError:
            calls.append("second saw the error")
            raise
        calls.append("second out")


class Third(SchemaExtension):
    async def on_operation(self) -> None:  # type: ignore[override]
        calls.append("third")

    def on_parse(self) -> None:  # type: ignore[override]
        calls.append("third parses")


class Swallower(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        try:
            yield
        except ValueError:
            calls.append("swallowed")


def runner(*classes: type[SchemaExtension]) -> HookRunner:
    calls.clear()
    return HookRunner(execution_context=None, extensions=[cls() for cls in classes])  # type: ignore[arg-type]


async def test_hooks_enter_in_order_and_leave_in_reverse() -> None:
    run = runner(First, Second, Third)
    async with run.operation():
        calls.append("body")
    assert calls == ["first in", "second in", "third", "body", "second out", "first out"]


async def test_an_error_passes_through_every_hook() -> None:
    run = runner(First, Second)
    with pytest.raises(ValueError, match="boom"):
        async with run.operation():
            raise ValueError("boom")
    assert calls == ["first in", "second in", "second saw the error"]


async def test_a_hook_cannot_swallow_an_error_as_in_strawberry() -> None:
    run = runner(Swallower)
    with pytest.raises(ValueError, match="boom"):
        async with run.validation():
            raise ValueError("boom")
    assert calls == ["swallowed"]


def test_a_sync_stage_runs_plain_hooks_and_refuses_async_ones() -> None:
    run = runner(Third)
    with run.parsing():
        calls.append("body")
    assert calls == ["third parses", "body"]
    with pytest.raises(RuntimeError, match="failed to complete synchronously"), run.operation():
        pass  # pragma: no cover (never entered)


async def test_a_stage_no_extension_hooks_into_runs_its_body_alone() -> None:
    run = runner(First)
    async with run.executing():
        calls.append("body")
    with run.executing():
        calls.append("sync body")
    assert calls == ["body", "sync body"]


async def test_what_a_class_hooks_is_learnt_once(monkeypatch: pytest.MonkeyPatch) -> None:
    inspected: list[Any] = []
    real = inspect.isgeneratorfunction

    def seen(function: Any) -> bool:
        inspected.append(function)
        return real(function)

    monkeypatch.setattr(hooks, "_HOOKS", {})
    monkeypatch.setattr(inspect, "isgeneratorfunction", seen)
    for _ in range(3):
        async with runner(First).operation():
            pass
    assert inspected == [First.on_operation]
