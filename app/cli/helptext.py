"""What `invoicepay … --help` says: per command a summary, a paragraph, examples and the
environment variables it reads.

Every example is a real invocation: tests/cli/test_cli_help.py runs each one against a
fresh test database holding the demo (`invoicepay seed --demo`), so they cannot rot.
"""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import dataclass
from typing import Any

from app.config import DEFAULT_DATABASE_URL
from app.seed.bulk import BULK_CLONE_ID
from app.seed.demo import DEMO_CLONE_ID

WIDTH = 88

ENVIRONMENT = {
    "DATABASE_URL": f"{DEFAULT_DATABASE_URL} (default) or postgresql+asyncpg://user@host/db",
    "JWT_SECRET": "HS256 key of at least 32 bytes; signs the tokens printed here",
    "JWT_PUBLIC_KEY": "PEM key: verify RS256/ES256 tokens an identity provider signs",
    "JWT_JWKS_URL": "JWKS endpoint: verify RS256/ES256 tokens by kid",
    "ENVIRONMENT": "production (default) or development (GraphiQL, access log)",
    "RATE_LIMIT": "payment attempts per customer and per client IP (default 60/minute)",
    "LOG_LEVEL": "INFO (default), DEBUG, WARNING …",
    "WEBHOOK_RETRY_SCHEDULE": "seconds between webhook attempts, comma-separated (~3 days)",
    "WEBHOOK_ALLOW_PRIVATE": "on: plain http and private addresses (default: development only)",
    "WEBHOOK_DISPATCHER": "off: serve sends no webhooks (run `webhooks run` instead)",
    "EVENT_RETENTION_DAYS": "days events and delivery records are kept (default 30)",
}
# The demo holds no webhook endpoint; tests/cli/test_cli_help.py adds these two before it
# runs the webhooks examples (a disabled endpoint: nothing is ever sent to it).
EXAMPLE_ENDPOINT_ID = "whe_5b1f0e3c9a7d4e2f8c6b0a19"
EXAMPLE_EVENT_ID = "evt_3e7a9c1b5d2f4a6e8c0b1d27"
WEBHOOK_ENVIRONMENT = (
    "DATABASE_URL",
    "WEBHOOK_RETRY_SCHEDULE",
    "WEBHOOK_ALLOW_PRIVATE",
    "EVENT_RETENTION_DAYS",
)
ENV_FILE_NOTE = "A .env file in the working directory is read too; real variables win."


@dataclass(frozen=True)
class Help:
    summary: str
    description: str
    examples: tuple[str, ...]
    environment: tuple[str, ...] = ("DATABASE_URL",)


COMMANDS: dict[str, Help] = {
    "": Help(
        "invoicepay: customers pay invoices from wallet balances",
        "Operate invoicepay: apply migrations, create tenants, seed demo or bulk data, issue"
        " tokens, run the GraphQL and REST API, and verify the ledger. Every command prints"
        " results on stdout and problems as one line on stderr (exit 1; usage errors exit"
        " 2). Run `invoicepay COMMAND --help` for a command's options and examples.",
        (
            "invoicepay migrate && invoicepay seed --demo",
            "invoicepay ledger verify",
        ),
        ("DATABASE_URL", "JWT_SECRET", "ENVIRONMENT"),
    ),
    "migrate": Help(
        "apply the database migrations to DATABASE_URL",
        "Bring the database named by DATABASE_URL up to the latest schema revision and print"
        " the revision it is at. Safe to run again: a migrated database is left as it is.",
        (
            "invoicepay migrate",
            "DATABASE_URL=sqlite+aiosqlite:///./invoicepay.db invoicepay migrate",
        ),
    ),
    "tenant": Help(
        "manage tenants (clones)",
        "A tenant (a white-label clone) owns customers, wallets and invoices; its id is 24"
        " lowercase hex digits.",
        ('invoicepay tenant create 64f0000000000000000000aa --name "Acme Ltd"',),
    ),
    "tenant create": Help(
        "create a tenant (a white-label clone)",
        "Create a tenant with the given clone id and display name. Fails (exit 1) if the"
        " id is taken or malformed.",
        ('invoicepay tenant create 64f0000000000000000000aa --name "Acme Ltd"',),
    ),
    "serve": Help(
        "run the API (GraphQL and GraphiQL at /graphql, REST at /api/v1)",
        "Serve the GraphQL API (GraphiQL at /graphql in development) and the REST payment"
        " route on uvloop and httptools. Refuses to start on an unsafe setting, such as a"
        " JWT_SECRET shorter than 32 bytes or a malformed BLOCKED_IPS.",
        (
            "invoicepay serve",
            "ENVIRONMENT=production invoicepay serve --host 0.0.0.0 --port 8000 --workers 4",
        ),
        (
            "DATABASE_URL",
            "JWT_SECRET",
            "JWT_PUBLIC_KEY",
            "JWT_JWKS_URL",
            "ENVIRONMENT",
            "RATE_LIMIT",
            "LOG_LEVEL",
            "WEBHOOK_DISPATCHER",
            "WEBHOOK_RETRY_SCHEDULE",
            "WEBHOOK_ALLOW_PRIVATE",
            "EVENT_RETENTION_DAYS",
        ),
    ),
    "seed": Help(
        "create demo data, or bulk data for load tests; print ready tokens",
        f"--demo creates the demo tenant {DEMO_CLONE_ID}: two customers, funded wallets and"
        " four invoices (100123 is 15000.00 NGN, payable from the first customer's NGN"
        " wallet), and prints them with fresh tokens; safe to run twice. --customers N adds N"
        " customers to a tenant (default"
        f" {BULK_CLONE_ID}, created if missing), each with a wallet funded to pay all its"
        " --invoices-per-customer M unpaid invoices, inserted in batches (COPY on"
        " PostgreSQL) with a progress bar on a terminal, and prints what it created. --json"
        " prints the same as one JSON object.",
        (
            "invoicepay seed --demo",
            "invoicepay seed --demo --json",
            "invoicepay seed --customers 200 --invoices-per-customer 50",
            "invoicepay seed --customers 10 --invoices-per-customer 3"
            " --tenant 64f0000000000000000000bb --no-progress --json",
        ),
        ("DATABASE_URL", "JWT_SECRET"),
    ),
    "token": Help(
        "register a session and print its JWT alone on stdout",
        "Register a session for a customer (by id or e-mail) or an operator of the tenant,"
        " and print its HS256 JWT alone on stdout, so scripts can capture it; the session"
        " and expiry go to stderr.",
        (
            f"invoicepay token --clone {DEMO_CLONE_ID} --customer ada@demo.invoicepay.test",
            f"TOKEN=$(invoicepay token --clone {DEMO_CLONE_ID} --admin --ttl 600)",
        ),
        ("DATABASE_URL", "JWT_SECRET"),
    ),
    "session": Help(
        "sessions for tokens others sign",
        "When an identity provider signs the tokens (JWT_PUBLIC_KEY or JWT_JWKS_URL), each"
        " token's jti must be registered here first.",
        (
            f"invoicepay session register --clone {DEMO_CLONE_ID}"
            " --customer ada@demo.invoicepay.test --jti idp-login-42",
        ),
    ),
    "session register": Help(
        "register a session for a token your identity provider signs",
        "Register the jti an identity provider (JWT_PUBLIC_KEY or JWT_JWKS_URL) will put in"
        " a token, for a customer (by id or e-mail) or an operator, and print as JSON the"
        " claims that token must carry (it adds iat, and kid for JWKS).",
        (
            f"invoicepay session register --clone {DEMO_CLONE_ID}"
            " --customer ada@demo.invoicepay.test --jti idp-login-42 --ttl 86400",
            f"invoicepay session register --clone {DEMO_CLONE_ID} --admin"
            " --subject ops@example.com --jti idp-admin-7",
        ),
    ),
    "refund": Help(
        "refund all or part of a payment into the wallet that paid it",
        "Refund a payment (its id, pay_…, e.g. from the GraphQL `payments` query) as an"
        " operator of its tenant: --amount in the invoice currency (default: all that is"
        " still refundable), credited to the paying wallet in its own currency, rounded"
        " down until the whole payment is refunded, which returns exactly what it debited."
        " Prints the refund; a refusal (nothing left to refund, a wrong amount, another"
        " tenant's payment with --clone) prints one line on stderr and exits 1.",
        (
            'invoicepay refund "$PAYMENT_ID" --amount 1000.00 --reason "charged twice"',
            f'invoicepay refund "$PAYMENT_ID" --clone {DEMO_CLONE_ID}',
        ),
    ),
    "ledger": Help(
        "inspect the ledger",
        "The ledger is append-only and balanced; `ledger verify` proves it.",
        ("invoicepay ledger verify",),
    ),
    "ledger verify": Help(
        "check every ledger invariant; exit 1 on any violation",
        "Run every ledger check (balanced transactions, wallet balances equal to their"
        " entries and never negative, invoices equal to their payments …) in one snapshot."
        " On a terminal it shows a progress bar per check and a table of checks; piped, it"
        " prints one line (or the violations); --json prints one JSON object. Exit 1 when"
        " any check fails.",
        (
            "invoicepay ledger verify",
            "invoicepay ledger verify --json --no-progress",
        ),
    ),
}


COMMANDS.update(
    {
        "webhooks": Help(
            "webhook endpoints, their deliveries, and the dispatcher",
            "Operators' view of webhooks across tenants: list the endpoints, show the"
            " deliveries of one (newest event first), deliver an event again, or run the"
            " dispatcher on its own (`serve` runs one in every process).",
            ("invoicepay webhooks list", f"invoicepay webhooks deliveries {EXAMPLE_ENDPOINT_ID}"),
        ),
        "webhooks list": Help(
            "list webhook endpoints (every tenant's, or one's)",
            "Print every webhook endpoint: its tenant, whether it is enabled, how many events"
            " in a row failed (10 disable it), its URL and event types. Secrets are never"
            " printed. --json prints a JSON array.",
            (
                "invoicepay webhooks list",
                "invoicepay webhooks list --clone 64f000000000000000000002 --json",
            ),
        ),
        "webhooks deliveries": Help(
            "show an endpoint's deliveries, newest event first",
            "Print the deliveries of one endpoint: the event, its status (PENDING, SUCCEEDED,"
            " FAILED), the attempts made, the last response or error, and when the next"
            " attempt is due.",
            (
                f"invoicepay webhooks deliveries {EXAMPLE_ENDPOINT_ID}",
                f"invoicepay webhooks deliveries {EXAMPLE_ENDPOINT_ID} --limit 50 --json",
            ),
        ),
        "webhooks redeliver": Help(
            "deliver an event to an endpoint again, now",
            "Make the delivery of an event to an endpoint PENDING and due now, whatever its"
            " status; new attempts continue its count. An event the endpoint never had is"
            " delivered to it for the first time.",
            (f"invoicepay webhooks redeliver {EXAMPLE_ENDPOINT_ID} {EXAMPLE_EVENT_ID}",),
        ),
        "webhooks run": Help(
            "run the webhook dispatcher alone, until SIGTERM",
            "Claim due deliveries, POST them signed, record every attempt and retry on"
            " WEBHOOK_RETRY_SCHEDULE, until SIGTERM or SIGINT; several can run on one"
            " PostgreSQL database without sending an event twice. --once sends what is due"
            " now and exits.",
            (
                "invoicepay webhooks run --once",
                "WEBHOOK_RETRY_SCHEDULE=5,60,600 invoicepay webhooks run --once",
            ),
            WEBHOOK_ENVIRONMENT,
        ),
    }
)


def epilog(help_: Help) -> str:
    width = max(len(name) for name in help_.environment)
    lines = ["Examples:", *(f"  {example}" for example in help_.examples), "", "Environment:"]
    lines += [f"  {name:<{width}}  {ENVIRONMENT[name]}" for name in help_.environment]
    lines += [f"  {ENV_FILE_NOTE}"]
    return "\n".join(lines)


def parser_options(path: str) -> dict[str, Any]:
    """`add_parser` / `ArgumentParser` keywords for the command at `path` ("ledger verify")."""
    help_ = COMMANDS[path]
    return {
        **({"help": help_.summary} if path else {}),
        "description": textwrap.fill(help_.description, WIDTH),
        "epilog": epilog(help_),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def examples(text: str) -> list[str]:
    """The example lines of a `--help` text."""
    block = text.split("\nExamples:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]
