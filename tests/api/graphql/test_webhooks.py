"""Webhook endpoints over GraphQL: admins of the tenant only, the secret shown on create
and rotation alone, another tenant's endpoint answered as a missing one, every bad input a
typed InvalidInput that writes nothing, and deliveries newest first."""

from __future__ import annotations

import base64
from typing import Any

from app.db.engine import Database
from tests.support import DEMO_CLONE, World, client_for, gql, make_world
from tests.support.receiver import receiver
from tests.support.webhooks import dispatcher, given_events, rows, settle

ENDPOINT_FIELDS = "id url eventTypes enabled description createdAt"
CREATE = f"""
mutation ($input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $input) {{
    __typename
    ... on CreateWebhookEndpointSuccess {{ secret endpoint {{ {ENDPOINT_FIELDS} }} }}
    ... on InvalidInput {{ field reason code }}
  }}
}}"""
UPDATE = f"""
mutation ($id: ID!, $input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(id: $id, input: $input) {{
    __typename
    ... on WebhookEndpoint {{ {ENDPOINT_FIELDS} }}
    ... on InvalidInput {{ field reason }}
    ... on WebhookEndpointNotFound {{ endpointId code }}
  }}
}}"""
DELETE = """
mutation ($id: ID!) {
  deleteWebhookEndpoint(id: $id) {
    __typename
    ... on DeleteWebhookEndpointSuccess { id }
    ... on WebhookEndpointNotFound { endpointId }
  }
}"""
ROTATE = """
mutation ($id: ID!) {
  rotateWebhookSecret(id: $id) {
    __typename
    ... on RotateWebhookSecretSuccess { secret endpoint { id } }
    ... on WebhookEndpointNotFound { endpointId }
  }
}"""
REDELIVER = """
mutation ($endpointId: ID!, $eventId: ID!) {
  redeliverEvent(endpointId: $endpointId, eventId: $eventId) {
    __typename
    ... on WebhookDelivery { id status attempt nextAttemptAt event { id type data } }
    ... on WebhookEndpointNotFound { endpointId }
    ... on EventNotFound { eventId }
  }
}"""
LIST = """
query ($first: Int, $after: String) {
  webhookEndpoints {
    id url eventTypes
    deliveries(first: $first, after: $after) {
      edges { cursor node {
        id attempt status responseStatus durationMs error nextAttemptAt createdAt
        event { id type createdAt data }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
HOOK = "http://127.0.0.1:9/hook"


async def create(
    client: Any, token: str, url: str = HOOK, types: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    variables = {"input": {"url": url, "eventTypes": types or ["invoice.created"], **extra}}
    answer = await gql(client, CREATE, variables, token)
    assert "errors" not in answer, answer
    result: dict[str, Any] = answer["data"]["createWebhookEndpoint"]
    return result


async def test_an_admin_creates_an_endpoint_and_sees_its_secret_once(db: Database) -> None:
    world = await make_world(db)
    async with client_for(db, webhook_allow_private=True) as client:
        made = await create(
            client,
            world.admin_token,
            types=["payment.succeeded", "invoice.created"],
            description="ERP",
        )
        assert made["__typename"] == "CreateWebhookEndpointSuccess"
        secret = made["secret"]
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
        endpoint = made["endpoint"]
        assert endpoint["id"].startswith("whe_")
        assert endpoint["eventTypes"] == ["invoice.created", "payment.succeeded"]
        assert (endpoint["enabled"], endpoint["description"]) == (True, "ERP")
        listed = await gql(client, LIST, {}, world.admin_token)
        assert [e["id"] for e in listed["data"]["webhookEndpoints"]] == [endpoint["id"]]
        assert "secret" not in str(listed)


async def test_a_customer_is_forbidden_and_another_tenant_sees_nothing(db: Database) -> None:
    world: World = await make_world(db)
    async with client_for(db, webhook_allow_private=True) as client:
        denied = await gql(
            client, CREATE, {"input": {"url": HOOK, "eventTypes": []}}, world.ada_token
        )
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        listed = await gql(client, LIST, {}, world.ada_token)
        assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        endpoint_id = (await create(client, world.admin_token))["endpoint"]["id"]
        other = world.other_admin_token
        assert (await gql(client, LIST, {}, other))["data"]["webhookEndpoints"] == []
        for document, variables in (
            (UPDATE, {"id": endpoint_id, "input": {"enabled": False}}),
            (DELETE, {"id": endpoint_id}),
            (ROTATE, {"id": endpoint_id}),
            (REDELIVER, {"endpointId": endpoint_id, "eventId": "evt_x"}),
        ):
            answer = (await gql(client, document, variables, other))["data"]
            assert next(iter(answer.values()))["__typename"] == "WebhookEndpointNotFound"
    assert await rows(db, "SELECT enabled FROM webhook_endpoints") == [(True,)]


async def test_bad_input_is_invalid_input_and_writes_nothing(db: Database) -> None:
    world = await make_world(db)
    cases = {
        ("https://127.0.0.1/hook", "invoice.created"): ("url", "PRIVATE_ADDRESS"),
        ("https://169.254.169.254/", "invoice.created"): ("url", "PRIVATE_ADDRESS"),
        ("https://10.0.0.1/hook", "invoice.created"): ("url", "PRIVATE_ADDRESS"),
        ("https://localhost/hook", "invoice.created"): ("url", "PRIVATE_ADDRESS"),
        ("http://127.0.0.1/hook", "invoice.created"): ("url", "NOT_HTTPS"),
        ("https://8.8.8.8/hook", "invoice.paid"): (
            "eventTypes",
            "UNKNOWN_EVENT_TYPE: invoice.paid",
        ),
    }
    async with client_for(db, environment="production") as client:
        for (url, type_), expected in cases.items():
            answer = await create(client, world.admin_token, url=url, types=[type_])
            assert answer["__typename"] == "InvalidInput", url
            assert (answer["field"], answer["reason"]) == expected
    assert await rows(db, "SELECT count(*) FROM webhook_endpoints") == [(0,)]
    async with client_for(db, environment="production", webhook_allow_private=True) as client:
        answer = await create(client, world.admin_token, url="http://127.0.0.1:8080/hook")
        assert answer["__typename"] == "CreateWebhookEndpointSuccess"


async def test_update_rotate_and_delete(db: Database) -> None:
    world = await make_world(db)
    async with client_for(db, webhook_allow_private=True) as client:
        made = await create(client, world.admin_token, description="first")
        endpoint_id = made["endpoint"]["id"]
        changed = (
            await gql(
                client,
                UPDATE,
                {
                    "id": endpoint_id,
                    "input": {"eventTypes": ["refund.succeeded"], "enabled": False},
                },
                world.admin_token,
            )
        )["data"]["updateWebhookEndpoint"]
        assert (changed["eventTypes"], changed["enabled"], changed["description"]) == (
            ["refund.succeeded"],
            False,
            "first",
        )
        cleared = (
            await gql(
                client,
                UPDATE,
                {"id": endpoint_id, "input": {"description": None}},
                world.admin_token,
            )
        )["data"]["updateWebhookEndpoint"]
        assert cleared["description"] is None
        bad = (
            await gql(
                client, UPDATE, {"id": endpoint_id, "input": {"eventTypes": []}}, world.admin_token
            )
        )["data"]["updateWebhookEndpoint"]
        assert (bad["__typename"], bad["field"], bad["reason"]) == (
            "InvalidInput",
            "eventTypes",
            "EMPTY",
        )
        rotated = (await gql(client, ROTATE, {"id": endpoint_id}, world.admin_token))["data"]
        assert rotated["rotateWebhookSecret"]["secret"] not in (made["secret"], None)
        assert await rows(db, "SELECT previous_secret FROM webhook_endpoints") == [
            (made["secret"],)
        ]
        deleted = (await gql(client, DELETE, {"id": endpoint_id}, world.admin_token))["data"]
        assert deleted["deleteWebhookEndpoint"] == {
            "__typename": "DeleteWebhookEndpointSuccess",
            "id": endpoint_id,
        }
    assert await rows(db, "SELECT count(*) FROM webhook_endpoints") == [(0,)]
    assert await rows(db, "SELECT count(*) FROM webhook_subscriptions") == [(0,)]


async def test_deliveries_newest_first_with_attempts_and_redelivery(db: Database) -> None:
    # given three delivered events, the first one after a failure
    world = await make_world(db)
    async with receiver([500]) as hook, client_for(db, webhook_allow_private=True) as client:
        endpoint_id = (await create(client, world.admin_token, url=hook.url))["endpoint"]["id"]
        events = await given_events(db, 3)
        await settle(dispatcher(db, (0.05,)))
        # when the admin pages through the deliveries, two at a time
        first = await gql(client, LIST, {"first": 2}, world.admin_token)
        connection = first["data"]["webhookEndpoints"][0]["deliveries"]
        after = connection["pageInfo"]["endCursor"]
        second = await gql(client, LIST, {"first": 2, "after": after}, world.admin_token)
        rest = second["data"]["webhookEndpoints"][0]["deliveries"]
        # then newest first, each with its attempts and the event as it was
        nodes = [e["node"] for e in connection["edges"] + rest["edges"]]
        assert [n["event"]["id"] for n in nodes] == [e.id for e in reversed(events)]
        assert connection["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
        assert {n["status"] for n in nodes} == {"SUCCEEDED"}
        assert sorted(n["attempt"] for n in nodes) == [1, 1, 2]
        assert nodes[-1]["event"]["data"] == {"n": 0}
        assert nodes[-1]["responseStatus"] == 200 and nodes[-1]["nextAttemptAt"] is None
        # when one is delivered again, it is PENDING and due now, and its count continues
        again = await gql(
            client,
            REDELIVER,
            {"endpointId": endpoint_id, "eventId": events[0].id},
            world.admin_token,
        )
        delivery = again["data"]["redeliverEvent"]
        assert (delivery["status"], delivery["attempt"]) == ("PENDING", 2)
        assert delivery["nextAttemptAt"] is not None
        missing = await gql(
            client, REDELIVER, {"endpointId": endpoint_id, "eventId": "evt_none"}, world.admin_token
        )
        assert missing["data"]["redeliverEvent"] == {
            "__typename": "EventNotFound",
            "eventId": "evt_none",
        }
    assert DEMO_CLONE
