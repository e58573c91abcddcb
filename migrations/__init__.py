"""Alembic migrations, shipped inside the package as `app.migrations` (a link to here)."""
