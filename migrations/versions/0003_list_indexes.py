"""indexes for the dashboard lists: newest first, keyset on (created_at, id)

Each page of `customers` and `payments` (by tenant, customer or invoice) is then one
bounded index range scan, whatever the table size. The payments' (invoice_id, created_at,
id) index replaces the one on invoice_id alone, which it serves as its prefix.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("ix_customers_tenant_created", ["tenant_id", "created_at", "id"])
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_tenant_created", ["tenant_id", "created_at", "id"])
        batch_op.create_index("ix_payments_customer_created", ["customer_id", "created_at", "id"])
        batch_op.create_index("ix_payments_invoice_created", ["invoice_id", "created_at", "id"])
        batch_op.drop_index("ix_payments_invoice_id")


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_invoice_id", ["invoice_id"])
        batch_op.drop_index("ix_payments_invoice_created")
        batch_op.drop_index("ix_payments_customer_created")
        batch_op.drop_index("ix_payments_tenant_created")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_tenant_created")
