"""The `events` query, `node(id: "evt_…")` and the `events` subscription, on both
backends: admins of the tenant only, oldest first, another tenant's events never seen,
and a subscription that reconnects with its last cursor receives every event once."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse

from app.api.graphql.cost import document_cost
from app.api.graphql.schema import schema
from app.db.engine import Database
from app.events import reader
from tests.support import DEMO_CLONE, OTHER_CLONE, World, gql, invoice, make_payment, make_world
from tests.support.websocket import serving

EVENTS = """
query Events($first: Int, $after: String, $types: [String!]) {
  events(first: $first, after: $after, types: $types) {
    edges { cursor node { id type createdAt data } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

SUBSCRIBE = """
subscription Events($after: String, $types: [String!]) {
  events(after: $after, types: $types) { id type data }
}
"""

# make_world's events of the demo tenant, oldest first
WORLD_EVENTS = [
    "customer.created",
    "customer.created",
    "wallet.topped_up",
    "wallet.topped_up",
    "wallet.topped_up",
]


@pytest.fixture
async def world(db: Database) -> World:
    return await make_world(db)


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def test_the_events_query_pages_the_tenants_events_oldest_first(
    db: Database, world: World
) -> None:
    async with serving(db) as served, served.http() as client:
        first = (await gql(client, EVENTS, {"first": 3}, world.admin_token))["data"]["events"]
        rest = (
            await gql(
                client,
                EVENTS,
                {"first": 3, "after": first["pageInfo"]["endCursor"]},
                world.admin_token,
            )
        )["data"]["events"]
        theirs = (await gql(client, EVENTS, {}, world.other_admin_token))["data"]["events"]
        topups = (await gql(client, EVENTS, {"types": ["wallet.topped_up"]}, world.admin_token))[
            "data"
        ]["events"]
    nodes = [edge["node"] for edge in first["edges"] + rest["edges"]]
    assert [node["type"] for node in nodes] == WORLD_EVENTS
    assert (first["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasNextPage"]) == (True, False)
    assert nodes[0]["data"]["customer"]["id"] == world.ada  # data is JSON, not a string
    assert nodes[2]["data"]["amount"] == {"amount": "50000.00", "currency": "NGN"}
    assert [node["id"][:4] for node in nodes] == ["evt_"] * 5
    # another tenant's admin sees only its own two
    assert [edge["node"]["type"] for edge in theirs["edges"]] == [
        "customer.created",
        "wallet.topped_up",
    ]
    assert {edge["node"]["id"] for edge in theirs["edges"]}.isdisjoint(n["id"] for n in nodes)
    assert [edge["node"]["id"] for edge in topups["edges"]] == [n["id"] for n in nodes[2:]]


async def test_events_are_for_the_tenants_admins_only(db: Database, world: World) -> None:
    [ours] = await reader.page(db, DEMO_CLONE, after=0, types=None, limit=1)
    [theirs] = await reader.page(db, OTHER_CLONE, after=0, types=None, limit=1)
    node = "query N($id: ID!) { node(id: $id) { id ... on Event { type data } } }"
    async with serving(db) as served, served.http() as client:
        # a customer token: FORBIDDEN, on the query and the subscription
        assert codes(await gql(client, EVENTS, {}, world.ada_token)) == ["FORBIDDEN"]
        async with served.socket(world.ada_token) as ws:
            await ws.subscribe("e", SUBSCRIBE)
            message = await ws.receive()
        assert message["type"] == "error"
        assert [e["extensions"]["code"] for e in message["payload"]] == ["FORBIDDEN"]
        # node(id): the tenant's admin sees its event; a customer or another tenant: null
        found = await gql(client, node, {"id": ours.id}, world.admin_token)
        assert found["data"]["node"]["type"] == "customer.created"
        for token, id_ in (
            (world.ada_token, ours.id),
            (world.admin_token, theirs.id),
            (world.other_admin_token, ours.id),
        ):
            assert (await gql(client, node, {"id": id_}, token))["data"] == {"node": None}


async def test_bad_event_arguments_are_refused(db: Database, world: World) -> None:
    async with serving(db) as served, served.http() as client:
        for variables in (
            {"types": ["payment.failed"]},
            {"after": "nonsense"},
            {"after": "evt_000000000000000000000000"},
            {"first": 101},
        ):
            body = await gql(client, EVENTS, variables, world.admin_token)
            assert body["data"] is None and codes(body) == ["BAD_USER_INPUT"], variables


def test_the_events_connection_is_costed_by_its_page() -> None:
    query = "{ events(first: 100) { edges { node { id data } } } }"
    assert document_cost(schema._schema, parse(query), None, None) == 201


async def test_a_subscription_resumed_with_its_last_cursor_misses_nothing_and_repeats_nothing(
    db: Database, world: World
) -> None:
    numbers = range(200, 206)
    for number in numbers:
        await invoice(db, number, world.ada, "10.00")
    async with serving(db) as served:
        async with served.socket(world.admin_token) as ws:
            # given an admin streaming the tenant's payments from now
            await ws.subscribe("e", SUBSCRIBE, {"types": ["payment.succeeded"]})
            await ws.silent()  # it replays nothing without a cursor
            paid = [await make_payment(db, world.ada, number, "10.00") for number in numbers[:2]]
            got = [(await ws.next("e"))["events"] for _ in paid]
        # when the connection drops, more payments commit, and it resubscribes with the
        # id of the last event it received
        paid += [await make_payment(db, world.ada, number, "10.00") for number in numbers[2:4]]
        async with served.socket(world.admin_token) as ws:
            variables = {"after": got[-1]["id"], "types": ["payment.succeeded"]}
            await ws.subscribe("e", SUBSCRIBE, variables)
            got += [(await ws.next("e"))["events"] for _ in range(2)]
            # then the replay joins the live stream without a gap or a repeat
            paid += [await make_payment(db, world.ada, number, "10.00") for number in numbers[4:]]
            got += [(await ws.next("e"))["events"] for _ in range(2)]
            await ws.silent()
    assert [event["data"]["payment"]["id"] for event in got] == paid
    assert len({event["id"] for event in got}) == len(paid)


async def test_the_querys_cursors_are_valid_after_for_the_subscription(
    db: Database, world: World
) -> None:
    async with serving(db) as served, served.http() as client:
        page = (await gql(client, EVENTS, {"first": 2}, world.admin_token))["data"]["events"]
        async with served.socket(world.admin_token) as ws:
            await ws.subscribe("e", SUBSCRIBE, {"after": page["pageInfo"]["endCursor"]})
            replayed = [(await ws.next("e"))["events"]["type"] for _ in WORLD_EVENTS[2:]]
            await ws.silent()
    assert replayed == WORLD_EVENTS[2:]
