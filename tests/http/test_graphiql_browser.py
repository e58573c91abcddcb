"""GraphiQL at /graphql, served whole by the app (app/http/graphiql.py): first the page and its
files over ASGI, then the real thing, a headless Chromium driving `invoicepay serve` on a
seeded PostgreSQL database: nothing loaded from outside, a query and the pre-filled
`payInvoice` run through the UI, and the payment really made.

Outside CI the browser test skips when /usr/bin/chromium is missing; with CI=true it
fails instead (.ci/run installs Debian's chromium).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from playwright.async_api import Browser, Page, Request, async_playwright, expect

from app.billing import admin
from app.config import Settings
from app.db.engine import Database
from app.db.uow import UnitOfWork
from app.http.graphiql import DEMO_PAYMENT, STATIC_DIR, VIEWER_QUERY
from app.seed.demo import DEMO_CLONE_ID, seed_demo
from app.web import create_app
from tests.conftest import IN_CI
from tests.support import SECRET, client_for, gql
from tests.support import test_settings as settings_for
from tests.support.live import live_server

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
HTML = {"Accept": "text/html"}
UI_TIMEOUT_MS = 20_000

POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

LIVE_WALLET = """\
subscription LiveWallet {
  walletUpdated(currency: "NGN") { currency balance { amount } }
}
"""

TYPED_QUERY = """\
query TypedInTheBrowser {
  viewer { name wallets { currency balance { amount } } }
}
"""


async def page_html(client: httpx.AsyncClient) -> str:
    response = await client.get("/graphql", headers=HTML)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def page_config(html: str) -> dict[str, str]:
    found = re.search(r'<script id="graphiql-config" type="application/json">(.*?)</script>', html)
    assert found is not None, html
    config: dict[str, str] = json.loads(found.group(1))
    return config


def loaded_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


# --- the page and its files -------------------------------------------------------------


async def test_every_file_the_page_loads_is_served_here_and_cached_for_long(db: Database) -> None:
    async with client_for(db) as client:
        # given the development page
        html = await page_html(client)
        # then it loads nothing from another origin
        assert "https://" not in html
        assert "unpkg" not in html and "jsdelivr" not in html
        urls = loaded_urls(html)
        assert any("graphiql.min.js" in url for url in urls)
        for url in urls:
            assert url.startswith(("/static/", "data:")), url
        # and every file it names is here, immutable under its content hash
        for url in urls:
            if url.startswith("data:"):
                continue
            response = await client.get(url)
            assert response.status_code == 200, url
            assert "immutable" in response.headers["cache-control"]
            digest = hashlib.sha256(response.content).hexdigest()
            assert url.endswith(f"?v={digest[:16]}"), url


async def test_the_page_itself_is_never_cached_and_confined_to_this_origin(db: Database) -> None:
    async with client_for(db) as client:
        response = await client.get("/graphql", headers=HTML)
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy


def test_vendored_files_are_the_ones_versions_md_names() -> None:
    versions = (STATIC_DIR / "graphiql" / "VERSIONS.md").read_text()
    rows = re.findall(r"^\| (\S+) \| (\S+@\S+) \| ([0-9a-f]{64}) \|$", versions, re.MULTILINE)
    assert {name for name, _, _ in rows} == {
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "graphiql.min.css",
    }
    for name, _, sha256 in rows:
        assert hashlib.sha256((STATIC_DIR / "graphiql" / name).read_bytes()).hexdigest() == sha256
    for package in ("react", "react-dom", "graphiql"):
        assert (STATIC_DIR / "graphiql" / f"LICENSE.{package}").read_text().startswith("MIT")


async def test_development_page_carries_a_working_demo_token_and_the_payment(
    db: Database,
) -> None:
    # given the demo data
    await seed_demo(db, settings_for(db.url))
    async with client_for(db) as client:
        # when the page is asked for twice
        first = page_config(await page_html(client))
        second = page_config(await page_html(client))
        # then it opens on the demo payment, with the first demo customer's token
        assert first["query"] == DEMO_PAYMENT
        assert first["headers"] == second["headers"]  # one session, not one per page view
        token = json.loads(first["headers"])["Authorization"].removeprefix("Bearer ")
        viewer = await gql(client, VIEWER_QUERY, token=token)
        assert "errors" not in viewer, viewer
        assert viewer["data"]["viewer"]["name"] == "Ada Obi"
        # and the pre-filled document is valid against the schema (it pays)
        paid = await gql(client, DEMO_PAYMENT, token=token)
    assert paid["data"]["payInvoice"]["__typename"] == "PayInvoiceSuccess"
    assert paid["data"]["payInvoice"]["wallet"]["balance"]["amount"] == "45000.00"


async def test_development_page_without_demo_data_works_without_a_token(db: Database) -> None:
    async with client_for(db) as client:
        config = page_config(await page_html(client))
    assert config["query"] == DEMO_PAYMENT
    assert "headers" not in config


async def test_a_revoked_demo_token_is_replaced(db: Database) -> None:
    await seed_demo(db, settings_for(db.url))
    async with client_for(db) as client:
        first = page_config(await page_html(client))["headers"]
        jti = _claims(first)["jti"]
        await admin.revoke_session(db, DEMO_CLONE_ID, jti)
        second = page_config(await page_html(client))["headers"]
    assert _claims(second)["jti"] != jti


def _claims(headers: str) -> dict[str, str]:
    token = json.loads(headers)["Authorization"].removeprefix("Bearer ")
    claims: dict[str, str] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_production_with_graphiql_on_never_embeds_a_token(db: Database) -> None:
    # given the demo data and a production server that serves GraphiQL
    await seed_demo(db, settings_for(db.url))
    async with client_for(db, environment="production", graphiql=True) as client:
        html = await page_html(client)
        asset = await client.get(loaded_urls(html)[-1])
    # then the page works from local files but carries no token, nor the demo payment
    config = page_config(html)
    assert "headers" not in config and "query" not in config
    assert "Bearer ey" not in html
    assert asset.status_code == 200


async def test_production_serves_no_graphiql_by_default(db: Database) -> None:
    settings = Settings.from_env({"ENVIRONMENT": "production", "JWT_SECRET": SECRET})
    app = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/graphql", headers=HTML)
        asset = await client.get("/static/graphiql/graphiql.min.js")
    assert "graphiql" not in page.text.lower()
    assert asset.status_code == 404


# --- in a real browser ------------------------------------------------------------------


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium: skipped without it, except in CI, where that is a failure."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (Debian's chromium package; .ci/run installs it)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"data", "blob", "about"} or parts.hostname in LOCAL_HOSTS


async def set_editor(page: Page, document: str) -> None:
    """Replace the active query editor's text, as typing it would (CodeMirror 5)."""
    await page.locator(".graphiql-query-editor .CodeMirror").evaluate(
        "(editor, text) => editor.CodeMirror.setValue(text)", document
    )


async def editor_text(page: Page, selector: str) -> str:
    """The text of the CodeMirror editors under `selector` (query, variables, headers)."""
    texts: list[str] = await page.locator(f"{selector} .CodeMirror").evaluate_all(
        "editors => editors.map(editor => editor.CodeMirror.getValue())"
    )
    return "\n".join(texts)


async def until_parsed(page: Page, operation: str) -> None:
    """Wait until GraphiQL has parsed the editor's text (it does, 100 ms after a change)
    and selected `operation`: the run button sends the operation selected then."""
    await page.wait_for_function(
        "name => document.querySelector('.graphiql-query-editor .CodeMirror')"
        ".CodeMirror.operationName === name",
        arg=operation,
        timeout=UI_TIMEOUT_MS,
    )


@POSTGRESQL_ONLY
async def test_graphiql_pays_the_demo_invoice_in_a_browser_from_local_files_only(
    db: Database, browser: Browser, tmp_path: Path
) -> None:
    # given the demo data and a real server
    await seed_demo(db, settings_for(db.url))
    async with live_server(db.url, log_path=tmp_path / "server.log") as server:
        context = await browser.new_context(viewport={"width": 1600, "height": 1000})
        requested: list[str] = []
        problems: list[str] = []

        def record(request: Request) -> None:
            requested.append(request.url)

        page = await context.new_page()
        page.on("request", record)
        page.on("websocket", lambda socket: requested.append(socket.url))
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )

        # when GraphiQL opens
        await page.goto(f"{server.url}/graphql")
        run = page.locator(".graphiql-execute-button")
        await expect(run).to_be_visible(timeout=UI_TIMEOUT_MS)
        # then it opens on the demo payment with the demo customer's token
        assert await editor_text(page, ".graphiql-query-editor") == DEMO_PAYMENT
        assert '"Authorization": "Bearer ey' in await editor_text(page, ".graphiql-editor-tool")

        # when a query is written in a new tab and run
        await page.get_by_role("button", name="Add tab").click()
        await set_editor(page, TYPED_QUERY)
        await until_parsed(page, "TypedInTheBrowser")
        await run.click()
        # then its answer is on screen
        response = page.locator(".graphiql-response")
        await expect(response).to_contain_text('"name": "Ada Obi"', timeout=UI_TIMEOUT_MS)
        await expect(response).to_contain_text('"amount": "50000.00"')

        # when the pre-filled payment is run from its tab
        await page.locator(".graphiql-tab", has_text="PayDemoInvoice").click()
        assert await editor_text(page, ".graphiql-query-editor") == DEMO_PAYMENT
        await until_parsed(page, "PayDemoInvoice")
        await run.click()
        # then the payment's result is on screen
        await expect(response).to_contain_text('"PayInvoiceSuccess"', timeout=UI_TIMEOUT_MS)
        await expect(response).to_contain_text('"status": "PARTIALLY_PAID"')
        await expect(response).to_contain_text('"amount": "45000.00"')
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "graphiql.png"))

        # when a subscription runs in a new tab (graphql-transport-ws, the token sent in
        # connection_init) and another payment is made meanwhile
        await page.get_by_role("button", name="Add tab").click()
        await set_editor(page, LIVE_WALLET)
        await until_parsed(page, "LiveWallet")
        await run.click()
        # then the wallet as it is shows first, then as the payment left it
        await expect(response).to_contain_text('"amount": "45000.00"', timeout=UI_TIMEOUT_MS)
        token = re.search(r"Bearer ([\w.-]+)", await editor_text(page, ".graphiql-editor-tool"))
        assert token is not None
        async with server.client() as client:
            paid = await client.post(
                "/api/v1/billing/invoice/pay",
                json={
                    "invoice": 100123,
                    "currency": "NGN",
                    "partPaymentFromWalletBalance": {"chargeTotalCurrent": 1000},
                },
                headers={"Authorization": f"Bearer {token.group(1)}"},
            )
        assert paid.status_code == 200, paid.text
        await expect(response).to_contain_text('"amount": "44000.00"', timeout=UI_TIMEOUT_MS)
        await page.screenshot(path=str(ARTIFACTS / "graphiql-subscription.png"))
        await context.close()

    # and nothing was asked of any other host, nothing failed in the page
    assert [url for url in requested if not is_local(url)] == []
    assert any(url.endswith("/graphql") for url in requested)
    assert problems == []
    # and the database really changed
    async with UnitOfWork(db) as uow:
        invoice = await uow.invoices.get_by_number(DEMO_CLONE_ID, 100123)
        assert invoice is not None
        wallet = await uow.wallets.get(invoice.customer_id, "NGN")
    assert invoice.amount_paid == 600_000
    assert wallet is not None and wallet.balance == 4_400_000
