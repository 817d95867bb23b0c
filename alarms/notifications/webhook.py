"""Signed webhook channel: POST the message's JSON, signed with the subscription's secret.

Headers: ``X-BMS-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>``, ``X-BMS-Event``
(alarm / reminder / escalation) and ``X-BMS-Delivery`` (the notification id, the same on every
retry, so a receiver can drop duplicates). Any 2xx answer is a delivery; anything else, a timeout or
a connection error is a failed attempt (retried). Plain ``urllib``: no extra dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request

from alarms import conf
from alarms.models import Notification

SIGNATURE_HEADER = "X-BMS-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """For receivers (and tests): constant-time comparison of the signature header."""
    return hmac.compare_digest(sign(secret, body), header or "")


def send(notification: Notification) -> None:
    subscription = notification.subscription
    if subscription is None or not subscription.secret:
        raise RuntimeError("the webhook subscription is gone or has no secret: cannot sign")
    body = json.dumps(notification.payload, separators=(",", ":"), sort_keys=True).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is an admin-configured http(s) URL
        notification.target,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "bms-portal-alarms/1",
            SIGNATURE_HEADER: sign(subscription.secret, body),
            "X-BMS-Event": notification.kind,
            "X-BMS-Delivery": str(notification.pk),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=conf.webhook_timeout_s()) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"HTTP {exc.code} {exc.reason}") from None
    if not 200 <= status < 300:
        raise RuntimeError(f"HTTP {status}")
