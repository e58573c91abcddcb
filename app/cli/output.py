"""What `invoicepay seed` and `invoicepay ledger verify` print: aligned tables for people,
one JSON object (`--json`) for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from app.api.rest import route as rest
from app.db.models import Invoice, Wallet
from app.kit.console import duration, table
from app.kit.money import find_currency, to_decimal
from app.ledger.verify import CHECKS, Violation
from app.refunds.service import RefundRows
from app.seed.bulk import BulkSeed
from app.seed.demo import TOKEN_TTL_SECONDS, DemoSeed

GRAPHQL_URL = "http://127.0.0.1:8000/graphql"
PAY_MUTATION = (
    'mutation { payInvoice(input: {invoiceNumber: 100123, currency: "NGN", amount: "5000.00"})'
    " { __typename ... on PayInvoiceSuccess"
    " { invoice { status balanceDue { amount currency } } } } }"
)
REST_URL = "http://127.0.0.1:8000/api/v1/billing/invoice/pay"


def money(minor: int, code: str) -> str:
    currency = find_currency(code)
    return f"{minor} {code}" if currency is None else f"{to_decimal(minor, currency)} {code}"


def _indent(text: str) -> list[str]:
    return [f"  {line}" for line in text.splitlines()]


def _terms(invoice: Invoice) -> str:
    if invoice.discount_percent and invoice.discount_until:
        return f"{invoice.discount_percent}% off until {invoice.discount_until:%Y-%m-%d}"
    return ""


def demo_summary(seed: DemoSeed) -> str:
    names = {seed.ada.id: seed.ada.name, seed.bola.id: seed.bola.name}
    wallets = sorted(seed.wallets, key=lambda w: (names[w.customer_id], w.currency))
    lines = [
        f"Demo tenant {seed.tenant.id} ({seed.tenant.name}):"
        f" {seed.created} new row(s) this run" + ("" if seed.created else ", already seeded"),
        "",
        "Customers:",
        *_indent(
            table(
                ("NAME", "EMAIL", "ID"),
                [(c.name, c.email, c.id) for c in (seed.ada, seed.bola)],
            )
        ),
        "",
        "Wallets:",
        *_indent(
            table(
                ("CUSTOMER", "BALANCE", "ID"),
                [(names[w.customer_id], money(w.balance, w.currency), w.id) for w in wallets],
            )
        ),
        "",
        "Invoices:",
        *_indent(
            table(
                ("NUMBER", "CUSTOMER", "TOTAL", "STATUS", "BALANCE DUE", "TERMS"),
                [
                    (
                        i.number,
                        names[i.customer_id],
                        money(i.total, i.currency),
                        i.status,
                        money(i.balance_due, i.currency),
                        _terms(i),
                    )
                    for i in seed.invoices
                ],
            )
        ),
        "",
        f"Tokens (valid {TOKEN_TTL_SECONDS // 3600} hours):",
        f"  ADA_TOKEN={seed.ada_token}",
        f"  BOLA_TOKEN={seed.bola_token}",
        f"  ADMIN_TOKEN={seed.admin_token}",
        "",
        "Pay 5000.00 NGN of invoice 100123 as Ada (with `invoicepay serve` running):",
        "",
        f"  curl -s {GRAPHQL_URL} \\",
        "    -H 'Content-Type: application/json' \\",
        f"    -H 'Authorization: Bearer {seed.ada_token}' \\",
        "    -d '" + json.dumps({"query": PAY_MUTATION}) + "'",
        "",
        "Or over the REST route (the seed document's own example):",
        "",
        f"  curl -s {REST_URL} \\",
        "    -H 'Content-Type: application/json' \\",
        f"    -H 'Authorization: Bearer {seed.ada_token}' \\",
        "    -d '" + json.dumps({**rest.SEED_EXAMPLE, "cloneId": seed.tenant.id}) + "'",
    ]
    return "\n".join(lines)


def _wallet_json(wallet: Wallet) -> dict[str, Any]:
    return {
        "id": wallet.id,
        "customer_id": wallet.customer_id,
        "currency": wallet.currency,
        "balance": money(wallet.balance, wallet.currency).split()[0],
    }


def _invoice_json(invoice: Invoice) -> dict[str, Any]:
    return {
        "number": invoice.number,
        "customer_id": invoice.customer_id,
        "currency": invoice.currency,
        "total": money(invoice.total, invoice.currency).split()[0],
        "status": invoice.status,
        "balance_due": money(invoice.balance_due, invoice.currency).split()[0],
    }


def demo_json(seed: DemoSeed) -> str:
    return json.dumps(
        {
            "tenant": {"id": seed.tenant.id, "name": seed.tenant.name},
            "created": seed.created,
            "customers": [
                {"id": c.id, "name": c.name, "email": c.email} for c in (seed.ada, seed.bola)
            ],
            "wallets": [_wallet_json(w) for w in seed.wallets],
            "invoices": [_invoice_json(i) for i in seed.invoices],
            "tokens": {"ada": seed.ada_token, "bola": seed.bola_token, "admin": seed.admin_token},
        }
    )


def _rows(seed: BulkSeed) -> dict[str, int]:
    inserted = seed.inserted
    return {
        "customers": inserted.customers,
        "wallets": inserted.wallets,
        "ledger_entries": inserted.ledger_entries,
        "invoices": inserted.invoices,
    }


def _rate(seed: BulkSeed) -> int:
    return round(seed.inserted.rows / seed.seconds) if seed.seconds else 0


def bulk_summary(seed: BulkSeed) -> str:
    rows = _rows(seed)
    numbers = seed.invoice_numbers
    lines = [
        f"Tenant {seed.tenant.id} ({seed.tenant.name}"
        + (", created" if seed.tenant_created else "")
        + f"): {seed.inserted.rows} rows in {duration(seed.seconds)}"
        f" ({_rate(seed):,} rows/s)",
        "",
        *_indent(table(("TABLE", "ROWS"), [*rows.items(), ("total", sum(rows.values()))])),
        "",
    ]
    if numbers:
        lines.append(
            f"Invoices {numbers[0]} to {numbers[-1]}, {money(seed.invoice_total, seed.currency)}"
            f" each, unpaid; every wallet holds {money(seed.wallet_funds, seed.currency)}."
        )
    lines += [
        f"First new customer: {seed.first_customer_id}",
        "",
        f"Tokens (valid {TOKEN_TTL_SECONDS // 3600} hours):",
        f"  ADMIN_TOKEN={seed.admin_token}",
        f"  CUSTOMER_TOKEN={seed.customer_token}",
    ]
    return "\n".join(lines)


def bulk_json(seed: BulkSeed) -> str:
    numbers = seed.invoice_numbers
    return json.dumps(
        {
            "tenant": {"id": seed.tenant.id, "name": seed.tenant.name},
            "tenant_created": seed.tenant_created,
            "rows": _rows(seed),
            "invoice_numbers": {"first": numbers[0], "last": numbers[-1]} if numbers else None,
            "currency": seed.currency,
            "invoice_total": money(seed.invoice_total, seed.currency).split()[0],
            "wallet_balance": money(seed.wallet_funds, seed.currency).split()[0],
            "first_customer_id": seed.first_customer_id,
            "seconds": round(seed.seconds, 3),
            "rows_per_second": _rate(seed),
            "tokens": {"admin": seed.admin_token, "customer": seed.customer_token},
        }
    )


def violation_table(violations: Sequence[Violation]) -> str:
    return table(
        ("CHECK", "SUBJECT", "DETAIL"), [(v.check, v.subject, v.detail) for v in violations]
    )


def _found(violations: Sequence[Violation], check: str) -> str:
    found = [v for v in violations if v.check == check]
    overflow = any(v.subject == "..." for v in found)
    return f"more than {len(found) - 1}" if overflow else str(len(found))


def verify_table(violations: Sequence[Violation], seconds: Sequence[float]) -> str:
    """One row per check: whether it passed, what it checks, how long it took."""
    rows = []
    for check, took in zip(CHECKS, seconds, strict=True):
        found = _found(violations, check.name)
        result = "ok" if found == "0" else f"FAILED ({found})"
        rows.append((check.name, result, f"{took:.2f}s", check.description))
    return table(("CHECK", "RESULT", "TIME", "WHAT IT CHECKS"), rows)


def verify_json(violations: Sequence[Violation], database: str, seconds: Sequence[float]) -> str:
    return json.dumps(
        {
            "ok": not violations,
            "database": database,
            "checks": [
                {
                    "name": check.name,
                    "description": check.description,
                    "ok": _found(violations, check.name) == "0",
                    "seconds": round(took, 3),
                }
                for check, took in zip(CHECKS, seconds, strict=True)
            ],
            "violations": [
                {"check": v.check, "subject": v.subject, "detail": v.detail} for v in violations
            ],
        }
    )


def refund_line(rows: RefundRows) -> str:
    """`invoicepay refund`'s answer: the refund, the credit and what is left."""
    refund, invoice = rows.refund, rows.invoice
    left = rows.payment.amount - sum(r.amount for r in rows.payment_refunds)
    return (
        f"refund {refund.id} of {money(refund.amount, refund.currency)} from payment"
        f" {refund.payment_id}: {money(refund.wallet_credit, refund.wallet_currency)}"
        f" credited to wallet {refund.wallet_id} (balance"
        f" {money(rows.wallet.balance, rows.wallet.currency)}); invoice {invoice.number}"
        f" {invoice.status}, {money(left, refund.currency)} left to refund"
    )
