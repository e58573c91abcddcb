"""refunds: the refunds table and the ledger entries' link to a refund

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=24), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("wallet_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("wallet_currency", sa.String(length=3), nullable=False),
        sa.Column("wallet_credit", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_invoice_id"), ["invoice_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        # A plain ADD COLUMN: a batch copy of the table would drop the append-only
        # triggers of ledger_entries (0001), and Alembic adds no constraint on SQLite.
        op.execute(
            "ALTER TABLE ledger_entries ADD COLUMN refund_id VARCHAR(40) REFERENCES refunds (id)"
        )
    else:
        op.add_column(
            "ledger_entries",
            sa.Column(
                "refund_id", sa.String(length=40), sa.ForeignKey("refunds.id"), nullable=True
            ),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE ledger_entries DROP COLUMN refund_id")
    else:
        op.drop_column("ledger_entries", "refund_id")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_payment_id"))
    op.drop_table("refunds")
