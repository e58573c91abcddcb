"""A `payInvoice` that `@skip`/`@include` leaves out does not run, so it is not a payment
attempt: neither rate-limited nor counted in metrics; one they keep in is both."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.db.engine import Database
from tests.support import client_for, error_codes, gql, invoice, make_world, snapshot

PAY = """
mutation Pay($skip: Boolean!, $go: Boolean = true) {
  payInvoice(input: {invoiceNumber: 100123, currency: "NGN", amount: "1.00"})
    @skip(if: $skip) @include(if: $go) { __typename }
}
"""
SKIPPED_LITERALLY = """
mutation { ...pay @skip(if: true) }
fragment pay on Mutation {
  payInvoice(input: {invoiceNumber: 100123, currency: "NGN", amount: "1.00"}) { __typename }
}
"""


async def payments_by_outcome(client: httpx.AsyncClient) -> dict[str, float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        ":".join(series.labels[k] for k in ("api", "outcome", "replayed")): series.value
        for family in text_string_to_metric_families(response.text)
        for series in family.samples
        if series.name == "invoicepay_payments_total"
    }


def rose(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


async def test_a_skipped_payment_is_neither_rate_limited_nor_counted(db: Database) -> None:
    # given Ada's open invoice and a limit of one payment attempt a minute
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000.00")
    books = await snapshot(db)
    async with client_for(db, rate_limit="1/minute") as client:
        before = await payments_by_outcome(client)
        # when she sends the payment skipped by a variable, by @include, and by a literal
        skipped = [
            await gql(client, PAY, {"skip": True}, world.ada_token),
            await gql(client, PAY, {"skip": False, "go": False}, world.ada_token),
            await gql(client, SKIPPED_LITERALLY, None, world.ada_token),
        ]
        after_skipped = await payments_by_outcome(client)
    # then each passes the gate and runs nothing: no error, no payment, nothing counted
    assert skipped == [{"data": {}}] * 3
    assert await snapshot(db) == books
    assert rose(before, after_skipped) == {}


async def test_an_included_payment_is_rate_limited_and_counted(db: Database) -> None:
    # given Ada's open invoice and a limit of one payment attempt a minute
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000.00")
    async with client_for(db, rate_limit="1/minute") as client:
        before = await payments_by_outcome(client)
        # when she sends the payment kept in (the default of $go), twice
        paid = await gql(client, PAY, {"skip": False}, world.ada_token)
        limited = await gql(client, PAY, {"skip": False, "go": True}, world.ada_token)
        after = await payments_by_outcome(client)
    # then the first pays and the second meets the limit, each counted once
    assert paid["data"]["payInvoice"]["__typename"] == "PayInvoiceSuccess"
    assert error_codes(limited) == ["RATE_LIMITED"]
    assert rose(before, after) == {
        "graphql:PayInvoiceSuccess:false": 1,
        "graphql:RateLimited:false": 1,
    }
