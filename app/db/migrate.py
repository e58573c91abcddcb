"""Apply Alembic migrations to a database URL.

The migrations ship inside the package (`app.migrations`, the repository's top-level
`migrations/` folder), so a wheel install migrates without a checkout or `alembic.ini`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine


def migrations_dir() -> Path:
    """The folder of `env.py` and `versions/`, wherever the package is installed."""
    location = resources.files("app.migrations")
    # Alembic reads its scripts from a directory: an install must unpack the package.
    if not isinstance(location, Path) or not (location / "env.py").is_file():
        raise RuntimeError(f"the migrations are not a folder on disk: {location}")
    return location


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest migration (blocking; not in a loop)."""
    command.upgrade(alembic_config(url), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
