"""The endpoints service: a tenant holds at most MAX_ENDPOINTS (the cost limit counts
`webhookEndpoints` at that size), inputs are checked field by field, and a refusal writes
nothing."""

from __future__ import annotations

import pytest

from app.db.engine import Database
from app.errors import InvalidInput
from app.webhooks import endpoints
from tests.support import DEMO_CLONE, OTHER_CLONE, make_world
from tests.support.webhooks import rows

URL = "https://hooks.example.com/in"


async def test_a_tenant_holds_at_most_twenty_endpoints(db: Database) -> None:
    await make_world(db)
    for _ in range(endpoints.MAX_ENDPOINTS):
        await endpoints.create_endpoint(
            db, DEMO_CLONE, URL, ["invoice.created"], None, allow_private=True
        )
    with pytest.raises(InvalidInput) as refused:
        await endpoints.create_endpoint(
            db, DEMO_CLONE, URL, ["invoice.created"], None, allow_private=True
        )
    assert refused.value.reason == "TOO_MANY_ENDPOINTS: at most 20"
    # another tenant's count is its own
    await endpoints.create_endpoint(
        db, OTHER_CLONE, URL, ["invoice.created"], None, allow_private=True
    )
    assert await rows(
        db,
        "SELECT tenant_id, count(*) FROM webhook_endpoints GROUP BY tenant_id ORDER BY tenant_id",
    ) == [
        (DEMO_CLONE, 20),
        (OTHER_CLONE, 1),
    ]


@pytest.mark.parametrize(
    ("types", "description", "expected"),
    [
        ([], None, ("eventTypes", "EMPTY")),
        (["invoice.created", "nope"], None, ("eventTypes", "UNKNOWN_EVENT_TYPE: nope")),
        (["invoice.created"], "x" * 501, ("description", "TOO_LONG")),
    ],
)
async def test_bad_fields_are_named_and_nothing_is_written(
    db: Database, types: list[str], description: str | None, expected: tuple[str, str]
) -> None:
    await make_world(db)
    with pytest.raises(InvalidInput) as refused:
        await endpoints.create_endpoint(db, DEMO_CLONE, URL, types, description, allow_private=True)
    assert (refused.value.field, refused.value.reason) == expected
    assert await rows(db, "SELECT count(*) FROM webhook_endpoints") == [(0,)]


async def test_event_types_are_kept_once_in_the_contracts_order(db: Database) -> None:
    await make_world(db)
    made, _ = await endpoints.create_endpoint(
        db,
        DEMO_CLONE,
        URL,
        ["refund.succeeded", "customer.created", "refund.succeeded"],
        None,
        allow_private=True,
    )
    assert made.event_types == ("customer.created", "refund.succeeded")
    assert await rows(db, "SELECT count(*) FROM webhook_subscriptions") == [(2,)]
