"""`make bench` (`python -m bench.run`): how fast invoicepay pays and reads, next to what
PostgreSQL itself manages on this machine, in one run.

    (a) pgbench tpcb-like                 the database's limit for a debit transaction
    (b) the app's pay SQL, replayed       pgbench running what pay_invoice sends (bench.replay)
    (c) REST POST /api/v1/billing/invoice/pay
    (d) GraphQL payInvoice, with variables
    (e) reads: invoice(number), viewer { wallets }, a page of 50 invoices at 3 table sizes
    (f) the floor: the same payments by a hand-written Starlette + asyncpg app (bench.floor)
    (d) + webhooks: (d) again with an endpoint subscribed to payment.succeeded, delivered
        by serve's dispatcher to a receiver process on loopback (bench.receiver): pay
        throughput with and without webhooks, and delivery lag p50/p99 (bench.webhooks)

(b), (c), (d) and (f) run twice: many wallets (a random customer per request) and one hot
wallet (every request on one customer). A fresh database is created, seeded, served by
uvicorn as in production and dropped at the end; the load comes from another process.
Afterwards the ledger is verified and every payment a client saw succeed is matched
against the database. Output: a table on stdout, bench/results/<time>.json and
latest.json, and the chart bench/results/latest.png. Exit 1 when a request failed, a
payment went missing or the ledger is broken (missed targets too, with --strict).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import signal
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import graphql

from app.api.graphql.cost import document_cost
from app.api.graphql.limits import MAX_ALIASES
from app.api.graphql.schema import schema as graphql_schema
from app.config import Settings
from app.db.engine import Database
from app.db.migrate import upgrade
from bench import chart, measure, pgbench, profile, replay, report, seed, webhooks
from bench.audit import Paid, audit
from bench.capture import Event
from bench.cpu import Meter
from bench.database import Server, new_name, scratch_databases, server_url
from bench.measure import Result
from bench.probe import probe
from bench.progress import say
from bench.server import RATE_LIMIT, SERVERS, AppServer, FloorServer, app_env, floor_env
from bench.workload import FLOOR_REFERENCE, GRAPHQL_REFERENCE, REST_REFERENCE, heavy_query

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MEASUREMENTS = (
    "tpcb",
    "replay",
    "rest",
    "graphql",
    "webhooks",
    "reads",
    "pages",
    "starve",
    "floor",
)
HEAVY_CLIENTS = 2  # looping the heaviest allowed read beside the small reads


@dataclass(frozen=True)
class Options:
    duration: float
    warmup: float
    clients: int
    customers: int
    page_sizes: tuple[int, ...]
    scale: int
    workers: int
    only: tuple[str, ...]
    pin: bool
    strict: bool
    profile: bool
    results: Path
    database_url: str
    server: str = "uvicorn"


def _sizes(value: str) -> tuple[int, ...]:
    sizes = tuple(sorted(int(part) for part in value.split(",") if part.strip()))
    if not sizes or sizes[0] < 100:
        raise argparse.ArgumentTypeError("page sizes: comma-separated row counts of 100 or more")
    return sizes


def _only(value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = set(chosen) - set(MEASUREMENTS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(sorted(unknown))}")
    return chosen


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=(__doc__ or "").split("\n\n")[0],
        epilog="example: python -m bench.run --quick",
    )
    parser.add_argument("--duration", type=float, help="seconds measured per row (default 15)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per row (default 2)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--customers", type=int, help="customers paying (default 1000)")
    parser.add_argument(
        "--page-sizes",
        type=_sizes,
        help="invoice rows for the page measurements (default 10000,100000,1000000)",
    )
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale for (a), default 10")
    parser.add_argument("--workers", type=int, default=1, help="app worker processes (default 1)")
    parser.add_argument(
        "--server",
        choices=sorted(SERVERS),
        default="uvicorn",
        help="the app's HTTP server: uvicorn (`invoicepay serve`, default) or granian",
    )
    parser.add_argument(
        "--only", type=_only, default=MEASUREMENTS, help=f"subset of {','.join(MEASUREMENTS)}"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 3 s rows, 1 s warm-up, 200 customers, pages of 1k/10k/100k rows",
    )
    parser.add_argument(
        "--pin", action="store_true", help="pin the app to CPU 0 and the load generator to CPU 1"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the app with py-spy during each HTTP row: where its CPU time goes",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="output directory")
    parser.add_argument(
        "--database-url",
        default=server_url(),
        help="any database of the PostgreSQL server to use (env BENCH_DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    return Options(
        duration=args.duration or (3.0 if quick else 15.0),
        warmup=args.warmup if args.warmup is not None else (1.0 if quick else 2.0),
        clients=args.clients,
        customers=args.customers or (200 if quick else 1000),
        page_sizes=args.page_sizes
        or ((1000, 10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)),
        scale=args.scale,
        workers=args.workers,
        only=args.only,
        pin=args.pin,
        strict=args.strict,
        profile=args.profile,
        results=args.results,
        database_url=args.database_url,
        server=args.server,
    )


def _rows(count: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1000)):
        if count >= size and count % size == 0:
            return f"{count // size}{unit} rows"
    return f"{count} rows"


class Bench:
    """One run's state: the databases, the seeded accounts, the served app, the rows."""

    def __init__(self, options: Options, server: Server, app_db: str, tpcb_db: str, work: Path):
        self.options = options
        self.server = server
        self.app_db = app_db
        self.tpcb_db = tpcb_db
        self.work = work
        self.app_url = server.app_url(app_db)
        self.secret = secrets.token_urlsafe(48)
        self.settings = Settings(
            database_url=self.app_url,
            jwt_secret=self.secret,
            rate_limit=RATE_LIMIT,
            environment="production",
            graphiql=False,
        )
        self.meter = Meter()
        self.port = 0  # the app's, once it runs
        self.rows: list[Result] = []
        self.paid = {REST_REFERENCE: Paid(), GRAPHQL_REFERENCE: Paid(), FLOOR_REFERENCE: Paid()}
        self.replayed = 0
        self.pager_rows = 0
        self.may_checkpoint = True
        self.seeded: seed.Seeded | None = None
        self.events: list[Event] = []
        self.probes: dict[str, Any] = {}
        self.app_command: list[str] = []
        self.floor_command: list[str] = []

    def wants(self, name: str) -> bool:
        return name in self.options.only

    @property
    def accounts(self) -> seed.Seeded:
        assert self.seeded is not None, "prepare() first"
        return self.seeded

    # --- preparing -----------------------------------------------------------------------

    def prepare(self) -> None:
        say(f"migrating {self.app_db}")
        upgrade(self.app_url)
        say(
            f"seeding {self.options.customers} customers (one payment each), capturing the pay"
            " SQL, probing each kind of request"
        )
        asyncio.run(self._seed())
        if self.wants("tpcb"):
            say(f"pgbench -i -s {self.options.scale} in {self.tpcb_db}")
            pgbench.initialize(self.server, self.tpcb_db, self.options.scale)

    async def _seed(self) -> None:
        db = Database(self.app_url)
        try:
            self.seeded = await seed.seed(db, self.settings, self.options.customers)
            await seed.pay_once(db, self.seeded.payers)
            await self._grow(self.options.page_sizes[0])
            self.events = await replay.capture_pay(db, self.seeded.capture)
            specs = {
                kind: self.spec(kind, [self.seeded.capture])
                for kind in ("rest_pay", "graphql_pay", "invoice", "viewer")
            }
            specs["page"] = self.page_spec()
            self.probes = await probe(db, self.settings, specs)
        finally:
            await db.dispose()

    async def _grow(self, rows: int) -> None:
        await seed.grow_pager_invoices(self.server, self.app_db, self.pager_rows, rows)
        self.pager_rows = max(self.pager_rows, rows)

    def replay_script(self, *, hot: bool) -> replay.Replay:
        return replay.replay(
            self.events, self.accounts.capture, customers=self.options.customers, hot=hot
        )

    def spec(self, kind: str, targets: list[seed.Account]) -> dict[str, Any]:
        """What bench.load is to do (see its docstring)."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "clients": self.options.clients,
            "warmup": self.options.warmup,
            "duration": self.options.duration,
            "seed": secrets.randbelow(2**31),
            "kind": kind,
            "targets": [[t.token, t.customer_id, t.invoice_number] for t in targets],
        }

    def page_spec(self) -> dict[str, Any]:
        spec = self.spec("page", [self.accounts.pager])
        spec.update(page_first_number=seed.PAGE_BASE + 1, page_rows=self.pager_rows)
        return spec

    # --- measuring -----------------------------------------------------------------------

    def measure_all(self, app: AppServer) -> None:
        """Every wanted row, in table order, against the running `app`."""
        self.port = app.port
        payers, hot = list(self.accounts.payers), [self.accounts.payers[0]]
        if self.wants("tpcb"):
            self.pgbench_row("a", "pgbench tpcb-like", "-", self.tpcb_db, builtin="tpcb-like")
        if self.wants("replay"):
            for scenario in ("uniform", "hot"):
                script = self.work / f"pay-{scenario}.sql"
                script.write_text(self.replay_script(hot=scenario == "hot").script)
                row = self.pgbench_row(
                    "b", "pay SQL replayed (pgbench)", scenario, self.app_db, script=script
                )
                self.replayed += int(row.detail.get("processed", 0))
        for wanted, key, kind, name in (
            ("rest", "c", "rest_pay", "REST pay"),
            ("graphql", "d", "graphql_pay", "GraphQL payInvoice"),
        ):
            if self.wants(wanted):
                self.http_row(app, key, name, "uniform", self.spec(kind, payers))
                self.http_row(app, key, name, "hot", self.spec(kind, hot))
        if self.wants("webhooks"):
            self.webhooks_row(app, payers)
        if self.wants("reads"):
            self.http_row(app, "e", "invoice(number)", "uniform", self.spec("invoice", payers))
            self.http_row(app, "e", "viewer { wallets }", "uniform", self.spec("viewer", payers))
        if self.wants("pages"):
            for size in self.options.page_sizes:
                if size > self.pager_rows:
                    say(f"growing the pager's invoices to {size}")
                    asyncio.run(self._grow(size))
                row = self.http_row(app, "e", "invoices(first: 50)", _rows(size), self.page_spec())
                # every payer's invoice, the capture customer's, and the pager's
                row.detail["invoices_in_table"] = self.options.customers + 1 + self.pager_rows
        if self.wants("starve"):
            self.starve_row(app, payers)

    def measure_floor(self, floor: AppServer) -> None:
        """Row f: the payments of rows c and d (same customers, clients and amounts) by
        the hand-written floor, served alone in its own process (bench.floor)."""
        self.port = floor.port
        payers, hot = list(self.accounts.payers), [self.accounts.payers[0]]
        name = "floor (Starlette + asyncpg)"
        self.http_row(floor, "f", name, "uniform", self.spec("floor_pay", payers))
        self.http_row(floor, "f", name, "hot", self.spec("floor_pay", hot))

    def starve_row(self, app: AppServer, payers: list[seed.Account]) -> Result:
        """Small reads while other clients loop the heaviest read the cost limit allows: what
        the limit promises another customer (p99 against the reads row without it)."""
        aliases, cost = heaviest_allowed(self.settings.graphql_max_cost)
        heavy = self.page_spec()
        heavy.update(kind="heavy", clients=HEAVY_CLIENTS, heavy_aliases=aliases)
        say(f"    beside {HEAVY_CLIENTS} clients looping {aliases} pages of 100 (cost {cost})")
        with ThreadPoolExecutor(1) as pool:
            looping = pool.submit(measure.http_load, "e", "heavy read", "loop", heavy, self.meter)
            row = self.http_row(
                app,
                "e",
                "invoice(number) + heavy read",
                "starve",
                self.spec("invoice", payers),
            )
            try:
                loop, _ = looping.result()
            except measure.LoadFailed as failure:
                loop = measure.failed("e", "heavy read", "loop", str(failure))
        row.detail["heavy"] = {
            "aliases": aliases,
            "cost": cost,
            "max_cost": self.settings.graphql_max_cost,
            "throughput": loop.throughput,
            "latency_ms": loop.latency_ms,
            "errors": loop.errors,
            "error_samples": loop.error_samples,
        }
        say(f"    the heavy read: {loop.throughput:.1f} req/s, {loop.errors} errors")
        row.errors += loop.errors
        return row

    def webhooks_row(self, app: AppServer, payers: list[seed.Account]) -> Result:
        """Row d with an endpoint subscribed to payment.succeeded: serve's dispatcher POSTs
        each payment's event to bench.receiver while the load pays; once the load ends
        the deliveries drain and the endpoint is deleted (later rows pay without it)."""
        without = report.find(self.rows, "d", "uniform")
        if without is None:  # the same run's figure without webhooks, to compare with
            without = self.http_row(
                app, "d", "GraphQL payInvoice", "uniform", self.spec("graphql_pay", payers)
            )
        arrivals = self.work / "webhook-arrivals.jsonl"
        with webhooks.receiver_process(arrivals, self.work / "receiver.log") as port:
            url = f"http://127.0.0.1:{port}/hook"
            endpoint = asyncio.run(webhooks.subscribe(self.app_url, seed.TENANT, url))
            say(f"    an endpoint for payment.succeeded at {url}")
            row = self.http_row(
                app,
                "d",
                "GraphQL payInvoice + webhooks",
                "webhooks",
                self.spec("graphql_pay", payers),
            )
            pending = asyncio.run(webhooks.drain_and_delete(self.app_url, seed.TENANT, endpoint))
        figures = webhooks.lag_figures(webhooks.read_arrivals(arrivals))
        ratio = webhooks.throughput_ratio(row.throughput, without.throughput)
        row.detail["webhooks"] = {
            **figures,
            "pending_after_drain": pending,
            "throughput_without": without.throughput,
            "throughput_ratio": ratio,
        }
        lag = figures["lag_ms"]
        say(
            f"    {figures['events']} events delivered ({figures['duplicates']} repeated,"
            f" {pending} still pending); lag p50 {_ms(lag['p50'])} ms, p99 {_ms(lag['p99'])}"
            f" ms; pay throughput {row.throughput:.1f} req/s with, {without.throughput:.1f}"
            " without"
        )
        if pending:
            row.errors += pending  # a delivery that never arrived fails the run
        return row

    def checkpoint(self) -> None:
        """Start every measurement from a clean checkpoint, not mid-way through one."""
        if not self.may_checkpoint:
            return
        try:
            asyncio.run(self.server.execute("CHECKPOINT", self.app_db))
        except asyncpg.InsufficientPrivilegeError:
            say("CHECKPOINT not permitted for this role; measuring without it")
            self.may_checkpoint = False

    def pgbench_row(self, key: str, name: str, scenario: str, database: str, **how: Any) -> Result:
        say(f"({key}) {name} [{scenario}]: pgbench, {self.options.clients} clients")
        self.checkpoint()
        outcome = pgbench.run(
            self.server,
            database,
            self.meter,
            workdir=self.work,
            label=f"{key}-{scenario}",
            clients=self.options.clients,
            warmup=self.options.warmup,
            duration=self.options.duration,
            **how,
        )
        return self._add(measure.from_pgbench(key, name, scenario, outcome))

    def http_row(
        self, app: AppServer, key: str, name: str, scenario: str, spec: dict[str, Any]
    ) -> Result:
        say(f"({key}) {name} [{scenario}]: {spec['clients']} HTTP clients")
        self.checkpoint()
        cpus = "1" if self.options.pin else None
        profiler = None
        if self.options.profile and app.pid is not None:
            label = re.sub(r"[^a-z0-9]+", "-", f"{key} {name} {scenario}".lower()).strip("-")
            profiler = profile.Profiler(app.pid, self.options.results / f"profile-{label}.txt")
        try:
            row, load = measure.http_load(key, name, scenario, spec, self.meter, cpus=cpus)
        except measure.LoadFailed as failure:
            row, load = measure.failed(key, name, scenario, str(failure)), {}
        finally:
            if profiler is not None:
                summary = profiler.stop()
        if profiler is not None:
            row.detail["profile"] = summary.to_json()
        reference = {
            "rest_pay": REST_REFERENCE,
            "graphql_pay": GRAPHQL_REFERENCE,
            "floor_pay": FLOOR_REFERENCE,
        }.get(spec["kind"])
        if reference is not None and load:
            paid = self.paid[reference]
            paid.count += int(load["paid_count"])
            paid.minor += int(load["paid_minor"])
            paid.uncertain += int(load["uncertain"])
        if not app.alive():
            raise RuntimeError(f"the app died during ({key}):\n{app.log_tail()}")
        return self._add(row)

    def _add(self, row: Result) -> Result:
        self.rows.append(row)
        p99 = row.latency_ms.get("p99")
        say(
            f"    {row.throughput:.1f} req/s, p99 {_ms(p99)} ms, {row.errors} errors"
            + (f" ({row.error_samples[0]})" if row.error_samples else "")
        )
        return row


def heaviest_allowed(max_cost: int) -> tuple[int, int]:
    """The most aliased pages of the heavy read (at most MAX_ALIASES) whose cost the limit
    allows, and that cost, as the app computes it."""
    best = (0, 0)
    for aliases in range(1, MAX_ALIASES + 1):
        document = graphql.parse(heavy_query(aliases))
        cost = document_cost(graphql_schema._schema, document, None, {})
        if cost > max_cost:
            break
        best = (aliases, cost)
    if best[0] == 0:
        raise RuntimeError(f"not one page of the heavy read fits GRAPHQL_MAX_COST={max_cost}")
    return best


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # clean up as on Ctrl-C
    server = Server.parse(options.database_url)
    started = datetime.now(UTC)
    app_db = new_name()
    tpcb_db = f"{app_db}_tpcb"
    with (
        tempfile.TemporaryDirectory(prefix="invoicepay-bench-") as work,
        scratch_databases(server, app_db, tpcb_db),
    ):
        bench = Bench(options, server, app_db, tpcb_db, Path(work))
        bench.meter.postgres_pid = asyncio.run(server.postmaster_pid())
        bench.prepare()
        app = SERVERS[options.server](
            app_env(bench.app_url, bench.secret),
            Path(work) / "app.log",
            workers=options.workers,
            cpus="0" if options.pin else None,
        )
        try:
            say(f"starting the app ({options.server}, {options.workers} worker(s), production)")
            app.start()
            bench.meter.app_pid = app.pid
            bench.app_command = app.command()
            bench.measure_all(app)
        finally:
            app.stop()
        if bench.wants("floor"):
            floor = FloorServer(
                floor_env(bench.server.dsn(app_db), seed.TENANT),
                Path(work) / "floor.log",
                workers=options.workers,
                cpus="0" if options.pin else None,
            )
            try:
                say(f"starting the floor (bench.floor, {options.workers} worker(s))")
                floor.start()
                bench.meter.app_pid = floor.pid  # its CPU is row f's "app ms/req"
                bench.floor_command = floor.command()
                bench.measure_floor(floor)
            finally:
                floor.stop()
        say("verifying the ledger and matching every payment against the database")
        outcome = asyncio.run(audit(bench.app_url, bench.paid, bench.replayed, replay.REFERENCE))
    return output(options, bench, outcome, started)


def output(options: Options, bench: Bench, outcome: dict[str, Any], started: datetime) -> int:
    """The table on stdout, the JSON and the chart; the exit status."""
    rows = bench.rows
    ratios = report.ratios(rows)
    errors = sum(r.errors for r in rows)
    violations = outcome["ledger_violations"]
    checks = [
        report.Verdict(
            "nothing lost",
            "client successes = payments in the database",
            None,
            passed_override=bool(outcome["nothing_lost"]),
        ),
        report.Verdict(
            "ledger verify", f"{len(violations)} violation(s)", None, passed_override=not violations
        ),
        report.Verdict(
            "no errors",
            f"{errors} failed request(s) in measured windows",
            None,
            passed_override=errors == 0,
        ),
    ]
    captured = bench.replay_script(hot=False)
    data = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": {
            "cores": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
            "python": sys.version.split()[0],
        },
        "options": {
            **asdict(options),
            "results": str(options.results),
            "database_url": Server.parse(options.database_url).url.render_as_string(),
        },
        "app_command": bench.app_command,
        "floor_command": bench.floor_command,
        "results": [r.to_json() for r in rows],
        "verdicts": [v.to_json() for v in ratios + checks],
        "audit": outcome,
        "sql": {
            "pay_transaction": captured.describe(),
            "pay_statements": len(captured.statements),
            "per_request": bench.probes,
        },
        "replay_script": captured.script,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    report.write_json(options.results / f"{stamp}.json", data)
    report.write_json(options.results / "latest.json", data)
    title = (
        f"invoicepay bench {started:%Y-%m-%d %H:%M} UTC: {options.clients} clients,"
        f" {options.duration:g} s per row, {options.customers} customers, {os.cpu_count()} cores"
    )
    chart.draw(rows, ratios, title, options.results / "latest.png")

    rest = bench.probes.get("rest_pay", {})
    print(report.table(rows))
    print("\nratios (same run) and targets:")
    print(report.verdict_lines(ratios + checks))
    steps = captured.describe()
    print(
        f"\n(b) replays the pay SQL as the app sends it, {len(steps)} round trip(s):"
        f" {' | '.join(step.split(' ')[0] + ('…' if ' ' in step else '') for step in steps)}."
        f" One REST payment costs the app {rest.get('round_trips')} round trips:"
        f" {rest.get('statements')} statements, {rest.get('transactions')} explicit"
        f" transaction(s), {rest.get('pool_checkouts')} SQLAlchemy pool checkout(s)"
        + (" (each pre-pinged: BEGIN, ping, ROLLBACK)." if rest.get("pre_ping") else ".")
    )
    profiled = [r for r in rows if "profile" in r.detail]
    if profiled:
        print("\nwhere the app's CPU time went (py-spy, --profile):")
        for r in profiled:
            print(
                "\n".join(profile.lines(f"({r.key}) {r.name} [{r.scenario}]", r.detail["profile"]))
            )
    ledger = "clean" if not violations else f"BROKEN, {len(violations)} violation(s)"
    print(f"ledger verify after the run: {ledger}")
    for violation in violations[:10]:
        print(f"  {violation['check']}: {violation['subject']}: {violation['detail']}")
    print(f"\nwrote {options.results / f'{stamp}.json'}, latest.json and latest.png")
    broken = not outcome["nothing_lost"] or bool(violations) or errors > 0
    missed = any(v.passed is False for v in ratios)
    return 1 if broken or (options.strict and missed) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted; the app was stopped and the databases dropped")
        sys.exit(130)
