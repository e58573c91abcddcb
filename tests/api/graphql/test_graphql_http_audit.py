"""The reference audit of the GraphQL-over-HTTP specification (graphql-http's server
audits, tests/api/graphql/graphql_http_audit/) against a live server: every audit passes."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from app.db.engine import Database
from tests.support.live import live_server

AUDIT = Path(__file__).with_name("graphql_http_audit")
NPM_SECONDS = 300
AUDIT_SECONDS = 120

pytestmark = [
    pytest.mark.slow,
    # The HTTP layer under audit is the same on both backends.
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


def _node_project() -> None:
    """The pinned graphql-http (package-lock.json), installed in its folder once."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("the GraphQL-over-HTTP audit needs node and npm")
    if not (AUDIT / "node_modules" / "graphql-http").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],  # noqa: S607
            cwd=AUDIT,
            check=True,
            capture_output=True,
            timeout=NPM_SECONDS,
        )


async def _audit(url: str) -> list[dict[str, str]]:
    """Every audit's id, name, status and (unless ok) reason, from audit.mjs."""
    node = await asyncio.create_subprocess_exec(
        "node",
        "audit.mjs",
        url,
        cwd=AUDIT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(AUDIT_SECONDS):
        out, err = await node.communicate()
    assert node.returncode == 0, err.decode()
    results: list[dict[str, str]] = json.loads(out)
    return results


async def test_every_graphql_over_http_audit_passes(db: Database) -> None:
    _node_project()
    async with live_server(db.url) as server:
        results = await _audit(f"{server.url}/graphql")
    failing = [
        f"{result['id']} {result['status']}: {result['name']} ({result.get('reason')})"
        for result in results
        if result["status"] != "ok"
    ]
    print(f"GraphQL over HTTP audit: {len(results) - len(failing)}/{len(results)} pass")
    assert len(results) >= 61
    assert failing == [], "\n".join(failing)
