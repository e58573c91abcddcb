"""invoicepay: customers pay their invoices from wallet balances."""
