"""GraphiQL at /graphql, served whole by the app: the page, its pinned GraphiQL and React
builds (app/http/static/graphiql/, made by scripts/vendor-graphiql.sh) and the script that
starts it, so it works without internet access.

In development the page opens on a `payInvoice` example for the demo tenant and, when
`invoicepay seed --demo` has run, with the first demo customer's token in the headers
editor. In production (served only with GRAPHIQL=on) it never carries a token.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.auth.tokens import AuthError, issue_token
from app.billing import admin
from app.config import Settings
from app.db.uow import UnitOfWork
from app.http.gate import Gate
from app.seed.demo import CUSTOMERS, DEMO_CLONE_ID

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
SCRIPTS = (
    "graphiql/react.production.min.js",
    "graphiql/react-dom.production.min.js",
    "graphiql/graphiql.min.js",
    "graphiql-start.js",
)
STYLESHEETS = ("graphiql/graphiql.min.css",)
DEMO_TOKEN_TTL_SECONDS = 24 * 3600
# A kept token is issued again when it has less than this left.
DEMO_TOKEN_MARGIN_SECONDS = 3600

DEMO_PAYMENT = """\
# Pays 5000.00 NGN of the demo invoice 100123
# from the demo customer's NGN wallet; the token
# is in the Headers tab below.
mutation PayDemoInvoice {
  payInvoice(input: {
    invoiceNumber: 100123
    currency: "NGN"
    amount: "5000.00"
  }) {
    __typename
    ... on PayInvoiceSuccess {
      replayed
      payment { id amount { amount currency } }
      invoice {
        number status
        amountPaid { amount }
        balanceDue { amount currency }
      }
      wallet { currency balance { amount } }
    }
    ... on Error { code message }
    ... on InsufficientFunds {
      balance { amount currency }
      required { amount currency }
    }
    ... on WrongAmount { reason balanceDue { amount } }
    ... on CurrencyMismatch { expected received }
    ... on WalletNotFound { currency }
  }
}
"""

VIEWER_QUERY = """\
# Headers tab: {"Authorization": "Bearer <token>"}
query Viewer {
  viewer {
    id name
    wallets { currency balance { amount } }
  }
  invoices(first: 10) {
    edges {
      node { number status balanceDue { amount currency } }
    }
  }
}
"""

# Everything the page loads comes from this origin; the browser refuses anything else.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

PAGE = """\
<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>invoicepay GraphiQL</title>
    <link rel="icon" href="data:,">
    <style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
{stylesheets}
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script id="graphiql-config" type="application/json">{config}</script>
{scripts}
  </body>
</html>
"""


class ImmutableStaticFiles(StaticFiles):
    """Static files cached for a year: the page names each with `?v=<content hash>`."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def static_routes(settings: Settings) -> list[BaseRoute]:
    """The mount serving GraphiQL's files, when GraphiQL is on."""
    if not settings.graphiql:
        return []
    return [Mount(STATIC_PATH, app=ImmutableStaticFiles(directory=STATIC_DIR), name="static")]


@functools.cache
def asset_url(name: str) -> str:
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:16]
    return f"{STATIC_PATH}/{name}?v={digest}"


class DemoToken:
    """The first demo customer's token for the development page: issued when the page is
    first asked for, kept while its session is valid, issued again when it is not (the
    database reseeded, the session revoked or expiring). None without demo data."""

    def __init__(self, gate: Gate, settings: Settings) -> None:
        self.gate = gate
        self.settings = settings
        self.token: str | None = None

    async def current(self) -> str | None:
        if self.settings.jwt_secret is None:  # verifying only: this service signs nothing
            return None
        try:
            if self.token is not None and await self._still_valid(self.token):
                return self.token
            self.token = await self._issue()
        except (SQLAlchemyError, OSError) as error:
            log.warning("GraphiQL page without a demo token: %s", type(error).__name__)
            return None
        return self.token

    async def _still_valid(self, token: str) -> bool:
        try:
            claims = await self.gate.verifier.decode(token)
            await self.gate.authenticate(f"Bearer {token}")
        except AuthError:
            return False
        expires_at: int = claims["exp"]
        return expires_at - DEMO_TOKEN_MARGIN_SECONDS > time.time()

    async def _issue(self) -> str | None:
        async with UnitOfWork(self.gate.db) as uow:
            customer = await uow.customers.get_by_email(DEMO_CLONE_ID, CUSTOMERS[0].email)
        if customer is None:
            return None
        session = await admin.create_session(
            self.gate.db,
            DEMO_CLONE_ID,
            customer_id=customer.id,
            ttl_seconds=DEMO_TOKEN_TTL_SECONDS,
        )
        return issue_token(self.settings, session)


class GraphiQLPage:
    """The HTML page GET /graphql answers a browser with."""

    def __init__(self, gate: Gate, settings: Settings) -> None:
        self.demo_token = None if settings.is_production else DemoToken(gate, settings)

    async def response(self, request: Request) -> HTMLResponse:
        config: dict[str, Any] = {"endpoint": request.url.path, "defaultQuery": VIEWER_QUERY}
        if self.demo_token is not None:
            config["query"] = DEMO_PAYMENT
            token = await self.demo_token.current()
            if token is not None:
                config["headers"] = json.dumps({"Authorization": f"Bearer {token}"}, indent=2)
        return HTMLResponse(
            self.render(config),
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Referrer-Policy": "no-referrer",
            },
        )

    @staticmethod
    def render(config: dict[str, Any]) -> str:
        # "<" escaped: no text in the JSON can close the script element early.
        config_json = json.dumps(config).replace("<", "\\u003c")
        return PAGE.format(
            config=config_json,
            stylesheets="\n".join(
                f'    <link rel="stylesheet" href="{asset_url(name)}">' for name in STYLESHEETS
            ),
            scripts="\n".join(f'    <script src="{asset_url(name)}"></script>' for name in SCRIPTS),
        )
