"""The served process freezes what start-up made out of the cyclic collector's walks
(app.kit.gc); an app built for anything else (tests, the CLI) leaves the collector alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.db.engine import Database
from app.web import create_app
from tests.support import test_settings as settings_for


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()


# The freezing does not depend on the backend; the app's start and stop run in this test's
# own event loop here, which on PostgreSQL also starts the outbox reader's LISTEN
# connection and the webhook dispatcher against the run's shared database: SQLite keeps
# this test to what it checks.
@pytest.mark.usefixtures("unfrozen")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("freeze", [True, False], ids=["served", "not served"])
async def test_start_up_is_frozen_only_in_the_served_process(db: Database, freeze: bool) -> None:
    # given the app, built as `invoicepay serve` builds it or not
    app = create_app(settings_for(db.url), db=db, freeze_gc=freeze)
    # when it has started
    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()
    # then what start-up made is frozen only when served
    assert (frozen > 10_000) is freeze
