"""The HTTP edge every request crosses before an API sees it: the traffic guard (`guard`),
the gateway checks of a payment attempt (`gate`), rate limits (`ratelimit`), the request id
and error answers (`request_context`), probes (`health`) and GraphiQL (`graphiql`). The
application that wires them to the APIs is `app.web`."""
