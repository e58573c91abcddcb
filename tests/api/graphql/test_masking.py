"""Unexpected failures are masked; the client's own input errors are shown to it."""

from __future__ import annotations

import re

import pytest

from app.billing import admin
from app.db.engine import Database
from tests.support import client_for, gql, make_world, snapshot

CREATE_INVOICE_DUE = """
mutation Create($due: DateTime) {
  createInvoice(input: {number: 7, customerId: "cus_x", currency: "NGN", total: "1",
                        dueAt: $due}) { __typename }
}
"""
CREATE_INVOICE_LITERAL = """
mutation { createInvoice(input: {number: 7, customerId: "cus_x", currency: "NGN", total: "1",
                                 dueAt: "next tuesday"}) { __typename } }
"""
CREATE_CUSTOMER = """
mutation { createCustomer(input: {name: "Chi", email: "chi@example.com"}) { __typename } }
"""


async def test_a_malformed_datetime_is_an_input_error_not_a_masked_one(db: Database) -> None:
    # given an admin
    world = await make_world(db)
    before = await snapshot(db)
    async with client_for(db) as client:
        # when the due date is not a date, as a variable and as a literal
        as_variable = await gql(client, CREATE_INVOICE_DUE, {"due": "garbage"}, world.admin_token)
        as_literal = await gql(client, CREATE_INVOICE_LITERAL, None, world.admin_token)
    # then the client is told what is wrong, and nothing is written
    for body in (as_variable, as_literal):
        assert body.get("data") is None
        message = body["errors"][0]["message"]
        assert "DateTime" in message and message != "Unexpected Error"
    assert await snapshot(db) == before


async def test_an_unexpected_failure_is_masked_and_leaks_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a service that fails in a way nobody planned for
    world = await make_world(db)

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(admin, "create_customer", broken)
    async with client_for(db) as client:
        # when a client calls it
        body = await gql(client, CREATE_CUSTOMER, None, world.admin_token)
    # then it sees only "Unexpected Error", the code and the request id to quote
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Unexpected Error"
    assert set(error["extensions"]) == {"code", "requestId"}
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert re.fullmatch(r"[0-9a-f]{32}", error["extensions"]["requestId"])
    assert "secret" not in str(body) and "RuntimeError" not in str(body)
