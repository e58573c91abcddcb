"""Strawberry's extension hooks, run with the per-request work done once per class.

Strawberry (0.341) builds, for every request and for each of the four stages (operation,
parsing, validation, execution), a list of each extension's hook: it inspects the class's
method, wraps it with `contextlib.contextmanager(types.MethodType(…))` (a new function and
`functools.wraps` each time) and enters the wrappers on an `ExitStack`, even for stages no
extension hooks into. With our eleven extensions that was about 7 % of the CPU of a
GraphQL payment (py-spy, `make bench BENCH_ARGS=--profile`: `get_hook`, the managers'
`__init__`, `update_wrapper`).

`HookRunner` keeps Strawberry's semantics (hooks entered in the extensions' order, left in
reverse, an exception passed through each, an async hook refused in a sync stage) and
differs only in what it does once: the kind of each class's hook and its context-manager
factory are computed the first time a class is seen (`_hook`), and a stage with no hook
costs nothing. It is what `Schema.create_extensions_runner` returns (app/api/graphql/schema.py);
`on_stream_result` (incremental delivery, which we do not use) stays Strawberry's.
The idea is upstreamable as is: cache `get_hook` per (class, hook name).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

# (its context manager made from an extension instance, whether it is async)
Hook = tuple[Callable[[SchemaExtension], Any], bool]

_HOOKS: dict[tuple[type[SchemaExtension], str], Hook | None] = {}


def _hook(cls: type[SchemaExtension], name: str) -> Hook | None:
    """The `name` hook of extension class `cls`, as Strawberry would wrap it; None when
    the class does not override it. Computed once per class and name."""
    key = (cls, name)
    if key in _HOOKS:
        return _HOOKS[key]
    function = getattr(cls, name)
    found: Hook | None
    if function is getattr(SchemaExtension, name):
        found = None
    elif inspect.isgeneratorfunction(function):
        found = (contextlib.contextmanager(function), False)
    elif inspect.isasyncgenfunction(function):
        found = (contextlib.asynccontextmanager(function), True)
    elif inspect.iscoroutinefunction(function):
        found = (_after_awaiting(function), True)
    elif callable(function):
        found = (_after_calling(function), False)
    else:
        raise ValueError(f"Hook {name} on {cls} must be callable, received {function!r}")
    _HOOKS[key] = found
    return found


def _after_awaiting(function: Callable[[SchemaExtension], Any]) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def hook(extension: SchemaExtension) -> AsyncIterator[None]:
        await function(extension)
        yield

    return hook


def _after_calling(function: Callable[[SchemaExtension], Any]) -> Callable[..., Any]:
    @contextlib.contextmanager
    def hook(extension: SchemaExtension) -> Iterator[None]:
        function(extension)
        yield

    return hook


class Stage:
    """One stage's hooks as one context manager (sync or async, as Strawberry uses it)."""

    __slots__ = ("async_stack", "extensions", "name", "stack")

    def __init__(self, name: str, extensions: list[SchemaExtension]) -> None:
        self.name = name
        self.extensions = extensions
        self.stack: contextlib.ExitStack | None = None
        self.async_stack: contextlib.AsyncExitStack | None = None

    def _hooks(self) -> list[tuple[SchemaExtension, Hook]]:
        found = []
        for extension in self.extensions:
            hook = _hook(type(extension), self.name)
            if hook is not None:
                found.append((extension, hook))
        return found

    def __enter__(self) -> None:
        hooks = self._hooks()
        if not hooks:
            return
        with contextlib.ExitStack() as stack:
            for extension, (manager, is_async) in hooks:
                if is_async:
                    raise RuntimeError(
                        f"SchemaExtension hook {extension}.{self.name} "
                        "failed to complete synchronously."
                    )
                stack.enter_context(manager(extension))
            self.stack = stack.pop_all()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # As Strawberry: what the hooks answer is not returned, so none can swallow an error.
        if self.stack is not None:
            self.stack.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> None:
        hooks = self._hooks()
        if not hooks:
            return
        async with contextlib.AsyncExitStack() as stack:
            for extension, (manager, is_async) in hooks:
                if is_async:
                    await stack.enter_async_context(manager(extension))
                else:
                    stack.enter_context(manager(extension))
            self.async_stack = stack.pop_all()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.async_stack is not None:
            await self.async_stack.__aexit__(exc_type, exc, tb)


class HookRunner(SchemaExtensionsRunner):
    """Strawberry's runner with the stages above."""

    def operation(self) -> Stage:  # type: ignore[override]
        return Stage("on_operation", self.extensions)

    def validation(self) -> Stage:  # type: ignore[override]
        return Stage("on_validate", self.extensions)

    def parsing(self) -> Stage:  # type: ignore[override]
        return Stage("on_parse", self.extensions)

    def executing(self) -> Stage:  # type: ignore[override]
        return Stage("on_execute", self.extensions)
