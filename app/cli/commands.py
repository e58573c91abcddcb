"""`invoicepay`: migrate, create tenants, serve, seed demo or bulk data, issue tokens,
refund payments, verify the ledger. Help texts and examples: app/cli/helptext.py; tables and
JSON: app/cli/output.py.

Expected failures (domain errors, unsafe configuration) print one line to stderr and exit 1;
usage errors, and an environment variable whose value is not of its form, exit 2. For
scripts: `token` prints the JWT alone on stdout, `seed` and `ledger verify` print one JSON
object with --json. Progress goes to stderr, on a terminal.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import logging.config
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import uvicorn
from sqlalchemy import exc, make_url

from app import errors
from app.auth.tokens import issue_token
from app.billing import admin
from app.cli import helptext as cli_help
from app.cli import output as cli_output
from app.cli import webhooks as cli_webhooks
from app.cli.database import run_with_database as _run
from app.config import BadSetting, ConfigError, Settings
from app.db.engine import Database
from app.db.migrate import current_revision, upgrade
from app.db.models import AuthSession
from app.db.uow import UnitOfWork
from app.errors import DomainError
from app.kit import console
from app.ledger.verify import CHECKS, verify_ledger
from app.observability import metrics
from app.observability.logs import uvicorn_log_config
from app.refunds import RefundPayment, refund_payment
from app.seed.bulk import BULK_CLONE_ID, seed_bulk
from app.seed.demo import seed_demo
from app.web import create_app

DEFAULT_TTL_SECONDS = 3600


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


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number (0 or more)")
    return int(value)


# DESIGN.md's one meaning of a money input: ASCII digits, no exponent, no sign but minus.
DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _decimal(value: str) -> Decimal:
    if not DECIMAL_TEXT.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a decimal amount such as 12.50")
    return Decimal(value)


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


def _announce_mode(settings: Settings) -> None:
    """Say at start which mode serves: a deploy left in development must show it."""
    logging.config.dictConfig(uvicorn_log_config(settings.log_format == "json"))
    log = logging.getLogger("uvicorn.error")
    if settings.is_production:
        log.info("serving in production mode (ENVIRONMENT=production)")
    else:
        log.warning(
            "serving in development mode: GraphiQL, introspection and /metrics are open; "
            "set ENVIRONMENT=production to deploy"
        )


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    create_app(settings)  # refuse to start on any unsafe setting (ConfigError), before forking
    _announce_mode(settings)
    access_log = not settings.is_production if args.access_log is None else args.access_log
    # On SIGTERM or SIGINT uvicorn stops accepting, lets in-flight requests finish (at most
    # --graceful-timeout), runs the app's shutdown (the pool closes), and then raises the
    # signal again for the handler it found: this one, so a clean stop exits 0.
    stopped = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with metrics.multiprocess_directory(args.workers):
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
                log_config=uvicorn_log_config(settings.log_format == "json"),
                timeout_graceful_shutdown=args.graceful_timeout,
                # How long a worker may take to answer the supervisor's health check, its
                # imports included: uvicorn's 5 s kills new workers of a busy machine in a loop.
                timeout_worker_healthcheck=30,
                # The app reads X-Forwarded-For itself, only from TRUSTED_PROXIES (app.http.guard).
                proxy_headers=False,
                server_header=False,
            )
    finally:
        for sig, handler in stopped.items():
            signal.signal(sig, handler)
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    if args.demo:
        if args.tenant is not None or args.invoices_per_customer is not None:
            return _usage_error("--tenant and --invoices-per-customer go with --customers")
        demo = _run(lambda db: seed_demo(db, settings), settings)
        print(cli_output.demo_json(demo) if args.json else cli_output.demo_summary(demo))
        return 0
    bar = console.ProgressBar("seeding", "rows") if console.wants_progress(args.progress) else None
    bulk = _run(
        lambda db: seed_bulk(
            db,
            settings,
            tenant_id=args.tenant or BULK_CLONE_ID,
            customers=args.customers,
            invoices_per_customer=(
                1 if args.invoices_per_customer is None else args.invoices_per_customer
            ),
            progress=bar,
        ),
        settings,
    )
    print(cli_output.bulk_json(bulk) if args.json else cli_output.bulk_summary(bulk))
    return 0


async def _customer_id(db: Database, clone_id: str, customer: str | None) -> str | None:
    """`--customer` is an id, or an e-mail looked up in the tenant."""
    if customer is None or "@" not in customer:
        return customer
    async with UnitOfWork(db) as uow:
        found = await uow.customers.get_by_email(clone_id, customer.strip().lower())
    if found is None:
        raise errors.CustomerNotFound(customer_id=customer)
    return found.id


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_can_issue_tokens()

    async def register(db: Database) -> AuthSession:
        customer_id = None if args.admin else await _customer_id(db, args.clone, args.customer)
        return await admin.create_session(
            db, args.clone, customer_id=customer_id, ttl_seconds=args.ttl
        )

    session = _run(register, settings)
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

    async def register(db: Database) -> AuthSession:
        return await admin.create_session(
            db,
            args.clone,
            customer_id=None if args.admin else await _customer_id(db, args.clone, args.customer),
            ttl_seconds=args.ttl,
            jti=args.jti,
            admin_subject=args.subject,
        )

    session = _run(register, settings)
    claims = {
        "sub": session.subject,
        "clone_id": session.tenant_id,
        "scope": session.scope,
        "jti": session.jti,
        "exp": int(session.expires_at.timestamp()),
    }
    print(json.dumps(claims))
    return 0


def cmd_refund(args: argparse.Namespace, settings: Settings) -> int:
    async def refund(db: Database) -> str:
        tenant = args.clone
        if tenant is None:
            # An operator of the database acts in the payment's own tenant.
            async with UnitOfWork(db) as uow:
                payment = await uow.payments.get(args.payment_id)
            if payment is None:
                raise errors.PaymentNotFound(payment_id=args.payment_id)
            tenant = payment.tenant_id
        command = RefundPayment(
            tenant_id=tenant, payment_id=args.payment_id, amount=args.amount, reason=args.reason
        )
        try:
            result = await refund_payment(db, command)
        except errors.InvalidRequest as error:
            raise errors.InvalidInput(field=error.field, reason=error.reason) from None
        assert result.rows is not None  # no key, so never a replay
        return cli_output.refund_line(result.rows)

    print(_run(refund, settings))
    return 0


def cmd_ledger_verify(args: argparse.Namespace, settings: Settings) -> int:
    bar = None
    if console.wants_progress(args.progress):
        bar = console.ProgressBar("verifying ledger", "checks")
    seconds: list[float] = []
    last = time.monotonic()

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        seconds.append(now - last)
        last = now
        if bar is not None:
            bar(done, total, note=CHECKS[done].name if done < total else "")

    if bar is not None:
        bar(0, len(CHECKS), note=CHECKS[0].name)
    violations = _run(lambda db: verify_ledger(db, progress=progress), settings)
    database = _safe_url(settings.database_url)
    if args.json:
        print(cli_output.verify_json(violations, database, seconds))
        return 1 if violations else 0
    if console.stdout_is_terminal():
        print(cli_output.verify_table(violations, seconds), end="\n\n")
    if not violations:
        print(f"ledger OK: {len(CHECKS)} checks passed on {database}, no violations")
        return 0
    print(cli_output.violation_table(violations))
    print(f"\nledger BROKEN: {len(violations)} violation(s)")
    return 1


# --- output ---------------------------------------------------------------------------


def _usage_error(message: str) -> int:
    print(f"invoicepay: error: {message}", file=sys.stderr)
    return 2


# --- parser ---------------------------------------------------------------------------


def _command(
    parent: argparse._SubParsersAction[argparse.ArgumentParser], path: str, handler: Handler
) -> argparse.ArgumentParser:
    """The parser of the command at `path` ("ledger verify"), its help from app.cli.helptext."""
    parser = parent.add_parser(path.split()[-1], **cli_help.parser_options(path))
    parser.set_defaults(handler=handler)
    return parser


def _group(
    parent: argparse._SubParsersAction[argparse.ArgumentParser], path: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A command of commands ("ledger"); its help lists them and their examples."""
    group = parent.add_parser(path, **cli_help.parser_options(path))
    return group.add_subparsers(title="commands", required=True, metavar="COMMAND")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (for scripts) instead of tables"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar on stderr (default: only when stderr is a terminal)",
    )


def _who(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clone", required=True, type=_clone_id, metavar="CLONE_ID", help="tenant (clone) id"
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--customer", metavar="ID|EMAIL", help="customer id or e-mail (scope payments)"
    )
    who.add_argument("--admin", action="store_true", help="an operator of the tenant")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invoicepay", **cli_help.parser_options(""))
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    _command(commands, "migrate", cmd_migrate)

    create = _command(_group(commands, "tenant"), "tenant create", cmd_tenant_create)
    create.add_argument("clone_id", metavar="CLONE_ID", type=_clone_id, help="24 hex digits")
    create.add_argument("--name", required=True, help="display name of the tenant")

    serve = _command(commands, "serve", cmd_serve)
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=_positive_int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=_positive_int, default=1, help="processes (default 1)")
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one line per request (default: on in development, off in production)",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=_positive_int,
        default=30,
        metavar="SECONDS",
        help="on SIGTERM, how long in-flight requests may take to finish (default 30)",
    )

    seed = _command(commands, "seed", cmd_seed)
    what = seed.add_mutually_exclusive_group(required=True)
    what.add_argument("--demo", action="store_true", help="the demo tenant (safe to run twice)")
    what.add_argument(
        "--customers", type=_positive_int, metavar="N", help="add N customers with invoices"
    )
    seed.add_argument(
        "--invoices-per-customer",
        type=_count,
        metavar="M",
        help="with --customers: unpaid invoices per customer (default 1)",
    )
    seed.add_argument(
        "--tenant",
        type=_clone_id,
        metavar="CLONE_ID",
        help=f"with --customers: the tenant, created if missing (default {BULK_CLONE_ID})",
    )
    _output_options(seed)

    token = _command(commands, "token", cmd_token)
    _who(token)
    token.add_argument(
        "--ttl",
        type=_positive_int,
        default=DEFAULT_TTL_SECONDS,
        metavar="SECONDS",
        help=f"lifetime in seconds (default {DEFAULT_TTL_SECONDS})",
    )

    register = _command(_group(commands, "session"), "session register", cmd_session_register)
    _who(register)
    register.add_argument("--jti", required=True, help="the token's jti (1-64 printable chars)")
    register.add_argument("--subject", help="with --admin: the token's sub (default random)")
    register.add_argument(
        "--ttl",
        type=_positive_int,
        default=DEFAULT_TTL_SECONDS,
        metavar="SECONDS",
        help=f"lifetime in seconds (default {DEFAULT_TTL_SECONDS})",
    )

    refund = _command(commands, "refund", cmd_refund)
    refund.add_argument("payment_id", metavar="PAYMENT_ID", help="the payment (pay_…)")
    refund.add_argument(
        "--amount",
        type=_decimal,
        metavar="A",
        help="in the invoice currency (default: all that is still refundable)",
    )
    refund.add_argument("--reason", metavar="R", help="why, kept on the refund (200 chars)")
    refund.add_argument(
        "--clone",
        type=_clone_id,
        metavar="CLONE_ID",
        help="refund only if the payment is this tenant's (default: the payment's tenant)",
    )

    verify = _command(_group(commands, "ledger"), "ledger verify", cmd_ledger_verify)
    _output_options(verify)

    _webhook_commands(_group(commands, "webhooks"))
    return parser


def _webhook_commands(hooks: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    json_help = "print JSON (for scripts) instead of a table"
    listing = _command(hooks, "webhooks list", cli_webhooks.cmd_list)
    listing.add_argument("--clone", type=_clone_id, metavar="CLONE_ID", help="one tenant's only")
    listing.add_argument("--json", action="store_true", help=json_help)
    deliveries = _command(hooks, "webhooks deliveries", cli_webhooks.cmd_deliveries)
    deliveries.add_argument("endpoint_id", metavar="ENDPOINT_ID", help="whe_…")
    deliveries.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N", help="newest N (default 20)"
    )
    deliveries.add_argument("--json", action="store_true", help=json_help)
    again = _command(hooks, "webhooks redeliver", cli_webhooks.cmd_redeliver)
    again.add_argument("endpoint_id", metavar="ENDPOINT_ID", help="whe_…")
    again.add_argument("event_id", metavar="EVENT_ID", help="evt_…")
    run = _command(hooks, "webhooks run", cli_webhooks.cmd_run)
    run.add_argument(
        "--once", action="store_true", help="send what is due now, then exit (for cron or tests)"
    )


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
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except BrokenPipeError:
        # The reader (`| head`) left: nothing more to say, and no "Exception ignored" at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except DomainError as error:
        _fail(f"error: {_describe(error)}")
        return 1
    except BadSetting as error:
        # A value not of its variable's form is a usage error: no traceback, exit 2.
        _fail(f"configuration error: {error}")
        return 2
    except ConfigError as error:
        _fail(f"configuration error: {error}")
        return 1
    except (OSError, exc.DBAPIError) as error:
        # An unreachable or unmigrated database is an operating problem, not a bug.
        reason = getattr(error, "orig", None) or error
        first_line = str(reason).strip().splitlines()[0] if str(reason).strip() else repr(reason)
        _fail(f"database error: {first_line}")
        return 1


def _fail(message: str) -> None:
    """One line on stderr, on a line of its own even when a progress bar was drawing."""
    console.end_progress_lines()
    print(f"invoicepay: {message}", file=sys.stderr)


def _describe(error: DomainError) -> str:
    fields = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(error).items())
    return f"{error.message} ({fields})" if fields else error.message
