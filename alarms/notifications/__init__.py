"""Notification channels. Each channel is a module with ``send(notification) -> None`` that
raises on failure; ``CHANNELS`` maps a ``Channel`` value to it (docs/alarms.md, "How to add a
notification channel")."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alarms.models import Notification


def channels() -> dict[str, Callable[[Notification], None]]:
    from alarms.choices import Channel
    from alarms.notifications import email, webhook

    return {Channel.EMAIL: email.send, Channel.WEBHOOK: webhook.send}
