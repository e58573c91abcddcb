"""`invoicepay webhooks`: list endpoints, show an endpoint's deliveries, deliver an event
again, and run the dispatcher alone (`run`; `serve` runs one too). Operators' commands:
every tenant's endpoints, never their secrets."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from typing import TypeVar

from app.cli.database import run_with_database as _run
from app.config import Settings
from app.db.engine import Database
from app.kit.console import table
from app.webhooks import endpoints
from app.webhooks.dispatcher import Dispatcher

T = TypeVar("T")


def _when(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    found = _run(lambda db: endpoints.list_endpoints(db, args.clone), settings)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": e.row.id,
                        "tenant": e.row.tenant_id,
                        "url": e.row.url,
                        "event_types": list(e.event_types),
                        "enabled": e.row.enabled,
                        "failed_events": e.row.failed_events,
                        "description": e.row.description,
                    }
                    for e in found
                ]
            )
        )
        return 0
    if not found:
        print("no webhook endpoints")
        return 0
    print(
        table(
            ("ENDPOINT", "TENANT", "ENABLED", "FAILED", "URL", "EVENT TYPES"),
            [
                (
                    e.row.id,
                    e.row.tenant_id,
                    "yes" if e.row.enabled else "no",
                    e.row.failed_events,
                    e.row.url,
                    ",".join(e.event_types),
                )
                for e in found
            ],
        )
    )
    return 0


def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    async def page(db: Database) -> list[endpoints.Delivery]:
        await endpoints.get_endpoint(db, None, args.endpoint_id)
        return await endpoints.deliveries_page(db, args.endpoint_id, None, args.limit)

    found = _run(page, settings)
    rows = [
        (
            d.event.id,
            d.event.type,
            d.row.status,
            d.row.attempts,
            "-" if d.last_attempt is None else d.last_attempt.response_status or "-",
            "-" if d.last_attempt is None else d.last_attempt.error or "-",
            _when(d.row.next_attempt_at if d.row.status == endpoints.PENDING else None),
        )
        for d in found
    ]
    if args.json:
        keys = ("event", "type", "status", "attempts", "response", "error", "next_attempt")
        print(json.dumps([dict(zip(keys, map(str, row), strict=True)) for row in rows]))
        return 0
    if not rows:
        print(f"no deliveries to {args.endpoint_id} yet")
        return 0
    headers = ("EVENT", "TYPE", "STATUS", "ATTEMPTS", "RESPONSE", "ERROR", "NEXT ATTEMPT")
    print(table(headers, rows))
    return 0


def cmd_redeliver(args: argparse.Namespace, settings: Settings) -> int:
    async def again(db: Database) -> endpoints.Delivery:
        endpoint = await endpoints.get_endpoint(db, None, args.endpoint_id)
        return await endpoints.redeliver(db, endpoint.tenant_id, endpoint.id, args.event_id)

    delivery = _run(again, settings)
    print(
        f"{delivery.event.id} to {delivery.row.endpoint_id}: PENDING, due now"
        f" (after {delivery.row.attempts} attempt(s))"
    )
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    async def dispatch(db: Database) -> int:
        dispatcher = Dispatcher(db, settings)
        if args.once:
            try:
                return await dispatcher.run_once()
            finally:
                await dispatcher.aclose()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, dispatcher.stopping.set)
        await dispatcher.start()
        await dispatcher.stopping.wait()
        await dispatcher.stop()  # the POSTs under way finish
        return 0

    sent = _run(dispatch, settings)
    print(f"sent {sent} due deliveries" if args.once else "webhook dispatcher stopped")
    return 0
