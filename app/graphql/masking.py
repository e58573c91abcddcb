"""Unexpected failures reach the client as "Unexpected Error" and the request id, nothing
more; the traceback goes to the server log under that id. A backing store that is
unavailable (app.unavailable) is said so, coded SERVICE_UNAVAILABLE, with `retryAfter`."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from app.request_context import (
    INTERNAL_SERVER_ERROR,
    UNEXPECTED_ERROR,
    current_request_id,
    describe_failure,
)
from app.unavailable import (
    RETRY_AFTER_SECONDS,
    SERVICE_UNAVAILABLE,
    SERVICE_UNAVAILABLE_CODE,
    is_unavailable,
)

log = logging.getLogger("invoicepay.graphql")


def should_mask(error: GraphQLError) -> bool:
    """Hide anything a resolver did not raise on purpose for the client. Errors without a
    field path come from parsing, validation or input coercion: they describe the
    client's own input (check 4) and are never masked."""
    original = error.original_error
    return (
        error.path is not None and original is not None and not isinstance(original, GraphQLError)
    )


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask, error_message=UNEXPECTED_ERROR)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = current_request_id()
        original = error.original_error
        where = ".".join(str(part) for part in error.path or ())
        if original is not None and is_unavailable(original):
            log.warning(
                "resolver %s: service unavailable: %s",
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
            "resolver %s failed unexpectedly (request %s)",
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
