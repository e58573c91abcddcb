"""`make bench --server granian` serves the same app as `invoicepay serve`: both servers
start it, answer GraphQL with it, and stop on SIGTERM."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from app.db.engine import Database
from bench.server import SERVERS, app_env
from tests.support.keys import SECRET

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_each_server_serves_the_app(postgres_db: Database, tmp_path: Path, name: str) -> None:
    # given the app started by the bench's server `name`
    server = SERVERS[name](app_env(postgres_db.url, SECRET), tmp_path / "app.log")
    server.start()
    try:
        # when GraphQL is asked who is there, with no token
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/graphql",
            data=json.dumps({"query": "{ viewer { id } }"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body = json.load(response)
    finally:
        server.stop()
    # then the app answered, and the server has stopped
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    assert not server.alive()
