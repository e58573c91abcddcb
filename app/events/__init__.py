"""Change events: published when a change commits, fanned out to subscriptions (`hub`)."""

from app.events.hub import Event, EventHub, publish

__all__ = ["Event", "EventHub", "publish"]
