"""Micro benchmark: our per-document cache (app/api/graphql/caches.py) against Strawberry's
`ParserCache` + `ValidationCache`, on the GraphQL payInvoice path.

Two figures per variant. Requests: the same payInvoice document (0.01 NGN payments, with
variables) through the ASGI app over httpx's ASGITransport, on a fresh SQLite database
(in /dev/shm when there is one, so no fsync); the variants alternate in blocks so drift
hits both; CPU µs of this process per request (the machine is shared: wall time is
mostly other processes' noise), mean over all blocks and the fastest block. Document step:
only the parse and validate hooks of each variant, run on the same document as often, as
the request figure's difference is within its noise; µs per document.

    .venv/bin/python -m bench.graphql_caches [--requests 3000] [--block 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from unittest import mock

import httpx
from graphql import specified_rules
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

import app.web
from app.api.graphql import schema as graphql_schema
from app.api.graphql.caches import MAX_DOCUMENTS, DocumentCache
from app.auth.tokens import issue_token
from app.billing import admin
from app.config import Settings
from app.db.engine import Database
from app.db.migrate import upgrade

TENANT = "64f0000000000000000000cc"
INVOICE = 500_001
PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    __typename
    ... on PayInvoiceSuccess { invoice { status balanceDue { amount currency } } }
  }
}
"""
VARIABLES = {"input": {"invoiceNumber": INVOICE, "currency": "NGN", "amount": "0.01"}}
WARM_UP = 100
# Only the parent of a private mkdtemp directory: the database's writes skip the disk.
RAM_DISK = Path("/dev/shm")  # noqa: S108


def strawberry_caches(schema: graphql_schema.Schema) -> graphql_schema.Schema:
    """The same schema with Strawberry's two caches where ours was (same bound)."""
    variant = graphql_schema.build_schema(locked=False)
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = []
    for extension in schema.extensions:
        if extension is DocumentCache:
            extensions += [
                lambda: ParserCache(maxsize=MAX_DOCUMENTS),
                lambda: ValidationCache(maxsize=MAX_DOCUMENTS),
            ]
        else:
            extensions.append(extension)
    variant.extensions = tuple(extensions)
    return variant


async def seed(db: Database, settings: Settings) -> str:
    await admin.create_tenant(db, TENANT, "Bench")
    ada = await admin.create_customer(db, TENANT, "Ada Bench", "ada@bench.example")
    await admin.top_up_wallet(db, TENANT, ada.id, "NGN", Decimal("1000000.00"))
    await admin.create_invoice(
        db,
        TENANT,
        admin.NewInvoice(number=INVOICE, customer_id=ada.id, currency="NGN", total=Decimal(10**6)),
    )
    session = await admin.create_session(db, TENANT, customer_id=ada.id, ttl_seconds=3600)
    return issue_token(settings, session)


async def timed_block(client: httpx.AsyncClient, token: str, count: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    started = time.process_time()
    for _ in range(count):
        response = await client.post(
            "/graphql", json={"query": PAY, "variables": VARIABLES}, headers=headers
        )
        typename = response.json()["data"]["payInvoice"]["__typename"]
        assert typename == "PayInvoiceSuccess", response.text
    return time.process_time() - started


def document_step(
    schema: graphql_schema.Schema, extensions: list[Callable[[], SchemaExtension]], count: int
) -> float:
    """Seconds for `count` runs of `extensions`' parse and validate hooks on PAY."""
    hooks = [factory() for factory in extensions]
    started = time.process_time()
    for _ in range(count):
        context = ExecutionContext(
            query=PAY,
            schema=schema,
            allowed_operations={OperationType.MUTATION},
            validation_rules=tuple(specified_rules),
        )
        for step in ("on_parse", "on_validate"):
            for hook in hooks:
                hook.execution_context = context
                for _ in getattr(hook, step)():
                    pass
        assert context.graphql_document is not None and context.pre_execution_errors == []
    return time.process_time() - started


def measure_document_step(count: int) -> dict[str, float]:
    schema = graphql_schema.schema
    variants: dict[str, list[Callable[[], SchemaExtension]]] = {
        "ours (DocumentCache)": [DocumentCache],
        "Strawberry ParserCache+ValidationCache": [
            lambda: ParserCache(maxsize=MAX_DOCUMENTS),
            lambda: ValidationCache(maxsize=MAX_DOCUMENTS),
        ],
    }
    best = {name: float("inf") for name in variants}
    for _ in range(3):
        for name, extensions in variants.items():
            best[name] = min(best[name], document_step(schema, extensions, count))
    return best


async def measure(url: str, requests: int, block: int) -> dict[str, list[float]]:
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        database_url=url,
        jwt_secret="bench-secret-" + "x" * 40,
        rate_limit="1000000/minute",
        environment="development",
    )
    db = Database(url, pool_size=1)
    try:
        token = await seed(db, settings)
        ours = graphql_schema.schema_for(settings)
        theirs = strawberry_caches(ours)
        variants: dict[str, Callable[[Settings], graphql_schema.Schema]] = {
            "ours (DocumentCache)": lambda _: ours,
            "Strawberry ParserCache+ValidationCache": lambda _: theirs,
        }
        clients = {}
        for name, schema_for in variants.items():
            with mock.patch.object(app.web, "schema_for", schema_for):
                asgi = app.web.create_app(settings, db=db)
            transport = httpx.ASGITransport(app=asgi)
            clients[name] = httpx.AsyncClient(transport=transport, base_url="http://bench")
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for client in clients.values():
            await timed_block(client, token, WARM_UP)
        for round_ in range(requests // block):
            # Each variant goes first in every other round: no order bias.
            for name, client in list(clients.items())[:: 1 if round_ % 2 else -1]:
                seconds[name].append(await timed_block(client, token, block))
        for client in clients.values():
            await client.aclose()
        return seconds
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--block", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=RAM_DISK if RAM_DISK.is_dir() else None) as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        seconds = asyncio.run(measure(url, args.requests, args.block))
    step = measure_document_step(args.requests)
    for name, blocks in seconds.items():
        mean = sum(blocks) / (len(blocks) * args.block) * 1e6
        best = min(blocks) / args.block * 1e6
        print(
            f"{name}: {mean:,.0f} µs/request mean, {best:,.0f} µs fastest block;"
            f" document step {step[name] / args.requests * 1e6:,.1f} µs"
        )


if __name__ == "__main__":
    main()
