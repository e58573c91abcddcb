"""Read resolvers. Another customer's or tenant's object is answered exactly like a
missing one (null, or absent from a list)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql import lists
from app.api.graphql.context import Context
from app.api.graphql.events import EventConnection, event_node, events_page
from app.api.graphql.types import (
    MAX_WALLETS,
    Customer,
    Invoice,
    InvoiceConnection,
    InvoiceEdge,
    InvoiceStatus,
    Node,
    Payment,
    Refund,
    Wallet,
    decode_cursor,
    encode_cursor,
    page_info,
    page_size,
)
from app.api.graphql.webhooks import WebhookEndpoint, WebhookQuery
from app.db.models import ID_PREFIXES
from app.db.uow import UnitOfWork
from app.webhooks.endpoints import find_endpoint


@strawberry.type
class Query(WebhookQuery):
    @strawberry.field(description="The authenticated customer (null for an admin token).")
    async def viewer(self, info: Info[Context, None]) -> Customer | None:
        principal = info.context.require_principal()
        if principal.customer_id is None:
            return None
        row = await info.context.loaders.customer.load(principal.customer_id)
        if row is None or not info.context.can_see_customer(row):
            return None
        return Customer.of(row)

    @strawberry.field(description="The authenticated customer's wallet in `currency`.")
    async def wallet(self, info: Info[Context, None], currency: str) -> Wallet | None:
        principal = info.context.require_principal()
        if principal.customer_id is None:
            return None
        rows = await info.context.loaders.wallets_by_customer.load(principal.customer_id)
        return next((Wallet.of(row) for row in rows if row.currency == currency), None)

    @strawberry.field(
        description=f"The authenticated customer's wallets by currency (at most {MAX_WALLETS})."
    )
    async def wallets(self, info: Info[Context, None]) -> list[Wallet]:
        principal = info.context.require_principal()
        if principal.customer_id is None:
            return []
        rows = await info.context.loaders.wallets_by_customer.load(principal.customer_id)
        return [Wallet.of(row) for row in rows[:MAX_WALLETS]]

    @strawberry.field
    async def invoice(self, info: Info[Context, None], number: int) -> Invoice | None:
        principal = info.context.require_principal()
        async with UnitOfWork(info.context.db) as uow:
            row = await uow.invoices.get_by_number(principal.tenant_id, number)
        return Invoice.of(row) if row is not None and info.context.can_see(row) else None

    @strawberry.field(
        description="Invoices by number, keyset-paginated: `first` at most 100 (default 20)."
    )
    async def invoices(
        self,
        info: Info[Context, None],
        status: InvoiceStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> InvoiceConnection:
        principal = info.context.require_principal()
        size = page_size(first)
        after_number = decode_cursor("inv", after)
        if not principal.is_admin and principal.customer_id is None:
            return InvoiceConnection(edges=[], page_info=page_info([], False, False))
        async with UnitOfWork(info.context.db) as uow:
            rows = await uow.invoices.page(
                principal.tenant_id,
                customer_id=None if principal.is_admin else principal.customer_id,
                status=status.value if status is not None else None,
                after_number=after_number,
                limit=size + 1,
            )
        edges = [
            InvoiceEdge(cursor=encode_cursor("inv", row.number), node=Invoice.of(row))
            for row in rows[:size]
        ]
        return InvoiceConnection(
            edges=edges,
            page_info=page_info([e.cursor for e in edges], len(rows) > size, after is not None),
        )

    @strawberry.field
    async def payment(self, info: Info[Context, None], id: strawberry.ID) -> Payment | None:
        info.context.require_principal()
        row = await info.context.loaders.payment.load(str(id))
        return Payment.of(row) if row is not None and info.context.can_see(row) else None

    customers = strawberry.field(
        resolver=lists.customers,
        description="Admin only: the tenant's customers, newest first: `first` at most 100"
        " (default 20).",
    )
    customer = strawberry.field(
        resolver=lists.customer,
        description="A customer of the tenant (admin), or the caller itself (customer token).",
    )
    payments = strawberry.field(
        resolver=lists.payments,
        description="Payments, newest first: `first` at most 100 (default 20); an admin's"
        " of the tenant, a customer token's its own.",
    )

    @strawberry.field(
        description="Admin: the tenant's events, oldest first (the outbox), keyset-paginated:"
        " `first` at most 100 (default 20); `after` an edge cursor or an event id; `types`"
        " keeps only those event types."
    )
    async def events(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        types: list[str] | None = None,
    ) -> EventConnection:
        return await events_page(info.context, first, after, types)

    @strawberry.field(
        description="Any object by its id (`cus_…`, `wal_…`, `inv_…`, `pay_…`, `ref_…`; `evt_…`"
        " and `whe_…` for admins)."
    )
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        context = info.context
        principal = context.require_principal()
        prefix = str(id).partition("_")[0]
        loaders = context.loaders
        if prefix == ID_PREFIXES["customer"]:
            customer = await loaders.customer.load(str(id))
            ok = customer is not None and context.can_see_customer(customer)
            return Customer.of(customer) if ok and customer is not None else None
        if prefix == ID_PREFIXES["wallet"]:
            wallet = await loaders.wallet.load(str(id))
            return Wallet.of(wallet) if wallet is not None and context.can_see(wallet) else None
        if prefix == ID_PREFIXES["invoice"]:
            invoice = await loaders.invoice.load(str(id))
            return Invoice.of(invoice) if invoice is not None and context.can_see(invoice) else None
        if prefix == ID_PREFIXES["payment"]:
            payment = await loaders.payment.load(str(id))
            return Payment.of(payment) if payment is not None and context.can_see(payment) else None
        if prefix == ID_PREFIXES["refund"]:
            refund = await loaders.refund.load(str(id))
            return Refund.of(refund) if refund is not None and context.can_see(refund) else None
        if prefix == ID_PREFIXES["webhook_endpoint"] and principal.is_admin:
            endpoint = await find_endpoint(context.db, principal.tenant_id, str(id))
            return WebhookEndpoint.of(endpoint) if endpoint is not None else None
        if prefix == ID_PREFIXES["event"]:
            return await event_node(context, str(id))
        return None
