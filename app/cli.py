"""`invoicepay`: migrate, create tenants, serve, seed demo data, issue tokens, verify the ledger.

Expected failures (domain errors, bad configuration) print one line to stderr and exit 1;
usage errors exit 2. Only `token` output is meant for scripts: the JWT alone on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import uvicorn
from sqlalchemy import exc, make_url

from app import admin, rest
from app.auth import issue_token
from app.config import ConfigError, Settings
from app.db import Database
from app.errors import DomainError
from app.migrate import current_revision, upgrade
from app.money import find_currency, to_decimal
from app.seed import TOKEN_TTL_SECONDS, DemoSeed, seed_demo
from app.verify import CHECKS, Violation, verify_ledger
from app.web import create_app

DEFAULT_TTL_SECONDS = 3600
GRAPHQL_URL = "http://127.0.0.1:8000/graphql"
PAY_MUTATION = (
    'mutation { payInvoice(input: {invoiceNumber: 100123, currency: "NGN", amount: "5000.00"})'
    " { __typename ... on PayInvoiceSuccess"
    " { invoice { status balanceDue { amount currency } } } } }"
)
REST_URL = "http://127.0.0.1:8000/api/v1/billing/invoice/pay"


T = TypeVar("T")
Handler = Callable[[argparse.Namespace, Settings], int]


def _clone_id(value: str) -> str:
    if not admin.CLONE_ID.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a clone id (24 lowercase hex digits)")
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer")
    return number


def _run(work: Callable[[Database], Coroutine[Any, Any, T]], settings: Settings) -> T:
    async def with_database() -> T:
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(with_database())


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# --- commands -------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    upgrade(settings.database_url)

    async def revision(db: Database) -> str | None:
        return await current_revision(db.engine)

    print(f"{_safe_url(settings.database_url)} is at revision {_run(revision, settings)}")
    return 0


def cmd_tenant_create(args: argparse.Namespace, settings: Settings) -> int:
    tenant = _run(lambda db: admin.create_tenant(db, args.clone_id, args.name), settings)
    print(f"created tenant {tenant.id} ({tenant.name})")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    create_app(settings)  # refuse to start on any unsafe setting (ConfigError), before forking
    access_log = not settings.is_production if args.access_log is None else args.access_log
    uvicorn.run(
        "app.web:serve_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # The fast event loop and HTTP parser (uvicorn[standard] installs both).
        loop="uvloop",
        http="httptools",
        access_log=access_log,
        log_level=settings.log_level.lower(),
        # The app reads X-Forwarded-For itself, and only from TRUSTED_PROXIES (app.guard).
        proxy_headers=False,
        server_header=False,
    )
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    seed = _run(lambda db: seed_demo(db, settings), settings)
    print(_demo_summary(seed))
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_can_issue_tokens()
    customer_id = None if args.admin else args.customer
    session = _run(
        lambda db: admin.create_session(
            db, args.clone, customer_id=customer_id, ttl_seconds=args.ttl
        ),
        settings,
    )
    print(issue_token(settings, session))
    print(
        f"session {session.jti} for {session.subject} ({session.scope}),"
        f" expires {session.expires_at:%Y-%m-%d %H:%M:%S} UTC",
        file=sys.stderr,
    )
    return 0


def cmd_session_register(args: argparse.Namespace, settings: Settings) -> int:
    """For tokens another party signs: register the `jti` it will use, and print (as JSON)
    the claims its token must carry for this service to accept it."""
    if args.subject is not None and not args.admin:
        print(
            "invoicepay: error: --subject is for --admin (a customer's sub is its id)",
            file=sys.stderr,
        )
        return 2
    session = _run(
        lambda db: admin.create_session(
            db,
            args.clone,
            customer_id=None if args.admin else args.customer,
            ttl_seconds=args.ttl,
            jti=args.jti,
            admin_subject=args.subject,
        ),
        settings,
    )
    claims = {
        "sub": session.subject,
        "clone_id": session.tenant_id,
        "scope": session.scope,
        "jti": session.jti,
        "exp": int(session.expires_at.timestamp()),
    }
    print(json.dumps(claims))
    return 0


def cmd_ledger_verify(args: argparse.Namespace, settings: Settings) -> int:
    progress = _progress_bar if sys.stderr.isatty() else None
    violations = _run(lambda db: verify_ledger(db, progress=progress), settings)
    if not violations:
        print(
            f"ledger OK: {len(CHECKS)} checks passed on {_safe_url(settings.database_url)},"
            " no violations"
        )
        return 0
    print(_violation_table(violations))
    print(f"\nledger BROKEN: {len(violations)} violation(s)")
    return 1


# --- output ---------------------------------------------------------------------------


def _progress_bar(done: int, total: int) -> None:
    end = "\n" if done == total else ""
    print(f"\rverifying ledger: check {done}/{total}", end=end, file=sys.stderr, flush=True)


def _violation_table(violations: Sequence[Violation]) -> str:
    rows = [("CHECK", "SUBJECT", "DETAIL")] + [(v.check, v.subject, v.detail) for v in violations]
    check_width = max(len(row[0]) for row in rows)
    subject_width = max(len(row[1]) for row in rows)
    return "\n".join(
        f"{check:<{check_width}}  {subject:<{subject_width}}  {detail}"
        for check, subject, detail in rows
    )


def _money(minor: int, code: str) -> str:
    currency = find_currency(code)
    return f"{minor} {code}" if currency is None else f"{to_decimal(minor, currency)} {code}"


def _demo_summary(seed: DemoSeed) -> str:
    names = {seed.ada.id: seed.ada.name, seed.bola.id: seed.bola.name}
    lines = [
        f"Demo tenant {seed.tenant.id} ({seed.tenant.name}):"
        f" {seed.created} new row(s) this run" + ("" if seed.created else ", already seeded"),
        "",
        "Customers:",
    ]
    lines += [f"  {c.name:<10} {c.email:<28} {c.id}" for c in (seed.ada, seed.bola)]
    lines += ["", "Wallets:"]
    lines += [
        f"  {names[w.customer_id]:<10} {_money(w.balance, w.currency):>14}   {w.id}"
        for w in sorted(seed.wallets, key=lambda w: (names[w.customer_id], w.currency))
    ]
    lines += ["", "Invoices:"]
    for invoice in seed.invoices:
        terms = ""
        if invoice.discount_percent and invoice.discount_until:
            terms = f"  {invoice.discount_percent}% off until {invoice.discount_until:%Y-%m-%d}"
        lines.append(
            f"  {invoice.number}  {names[invoice.customer_id]:<10}"
            f" {_money(invoice.total, invoice.currency):>14}  {invoice.status:<14}"
            f" balance due {_money(invoice.balance_due, invoice.currency)}{terms}"
        )
    lines += [
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


# --- parser ---------------------------------------------------------------------------


def _command(
    parent: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    summary: str,
    example: str,
) -> argparse.ArgumentParser:
    parser = parent.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="invoicepay",
        description="invoicepay: customers pay invoices from wallet balances.",
        epilog="example:\n  invoicepay migrate && invoicepay seed --demo && invoicepay serve",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    _command(
        commands,
        "migrate",
        cmd_migrate,
        "apply the database migrations to DATABASE_URL",
        "DATABASE_URL=postgresql+asyncpg://app@db/invoicepay invoicepay migrate",
    )

    tenant = commands.add_parser("tenant", help="manage tenants (clones)")
    tenant_commands = tenant.add_subparsers(title="commands", required=True, metavar="COMMAND")
    create = _command(
        tenant_commands,
        "create",
        cmd_tenant_create,
        "create a tenant (a white-label clone)",
        'invoicepay tenant create 64f000000000000000000002 --name "Demo Clone"',
    )
    create.add_argument("clone_id", metavar="CLONE_ID", type=_clone_id, help="24 hex digits")
    create.add_argument("--name", required=True, help="display name of the tenant")

    serve = _command(
        commands,
        "serve",
        cmd_serve,
        "run the API (GraphQL and GraphiQL at /graphql); needs JWT_SECRET of 32+ bytes",
        "JWT_SECRET=$(openssl rand -hex 32) invoicepay serve --host 0.0.0.0 --workers 4",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=_positive_int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=_positive_int, default=1, help="processes (default 1)")
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one line per request (default: on in development, off in production)",
    )

    seed = _command(
        commands,
        "seed",
        cmd_seed,
        "create demo data (tenant, customers, funded wallets, invoices) and print tokens;"
        " safe to run twice",
        "invoicepay seed --demo",
    )
    seed.add_argument("--demo", action="store_true", required=True, help="the demo tenant")

    token = _command(
        commands,
        "token",
        cmd_token,
        "register a session and print its JWT alone on stdout",
        "TOKEN=$(invoicepay token --clone 64f000000000000000000002 --customer cus_…)",
    )
    token.add_argument("--clone", required=True, type=_clone_id, help="tenant (clone) id")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", metavar="ID", help="customer id (scope payments)")
    who.add_argument("--admin", action="store_true", help="an operator of the tenant")
    token.add_argument(
        "--ttl",
        type=_positive_int,
        default=DEFAULT_TTL_SECONDS,
        metavar="SECONDS",
        help=f"lifetime in seconds (default {DEFAULT_TTL_SECONDS})",
    )

    session = commands.add_parser("session", help="sessions for tokens others sign")
    session_commands = session.add_subparsers(title="commands", required=True, metavar="COMMAND")
    register = _command(
        session_commands,
        "register",
        cmd_session_register,
        "register a session whose token your identity provider signs (JWT_PUBLIC_KEY or"
        " JWT_JWKS_URL); print, as JSON, the claims that token must carry (plus iat, kid)",
        "invoicepay session register --clone 64f000000000000000000002 --customer cus_…"
        " --jti 7d1c9e0a-login-42 --ttl 86400",
    )
    register.add_argument("--clone", required=True, type=_clone_id, help="tenant (clone) id")
    who = register.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", metavar="ID", help="customer id (scope payments)")
    who.add_argument("--admin", action="store_true", help="an operator of the tenant")
    register.add_argument("--jti", required=True, help="the token's jti (1-64 printable chars)")
    register.add_argument("--subject", help="with --admin: the token's sub (default random)")
    register.add_argument(
        "--ttl",
        type=_positive_int,
        default=DEFAULT_TTL_SECONDS,
        metavar="SECONDS",
        help=f"lifetime in seconds (default {DEFAULT_TTL_SECONDS})",
    )

    ledger = commands.add_parser("ledger", help="inspect the ledger")
    ledger_commands = ledger.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _command(
        ledger_commands,
        "verify",
        cmd_ledger_verify,
        "check every ledger invariant; exit 1 on any violation",
        "invoicepay ledger verify || echo 'ledger broken'",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2)
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        settings = Settings.from_env()
        handler: Handler = args.handler
        return handler(args, settings)
    except DomainError as error:
        print(f"invoicepay: error: {_describe(error)}", file=sys.stderr)
        return 1
    except ConfigError as error:
        print(f"invoicepay: configuration error: {error}", file=sys.stderr)
        return 1
    except (OSError, exc.DBAPIError) as error:
        # An unreachable or unmigrated database is an operating problem, not a bug.
        reason = getattr(error, "orig", None) or error
        first_line = str(reason).strip().splitlines()[0] if str(reason).strip() else repr(reason)
        print(f"invoicepay: database error: {first_line}", file=sys.stderr)
        return 1


def _describe(error: DomainError) -> str:
    fields = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(error).items())
    return f"{error.message} ({fields})" if fields else error.message
