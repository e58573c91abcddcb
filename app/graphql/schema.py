"""The schema: queries, mutations, and masking of every unexpected error."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.schema.config import StrawberryConfig

from app.graphql.errors import Error
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.scalars import DECIMAL
from app.graphql.types import Customer, Invoice, Payment, Wallet


def should_mask(error: GraphQLError) -> bool:
    """Hide anything that was not raised on purpose for the client."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    types=[Customer, Wallet, Invoice, Payment, Error],
    config=StrawberryConfig(scalar_map={Decimal: DECIMAL}),
    extensions=[
        lambda: MaskErrors(should_mask_error=should_mask, error_message="Unexpected Error")
    ],
)
