import pytest

from app.db.engine import Database
from app.db.uow import UnitOfWork

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it


async def test_each_backend_starts_with_an_empty_migrated_schema(db: Database) -> None:
    async with UnitOfWork(db) as uow:
        assert await uow.tenants.get("64f000000000000000000002") is None
