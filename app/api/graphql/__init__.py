"""The GraphQL edge: Strawberry types, resolvers and the schema."""
