"""Unexpected failures reach the client as "Unexpected Error" and the request id, nothing
more; the traceback goes to the server log under that id. A backing store that is
unavailable (app.db.unavailable) is said so, coded SERVICE_UNAVAILABLE, with `retryAfter`."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from app.db.unavailable import (
    RETRY_AFTER_SECONDS,
    SERVICE_UNAVAILABLE,
    SERVICE_UNAVAILABLE_CODE,
    is_unavailable,
)
from app.http.request_context import (
    INTERNAL_SERVER_ERROR,
    UNEXPECTED_ERROR,
    current_request_id,
    describe_failure,
)

log = logging.getLogger("invoicepay.graphql")


def should_mask(error: GraphQLError) -> bool:
    """Hide anything not raised on purpose for the client, from a resolver or from an
    extension (a rate-limit store that is down must not show its address). Parsing and
    validation errors, and a scalar refusing a variable (a ValueError without a field
    path), describe the client's own input (Check.INVALID_REQUEST) and are never masked."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return error.path is not None or not isinstance(original, ValueError)


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask, error_message=UNEXPECTED_ERROR)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error)


def masked(error: GraphQLError) -> GraphQLError:
    """What the client sees of an unexpected failure: unavailable (with `retryAfter`) or
    "Unexpected Error", each with the request id; the details go to the log."""
    request_id = current_request_id()
    original = error.original_error
    where = ".".join(str(part) for part in error.path or ()) or "the operation's checks"
    if original is not None and is_unavailable(original):
        log.warning(
            "%s: service unavailable: %s",
            where,
            describe_failure(original),
            extra={"request_id": request_id},
        )
        return GraphQLError(
            message=SERVICE_UNAVAILABLE,
            nodes=error.nodes,
            path=error.path,
            extensions={
                "code": SERVICE_UNAVAILABLE_CODE,
                "requestId": request_id,
                "retryAfter": RETRY_AFTER_SECONDS,
            },
        )
    log.error(
        "%s failed unexpectedly (request %s)",
        where,
        request_id,
        exc_info=(type(original), original, original.__traceback__) if original else None,
        extra={"request_id": request_id},
    )
    return GraphQLError(
        message=UNEXPECTED_ERROR,
        nodes=error.nodes,
        path=error.path,
        extensions={"code": INTERNAL_SERVER_ERROR, "requestId": request_id},
    )
