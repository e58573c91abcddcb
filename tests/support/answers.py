"""`ask`: one GraphQL mutation to a live server, answered as the union member it returned,
for the contention tests that tally hundreds of concurrent outcomes."""

from __future__ import annotations

from typing import Any

import httpx


async def ask(
    client: httpx.AsyncClient, document: str, token: str, request: dict[str, Any]
) -> dict[str, Any]:
    """The union member answered; anything else (a 5xx, a top-level error) as a
    pseudo-member named after it, so a failed assertion shows every outcome at once."""
    response = await client.post(
        "/graphql",
        json={"query": document, "variables": {"input": request}},
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code != 200:
        return {"__typename": f"HTTP {response.status_code}"}
    body: dict[str, Any] = response.json()
    if body.get("errors") or not body.get("data"):
        codes = [str(e.get("extensions", {}).get("code")) for e in body.get("errors") or []]
        return {"__typename": f"errors {','.join(codes)}"}
    answer: dict[str, Any] = next(iter(body["data"].values()))
    return answer
