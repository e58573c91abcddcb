"""Optional OpenTelemetry tracing, on only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

A request's trace: the HTTP server span (`OpenTelemetryMiddleware`, outermost, which
continues an inbound W3C `traceparent`), the GraphQL operation under it with a span per
resolved field (Strawberry's `OpenTelemetryExtension`), and each SQL statement sent to
PostgreSQL under whatever was running (asyncpg's instrumentation: the hot path's pool and
SQLAlchemy's connections alike). Spans go to the OTLP endpoint over http/protobuf.

Only `app.web` imports this module, and only when tracing is on: with it off, not one
OpenTelemetry module is loaded (tests/observability/test_tracing.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from starlette.middleware import Middleware
from strawberry.extensions import SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension

from app.config import ConfigError, Settings

TRACES_PATH = "/v1/traces"  # appended to the base endpoint, as OTLP/HTTP specifies


def _no_arguments(_args: dict[str, Any], _info: Any) -> dict[str, Any]:
    """Resolver arguments stay out of spans: they carry memos, references and keys."""
    return {}


@dataclass(eq=False)  # hashed by identity: the schema cache is keyed on it
class Tracing:
    """One process's tracing: its provider, and the pieces the app and schema add."""

    provider: TracerProvider
    endpoint: str | None = None  # None: an exporter a caller gave
    schema_extension: Callable[..., SchemaExtension] = field(init=False)

    def __post_init__(self) -> None:
        self.schema_extension = partial(
            OpenTelemetryExtension, tracer_provider=self.provider, arg_filter=_no_arguments
        )

    def middleware(self) -> Middleware:
        """The HTTP server span; outermost, so it covers every other middleware. The
        `send`/`receive` spans of each ASGI message would only be noise."""
        return Middleware(
            OpenTelemetryMiddleware,
            tracer_provider=self.provider,
            exclude_spans=["receive", "send"],
        )

    def shutdown(self) -> None:
        """Send the spans still buffered and stop tracing SQL (for this provider). At exit
        the provider flushes itself; tests call this to leave the process untraced."""
        global _current
        if _current is self:
            _ASYNCPG.uninstrument()
            _current = None
        self.provider.shutdown()


# asyncpg is patched process-wide, so one Tracing at a time traces SQL: the newest.
_current: Tracing | None = None
_ASYNCPG = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]  # a singleton


def start_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing:
    """Tracing to `exporter` (spans exported as they end), or else in batches to the OTLP
    endpoint of `settings`; asyncpg is instrumented for it. The OTLP tracing is made once
    per process: `invoicepay serve` checks the app in the process its worker may run in."""
    global _current
    endpoint = None
    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    elif settings.otel_exporter_otlp_endpoint is not None:
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + TRACES_PATH
        current = _current
        if current is not None and current.endpoint == endpoint:
            return current
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    else:
        raise ConfigError("tracing needs OTEL_EXPORTER_OTLP_ENDPOINT")
    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES; OTEL_SERVICE_NAME came in settings.
    resource = Resource.create({SERVICE_NAME: settings.otel_service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    tracing = Tracing(provider, endpoint)
    if _ASYNCPG.is_instrumented_by_opentelemetry:
        _ASYNCPG.uninstrument()
    _ASYNCPG.instrument(tracer_provider=provider)
    _current = tracing
    return tracing
