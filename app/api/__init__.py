"""The two edges clients call: GraphQL (`graphql`) and the seed's REST route (`rest`). Both
unpack the request, call one service and map its domain errors once."""
