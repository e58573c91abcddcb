"""Secrets and signatures, as the Standard Webhooks specification has them: a secret is
`whsec_` + base64 of 32 random bytes (the HMAC key); `webhook-signature` is
`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret that signs, space-separated
(the new and the old one for 24 hours after a rotation)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
SECRET_BYTES = 32
ROTATION_OVERLAP = timedelta(hours=24)  # the old secret still signs this long


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secrets(
    secret: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> list[str]:
    """The secrets that sign at `now`: the current one, and the previous during its overlap."""
    keep_previous = previous is not None and previous_until is not None and previous_until > now
    return [secret, previous] if keep_previous and previous is not None else [secret]


def headers(
    event_id: str, sent_at: datetime, body: bytes, secrets_: Sequence[str]
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature` of one POST."""
    signatures = " ".join(Webhook(s).sign(event_id, sent_at, body) for s in secrets_)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
    }
