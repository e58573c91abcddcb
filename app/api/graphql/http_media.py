"""The two media types of a GraphQL answer over HTTP (the GraphQL-over-HTTP specification).

A client that asks for `application/graphql-response+json` gets it, and a request error
(a document that does not parse or validate, variables that do not coerce) answers it
400 without a `data` entry; `application/json`, the legacy type and what older clients
and `*/*` get, keeps answering every GraphQL result 200."""

from __future__ import annotations

from typing import Any, cast

from strawberry.http import GraphQLHTTPResponse

from app.api.graphql.limits import BAD_VARIABLES, REFUSED

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# The codes app.api.graphql.limits gives the errors found before any resolver ran.
REQUEST_ERROR_CODES = frozenset({REFUSED, BAD_VARIABLES})


def _qualities(accept: str) -> dict[str, float]:
    """Each media range of an Accept header with its weight (`q`, 1 when absent)."""
    qualities: dict[str, float] = {}
    for media_range in accept.split(","):
        media_type, *parameters = media_range.split(";")
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        name = media_type.strip().lower()
        if name:
            qualities[name] = max(quality, qualities.get(name, 0.0))
    return qualities


def response_media_type(accept: str | None) -> str:
    """`application/graphql-response+json` when the Accept header names it and weighs it
    at least as much as `application/json`; `application/json` otherwise. A wildcard
    alone keeps the legacy type, which every client of today reads."""
    qualities = _qualities(accept or "")
    wanted = qualities.get(GRAPHQL_RESPONSE_JSON, 0.0)
    legacy = next(
        (qualities[name] for name in (JSON, "application/*", "*/*") if name in qualities), 0.0
    )
    return GRAPHQL_RESPONSE_JSON if wanted > 0 and wanted >= legacy else JSON


def is_request_error(response: GraphQLHTTPResponse) -> bool:
    """The operation never ran: no data, and every error is the request's own (no path)."""
    errors = cast("list[dict[str, Any]]", response.get("errors") or [])
    return (
        response.get("data") is None
        and bool(errors)
        and all(
            "path" not in error
            and (error.get("extensions") or {}).get("code") in REQUEST_ERROR_CODES
            for error in errors
        )
    )


def without_data(response: GraphQLHTTPResponse) -> GraphQLHTTPResponse:
    trimmed = response.copy()
    trimmed.pop("data", None)
    return trimmed
