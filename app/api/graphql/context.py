"""Per-request context: who is asking, and DataLoaders that batch every lookup."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from app.auth.tokens import Principal
from app.db import models
from app.db.engine import Database
from app.db.uow import UnitOfWork
from app.events.hub import EventHub
from app.http.gate import Gate

Row = TypeVar("Row", models.Customer, models.Wallet, models.Invoice, models.Payment, models.Refund)


class ClientError(GraphQLError):
    """A top-level error meant for the client (never masked): UNAUTHENTICATED, FORBIDDEN, …"""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


def unauthenticated() -> ClientError:
    return ClientError("Unauthorized", "UNAUTHENTICATED")


def forbidden() -> ClientError:
    return ClientError("Access denied", "FORBIDDEN")


def bad_input(message: str) -> ClientError:
    return ClientError(message, "BAD_USER_INPUT")


def _by_id(
    db: Database, fetch: Callable[[UnitOfWork, Sequence[str]], Awaitable[Sequence[Row]]]
) -> DataLoader[str, Row | None]:
    async def load(ids: list[str]) -> list[Row | None]:
        async with UnitOfWork(db) as uow:
            rows = {row.id: row for row in await fetch(uow, ids)}
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _grouped(
    db: Database,
    fetch: Callable[[UnitOfWork, Sequence[str]], Awaitable[Sequence[Row]]],
    key: Callable[[Row], str],
) -> DataLoader[str, list[Row]]:
    async def load(ids: list[str]) -> list[list[Row]]:
        groups: dict[str, list[Row]] = defaultdict(list)
        async with UnitOfWork(db) as uow:
            for row in await fetch(uow, ids):
                groups[key(row)].append(row)
        return [groups[i] for i in ids]

    return DataLoader(load_fn=load)


class Loaders:
    """Created per request: a cache never outlives the request that filled it. Each
    loader is made when first used (most requests use one or none)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @cached_property
    def customer(self) -> DataLoader[str, models.Customer | None]:
        return _by_id(self.db, lambda uow, ids: uow.customers.get_by_ids(ids))

    @cached_property
    def wallet(self) -> DataLoader[str, models.Wallet | None]:
        return _by_id(self.db, lambda uow, ids: uow.wallets.get_by_ids(ids))

    @cached_property
    def invoice(self) -> DataLoader[str, models.Invoice | None]:
        return _by_id(self.db, lambda uow, ids: uow.invoices.get_by_ids(ids))

    @cached_property
    def payment(self) -> DataLoader[str, models.Payment | None]:
        return _by_id(self.db, lambda uow, ids: uow.payments.get_by_ids(ids))

    @cached_property
    def payments_by_invoice(self) -> DataLoader[str, list[models.Payment]]:
        return _grouped(
            self.db, lambda uow, ids: uow.payments.for_invoices(ids), lambda p: p.invoice_id
        )

    @cached_property
    def refund(self) -> DataLoader[str, models.Refund | None]:
        return _by_id(self.db, lambda uow, ids: uow.refunds.get_by_ids(ids))

    @cached_property
    def refunds_by_payment(self) -> DataLoader[str, list[models.Refund]]:
        return _grouped(
            self.db, lambda uow, ids: uow.refunds.for_payments(ids), lambda r: r.payment_id
        )

    @cached_property
    def refunds_by_invoice(self) -> DataLoader[str, list[models.Refund]]:
        return _grouped(
            self.db, lambda uow, ids: uow.refunds.for_invoices(ids), lambda r: r.invoice_id
        )

    @cached_property
    def wallets_by_customer(self) -> DataLoader[str, list[models.Wallet]]:
        return _grouped(
            self.db, lambda uow, ids: uow.wallets.list_for_customers(ids), lambda w: w.customer_id
        )


@dataclass
class Context:
    db: Database
    principal: Principal | None
    gate: Gate | None = None
    client_ip: str = "unknown"
    events: EventHub | None = None
    # A websocket's context serves all its operations (app.api.graphql.subscriptions): the
    # token is kept to check it again for each, from the upgrade header or the
    # `connection_init` payload (Strawberry sets `connection_params`).
    websocket: bool = False
    authorization: str | None = None
    connection_params: dict[str, object] | None = None
    allow_private_webhooks: bool = False  # WEBHOOK_ALLOW_PRIVATE (app.webhooks.urls)
    # An HTTP request's principal is read once its document is known (app.web
    # `GraphQLApp.execute_operation`): until then `authenticated` is False. `paying`: the
    # request runs payInvoice fields only, each of whose reads confirms the session.
    authenticated: bool = True
    paying: bool = False
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db)

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise unauthenticated()
        if self.principal.suspended:
            raise forbidden()
        return self.principal

    def require_admin(self) -> Principal:
        principal = self.require_principal()
        if not principal.is_admin:
            raise forbidden()
        return principal

    def can_see(self, row: models.Wallet | models.Invoice | models.Payment | models.Refund) -> bool:
        """A customer sees only its own rows; an admin only its own tenant's."""
        return self._owns(row.tenant_id, row.customer_id)

    def can_see_customer(self, row: models.Customer) -> bool:
        return self._owns(row.tenant_id, row.id)

    def _owns(self, tenant_id: str, customer_id: str) -> bool:
        principal = self.require_principal()
        if tenant_id != principal.tenant_id:
            return False
        return principal.is_admin or customer_id == principal.customer_id
