"""Rate-limit settings read from the environment (imported by settings: no Django imports)."""

from __future__ import annotations

import re

from bms_portal.env import env_str

_RATE = re.compile(r"^(\d+)/(s|sec|second|m|min|minute|h|hour|d|day)$")


def env_rate(name: str, default: str) -> str | None:
    """A DRF throttle rate such as ``1000/hour``; ``off`` (or an empty value) disables the limit."""
    from django.core.exceptions import ImproperlyConfigured

    raw = env_str(name, default).strip().lower()
    if raw in {"", "off", "none"}:
        return None
    if not _RATE.match(raw):
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a rate: use <number>/<second|minute|hour|day>, e.g. 1000/hour"
        )
    return raw
