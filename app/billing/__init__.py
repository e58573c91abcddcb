"""What operators do in a tenant: tenants, customers, invoices, top-ups, voids and sessions
(`admin`)."""

from app.billing.admin import (
    NewInvoice,
    create_customer,
    create_invoice,
    create_session,
    create_tenant,
    revoke_session,
    top_up_wallet,
    void_invoice,
)

__all__ = [
    "NewInvoice",
    "create_customer",
    "create_invoice",
    "create_session",
    "create_tenant",
    "revoke_session",
    "top_up_wallet",
    "void_invoice",
]
