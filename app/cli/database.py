"""Running a command's work on a database opened for it and closed after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from app.config import Settings
from app.db.engine import Database

T = TypeVar("T")


def run_with_database(work: Callable[[Database], Coroutine[Any, Any, T]], settings: Settings) -> T:
    """`work` on the configured database, in its own event loop; the pools closed after."""

    async def with_database() -> T:
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(with_database())
