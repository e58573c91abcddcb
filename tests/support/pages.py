"""`every_page`: a connection walked 100 at a time by its endCursor, each page with the SQL
statements it took, for the tests that page through whole lists."""

from __future__ import annotations

from typing import Any

import httpx

from app.db.engine import Database
from tests.support.clients import gql
from tests.support.snapshots import counting_statements


async def every_page(
    db: Database,
    client: httpx.AsyncClient,
    document: str,
    field: str,
    token: str,
    **variables: Any,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every page of `field` (`document` run with `$first`/`$after` and `variables`), and
    how many statements each page took."""
    pages: list[dict[str, Any]] = []
    statements: list[int] = []
    after = None
    while True:
        with counting_statements(db) as sent:
            result = await gql(client, document, {"first": 100, "after": after, **variables}, token)
        assert "errors" not in result, result
        page = result["data"][field]
        pages.append(page)
        statements.append(len(sent))
        if not page["pageInfo"]["hasNextPage"]:
            return pages, statements
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 100, "paging does not end"
