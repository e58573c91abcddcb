"""The database: engines and pools for both backends (`engine`), the tables (`models`),
repositories that load and add rows (`repositories`), the unit of work that alone commits
(`uow`), migrations (`migrate`) and which failures mean "not now" (`unavailable`)."""

from app.db.engine import Database
from app.db.migrate import upgrade
from app.db.uow import UnitOfWork

__all__ = ["Database", "UnitOfWork", "upgrade"]
