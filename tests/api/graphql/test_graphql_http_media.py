"""GraphQL over HTTP's media types (app/api/graphql/http_media.py): a client that accepts
`application/graphql-response+json` gets it, and a request error then answers 400 with no
`data`; `application/json` clients keep 200 and `data: null`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.api.graphql.http_media import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    is_request_error,
    response_media_type,
)
from app.db.engine import Database
from tests.support import client_for, make_world

VIEWER = "{ viewer { name } }"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/json, application/graphql-response+json;q=0.5", JSON),
        ("Application/GraphQL-Response+JSON; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0, */*", JSON),
        ("application/graphql-response+json;q=oops", JSON),
        ("text/html", JSON),
    ],
)
def test_the_media_type_follows_the_accept_header(accept: str | None, expected: str) -> None:
    assert response_media_type(accept) == expected


def test_a_null_result_with_a_field_error_is_not_a_request_error() -> None:
    # a resolver's bad input that nulled a non-null root field ran: it has a path
    error = {"message": "bad", "path": ["invoice"], "extensions": {"code": "BAD_USER_INPUT"}}
    assert not is_request_error({"data": None, "errors": [error]})
    # while the same error found before any resolver ran (no path) is the request's own
    before = {"message": "bad", "extensions": {"code": "BAD_USER_INPUT"}}
    assert is_request_error({"data": None, "errors": [before]})


async def _post(
    db: Database, body: dict[str, Any], accept: str, token: str | None = None
) -> httpx.Response:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with client_for(db) as client:
        return await client.post("/graphql", json=body, headers=headers)


REQUEST_ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "parsing": ({"query": "{"}, "GRAPHQL_VALIDATION_FAILED"),
    "validation": ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    "variables": (
        {"query": "query ($n: Int!) { invoice(number: $n) { number } }", "variables": {"n": "x"}},
        "BAD_USER_INPUT",
    ),
}


@pytest.mark.parametrize("failure", REQUEST_ERRORS)
async def test_a_request_error_is_a_400_without_data_in_graphql_response_json(
    db: Database, failure: str
) -> None:
    body, code = REQUEST_ERRORS[failure]
    # when a client that accepts application/graphql-response+json sends a bad request
    response = await _post(db, body, GRAPHQL_RESPONSE_JSON)
    # then it is a 400 in that media type, with the errors and no data entry
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    answer = response.json()
    assert "data" not in answer
    assert [error["extensions"]["code"] for error in answer["errors"]] == [code]


@pytest.mark.parametrize("failure", REQUEST_ERRORS)
async def test_a_request_error_stays_a_200_with_null_data_in_json(
    db: Database, failure: str
) -> None:
    body, code = REQUEST_ERRORS[failure]
    response = await _post(db, body, "application/json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    answer = response.json()
    assert answer["data"] is None
    assert [error["extensions"]["code"] for error in answer["errors"]] == [code]


async def test_an_operation_that_ran_keeps_200_and_its_data_in_graphql_response_json(
    db: Database,
) -> None:
    world = await make_world(db)
    # a successful query
    answered = await _post(db, {"query": VIEWER}, GRAPHQL_RESPONSE_JSON, world.ada_token)
    assert answered.status_code == 200
    assert answered.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert answered.json() == {"data": {"viewer": {"name": "Ada Obi"}}}
    # and one that ran into an error of its own (no token) is not a request error
    refused = await _post(db, {"query": VIEWER}, GRAPHQL_RESPONSE_JSON)
    assert refused.status_code == 200
    assert refused.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    answer = refused.json()
    assert "data" in answer
    assert [error["extensions"]["code"] for error in answer["errors"]] == ["UNAUTHENTICATED"]
