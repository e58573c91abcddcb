"""Change events: the transactional outbox (`outbox.record`, the `events` table, data
shaped by `shapes`), and this instance's reader of it feeding subscriptions (`hub`)."""

from app.events.hub import Change, EventHub
from app.events.outbox import record

__all__ = ["Change", "EventHub", "record"]
