"""Tables (SQLModel). Amounts are integer minor units; ids are prefixed random strings.

A prefixed id (`cus_…`, `wal_…`, `inv_…`, `pay_…`, `ref_…`) is the object's one identifier
everywhere, including GraphQL `id` and `node(id)`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.attributes import manager_of_class
from sqlmodel import Field, SQLModel

ID_PREFIXES = {
    "customer": "cus",
    "wallet": "wal",
    "invoice": "inv",
    "payment": "pay",
    "refund": "ref",
    "event": "evt",
    "webhook_endpoint": "whe",
}


M = TypeVar("M", bound=SQLModel)

CUSTOMER_SUSPENDED = "SUSPENDED"  # `customers.status` of a customer who may not act


def as_loaded(model: type[M], **values: Any) -> M:
    """`model(**values)` for a row the database holds as it stands, built the way the ORM
    builds the rows it loads (no per-field events, ~30 times cheaper): for answers made
    from a statement's own results (app/payments/pg_store.py). Every column must be given."""
    manager = manager_of_class(model)
    if not manager.mapper.configured:
        configure_mappers()
    row: M = manager.new_instance()
    row.__dict__.update(values)
    return row


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Integer primary key that auto-increments on both backends.
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"
    id: str = Field(primary_key=True, max_length=24)
    name: str = Field(max_length=200)
    created_at: datetime = _created()


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "email"),
        # The admin list, newest first (app/api/graphql/lists.py).
        sa.Index("ix_customers_tenant_created", "tenant_id", "created_at", "id"),
    )
    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=24)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    status: str = Field(default="ACTIVE", max_length=16)  # or CUSTOMER_SUSPENDED
    created_at: datetime = _created()


class Wallet(SQLModel, table=True):
    __tablename__ = "wallets"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "currency"),
        sa.CheckConstraint("balance >= 0", name="wallet_balance_not_negative"),
    )
    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=24)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    currency: str = Field(max_length=3)
    balance: int = Field(default=0, sa_type=sa.BigInteger)
    created_at: datetime = _created()


class Invoice(SQLModel, table=True):
    __tablename__ = "invoices"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.Index("ix_invoices_customer_number", "customer_id", "number"),
        sa.CheckConstraint(
            "amount_paid >= 0 AND discount_applied >= 0"
            " AND amount_paid + discount_applied <= total",
            name="invoice_amounts_in_range",
        ),
    )
    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=24)
    number: int = Field(sa_type=sa.BigInteger)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    currency: str = Field(max_length=3)
    total: int = Field(sa_type=sa.BigInteger)
    amount_paid: int = Field(default=0, sa_type=sa.BigInteger)
    discount_applied: int = Field(default=0, sa_type=sa.BigInteger)
    status: str = Field(default="UNPAID", max_length=16)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    discount_percent: str | None = Field(default=None, max_length=16)
    discount_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()

    @property
    def balance_due(self) -> int:
        return self.total - self.discount_applied - self.amount_paid


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    # The lists newest first, by tenant, customer or invoice (app/api/graphql/lists.py).
    __table_args__ = (
        sa.Index("ix_payments_tenant_created", "tenant_id", "created_at", "id"),
        sa.Index("ix_payments_customer_created", "customer_id", "created_at", "id"),
        sa.Index("ix_payments_invoice_created", "invoice_id", "created_at", "id"),
    )
    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=24)
    invoice_id: str = Field(foreign_key="invoices.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    wallet_id: str = Field(foreign_key="wallets.id", max_length=40)
    currency: str = Field(max_length=3)
    amount: int = Field(sa_type=sa.BigInteger)
    wallet_currency: str = Field(max_length=3)
    wallet_debit: int = Field(sa_type=sa.BigInteger)
    exchange_rate: str = Field(max_length=40)
    discount: int = Field(default=0, sa_type=sa.BigInteger)
    reference: str | None = Field(default=None, max_length=200)
    memo: str | None = Field(default=None, max_length=1000)
    accounting_code: str | None = Field(default=None, max_length=100)
    idempotency_key: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()


class Refund(SQLModel, table=True):
    """Money of a payment given back to the wallet that paid it. `amount` is in the invoice
    currency, `wallet_credit` in the wallet's; `discount` is the early-payment discount the
    refund took back off the invoice (only a whole refund of a discounted payment has one).
    A payment's refunded amount and credit are the sums of its refunds."""

    __tablename__ = "refunds"
    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=24)
    payment_id: str = Field(foreign_key="payments.id", index=True, max_length=40)
    invoice_id: str = Field(foreign_key="invoices.id", index=True, max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    wallet_id: str = Field(foreign_key="wallets.id", max_length=40)
    currency: str = Field(max_length=3)
    amount: int = Field(sa_type=sa.BigInteger)
    wallet_currency: str = Field(max_length=3)
    wallet_credit: int = Field(sa_type=sa.BigInteger)
    discount: int = Field(default=0, sa_type=sa.BigInteger)
    reason: str | None = Field(default=None, max_length=200)
    idempotency_key: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()


class LedgerEntry(SQLModel, table=True):
    """Append-only: one row per account movement; a transaction's rows sum to zero per
    currency. Wallet rows carry the wallet's balance right after them."""

    __tablename__ = "ledger_entries"
    __table_args__ = (sa.Index("ix_ledger_wallet_id", "wallet_id", "id"),)
    id: int | None = Field(default=None, sa_type=AUTO_ID, primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=24)
    transaction_id: str = Field(index=True, max_length=40)
    kind: str = Field(max_length=16)
    account: str = Field(max_length=80)
    wallet_id: str | None = Field(default=None, foreign_key="wallets.id", max_length=40)
    payment_id: str | None = Field(default=None, foreign_key="payments.id", max_length=40)
    refund_id: str | None = Field(default=None, foreign_key="refunds.id", max_length=40)
    currency: str = Field(max_length=3)
    amount: int = Field(sa_type=sa.BigInteger)
    balance_after: int | None = Field(default=None, sa_type=sa.BigInteger)
    reference: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()


class AuthSession(SQLModel, table=True):
    """A token's session (`jti`): the account/token pair that must exist and not be revoked."""

    __tablename__ = "sessions"
    jti: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=24)
    subject: str = Field(max_length=64)
    scope: str = Field(max_length=100)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IdempotencyRecord(SQLModel, table=True):
    """One per (tenant, customer, key): the request's fingerprint and its first outcome."""

    __tablename__ = "idempotency_records"
    tenant_id: str = Field(primary_key=True, max_length=24)
    customer_id: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64)
    outcome: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _created()


class Event(SQLModel, table=True):
    """The transactional outbox: one row per committed change, written in the change's own
    transaction. `seq` orders every event (and so each tenant's); `data` is the JSON of the
    objects as the change left them."""

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("id", name="uq_events_id"),
        sa.Index("ix_events_tenant_seq", "tenant_id", "seq"),
        sa.Index("ix_events_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )
    seq: int | None = Field(default=None, sa_type=AUTO_ID, primary_key=True)
    id: str = Field(max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=24)
    type: str = Field(max_length=64)
    data: str = Field(sa_type=sa.Text)
    created_at: datetime = _created()


class WebhookEndpoint(SQLModel, table=True):
    """Where a tenant's events are POSTed. `secret` signs (Standard Webhooks); after a
    rotation `previous_secret` signs too, until `previous_secret_until`. `failed_events`
    counts the consecutive events whose delivery failed (10 disable the endpoint)."""

    __tablename__ = "webhook_endpoints"
    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=24)
    url: str = Field(max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = Field(default=True)
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_events: int = Field(default=0)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class WebhookSubscription(SQLModel, table=True):
    """An event type an endpoint takes: deliveries are made by joining on it."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (sa.Index("ix_webhook_subscriptions_tenant_type", "tenant_id", "event_type"),)
    endpoint_id: str = Field(
        sa_column=sa.Column(
            sa.String(40),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    tenant_id: str = Field(max_length=24)
    event_type: str = Field(primary_key=True, max_length=64)


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint (at most one: redelivery starts the same row again): made
    in the event's own transaction, claimed by a dispatcher (`claimed_until` is its lease),
    `PENDING` until it `SUCCEEDED` or `FAILED`."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
    )
    tenant_id: str = Field(max_length=24)
    endpoint_id: str = Field(
        sa_column=sa.Column(
            sa.String(40),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    event_seq: int = Field(
        sa_column=sa.Column(
            sa.BigInteger, sa.ForeignKey("events.seq", ondelete="CASCADE"), primary_key=True
        )
    )
    status: str = Field(default="PENDING", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class WebhookAttempt(SQLModel, table=True):
    """One POST of a delivery and what came back (at most 1 KiB of the body)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["endpoint_id", "event_seq"],
            ["webhook_deliveries.endpoint_id", "webhook_deliveries.event_seq"],
            ondelete="CASCADE",
        ),
        sa.Index("ix_webhook_attempts_delivery", "endpoint_id", "event_seq", "id"),
        {"sqlite_autoincrement": True},
    )
    id: int | None = Field(default=None, sa_type=AUTO_ID, primary_key=True)
    endpoint_id: str = Field(max_length=40)
    event_seq: int = Field(sa_type=sa.BigInteger)
    attempt: int
    status: str = Field(max_length=16)
    response_status: int | None = None
    response_body: str | None = Field(default=None, max_length=1024)
    duration_ms: int | None = None
    error: str | None = Field(default=None, max_length=500)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()
