"""Webhook endpoints over GraphQL (admins of the tenant only): the types, the
`webhookEndpoints` query and the mutations, each calling one service of app.webhooks.

`WebhookDelivery.event` is the contract's `Event` (app.api.graphql.events).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from app.api.graphql import errors as gql_errors
from app.api.graphql.context import Context
from app.api.graphql.errors import maps_domain_errors
from app.api.graphql.events import Event
from app.api.graphql.types import Node, PageInfo, decode_cursor, encode_cursor, page_info, page_size
from app.webhooks import endpoints as service

CURSOR = "whd"


@strawberry.enum
class DeliveryStatus(Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.type(description="One event for one endpoint: its state and its last attempt.")
class WebhookDelivery:
    id: strawberry.ID
    event: Event
    attempt: int = strawberry.field(description="Attempts made so far.")
    status: DeliveryStatus
    response_status: int | None
    duration_ms: int | None
    error: str | None
    next_attempt_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: service.Delivery) -> WebhookDelivery:
        row, last = delivery.row, delivery.last_attempt
        return cls(
            id=strawberry.ID(service.delivery_id(row.endpoint_id, delivery.event.id)),
            event=Event.of(delivery.event),
            attempt=row.attempts,
            status=DeliveryStatus(row.status),
            response_status=None if last is None else last.response_status,
            duration_ms=None if last is None else last.duration_ms,
            error=None if last is None else last.error,
            next_attempt_at=row.next_attempt_at if row.status == service.PENDING else None,
            created_at=row.created_at,
        )


@strawberry.type
class WebhookDeliveryEdge:
    cursor: str
    node: WebhookDelivery


@strawberry.type
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge]
    page_info: PageInfo


@strawberry.type
class WebhookEndpoint(Node):
    url: str
    event_types: list[str]
    enabled: bool
    description: str | None
    created_at: datetime

    @classmethod
    def of(cls, endpoint: service.Endpoint) -> WebhookEndpoint:
        row = endpoint.row
        return cls(
            id=strawberry.ID(row.id),
            url=row.url,
            event_types=list(endpoint.event_types),
            enabled=row.enabled,
            description=row.description,
            created_at=row.created_at,
        )

    @strawberry.field(description="Deliveries to this endpoint, newest event first.")
    async def deliveries(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> WebhookDeliveryConnection:
        size = page_size(first)
        before = decode_cursor(CURSOR, after)
        rows = await service.deliveries_page(info.context.db, str(self.id), before, size + 1)
        edges = [
            WebhookDeliveryEdge(
                cursor=encode_cursor(CURSOR, d.row.event_seq), node=WebhookDelivery.of(d)
            )
            for d in rows[:size]
        ]
        return WebhookDeliveryConnection(
            edges=edges,
            page_info=page_info([e.cursor for e in edges], len(rows) > size, after is not None),
        )


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    event_types: list[str]
    description: str | None = None


@strawberry.input
class UpdateWebhookEndpointInput:
    url: str | None = None
    event_types: list[str] | None = None
    enabled: bool | None = None
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it; left out, it stays."
    )


@strawberry.type(description="The endpoint and its secret, shown this once.")
class CreateWebhookEndpointSuccess:
    endpoint: WebhookEndpoint
    secret: str


@strawberry.type(description="The new secret, shown this once; the old one signs 24 h more.")
class RotateWebhookSecretSuccess:
    endpoint: WebhookEndpoint
    secret: str


@strawberry.type
class DeleteWebhookEndpointSuccess:
    id: strawberry.ID


CreateWebhookEndpointResult = Annotated[
    CreateWebhookEndpointSuccess | gql_errors.InvalidInput,
    strawberry.union("CreateWebhookEndpointResult"),
]
UpdateWebhookEndpointResult = Annotated[
    WebhookEndpoint | gql_errors.WebhookEndpointNotFound | gql_errors.InvalidInput,
    strawberry.union("UpdateWebhookEndpointResult"),
]
DeleteWebhookEndpointResult = Annotated[
    DeleteWebhookEndpointSuccess | gql_errors.WebhookEndpointNotFound,
    strawberry.union("DeleteWebhookEndpointResult"),
]
RotateWebhookSecretResult = Annotated[
    RotateWebhookSecretSuccess | gql_errors.WebhookEndpointNotFound,
    strawberry.union("RotateWebhookSecretResult"),
]
RedeliverEventResult = Annotated[
    WebhookDelivery | gql_errors.WebhookEndpointNotFound | gql_errors.EventNotFound,
    strawberry.union("RedeliverEventResult"),
]


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        description=f"Admin: the tenant's webhook endpoints (at most {service.MAX_ENDPOINTS})."
    )
    async def webhook_endpoints(self, info: Info[Context, None]) -> list[WebhookEndpoint]:
        principal = info.context.require_admin()
        rows = await service.list_endpoints(info.context.db, principal.tenant_id)
        return [WebhookEndpoint.of(row) for row in rows]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Admin: register a URL the tenant's events are POSTed to.")
    @maps_domain_errors
    async def create_webhook_endpoint(
        self, info: Info[Context, None], input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointResult:
        principal = info.context.require_admin()
        endpoint, secret = await service.create_endpoint(
            info.context.db,
            principal.tenant_id,
            input.url,
            input.event_types,
            input.description,
            allow_private=info.context.allow_private_webhooks,
        )
        return CreateWebhookEndpointSuccess(endpoint=WebhookEndpoint.of(endpoint), secret=secret)

    @strawberry.mutation(
        description="Admin: change an endpoint; enabling it again starts its failure count anew."
    )
    @maps_domain_errors
    async def update_webhook_endpoint(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateWebhookEndpointInput
    ) -> UpdateWebhookEndpointResult:
        principal = info.context.require_admin()
        given = input.description is not strawberry.UNSET  # left out, it stays
        changes = service.Changes(
            url=input.url,
            event_types=input.event_types,
            enabled=input.enabled,
            description=input.description if given else None,
            clear_description=given and input.description is None,
        )
        endpoint = await service.update_endpoint(
            info.context.db,
            principal.tenant_id,
            str(id),
            changes,
            allow_private=info.context.allow_private_webhooks,
        )
        return WebhookEndpoint.of(endpoint)

    @strawberry.mutation(description="Admin: delete an endpoint and its delivery records.")
    @maps_domain_errors
    async def delete_webhook_endpoint(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> DeleteWebhookEndpointResult:
        principal = info.context.require_admin()
        deleted = await service.delete_endpoint(info.context.db, principal.tenant_id, str(id))
        return DeleteWebhookEndpointSuccess(id=strawberry.ID(deleted))

    @strawberry.mutation(
        description="Admin: a new signing secret; the old one also signs for 24 hours."
    )
    @maps_domain_errors
    async def rotate_webhook_secret(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> RotateWebhookSecretResult:
        principal = info.context.require_admin()
        endpoint, secret = await service.rotate_secret(
            info.context.db, principal.tenant_id, str(id)
        )
        return RotateWebhookSecretSuccess(endpoint=WebhookEndpoint.of(endpoint), secret=secret)

    @strawberry.mutation(
        description="Admin: deliver an event to an endpoint again, now (attempts continue)."
    )
    @maps_domain_errors
    async def redeliver_event(
        self, info: Info[Context, None], endpoint_id: strawberry.ID, event_id: strawberry.ID
    ) -> RedeliverEventResult:
        principal = info.context.require_admin()
        delivery = await service.redeliver(
            info.context.db, principal.tenant_id, str(endpoint_id), str(event_id)
        )
        return WebhookDelivery.of(delivery)
