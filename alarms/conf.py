"""The alarms app's settings, with their defaults (set them in ``bms_portal/settings.py``).

Read through functions, not at import time, so tests can override them with the ``settings``
fixture.
"""

from __future__ import annotations

from django.conf import settings


def _get(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def debounce_s() -> int:
    """New alarms of one site within this window go out as one message (0 in eager mode)."""
    default = 0 if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False) else 30
    return _get("ALARMS_DEBOUNCE_S", default)


def handoff_retry_s() -> int:
    """An ingest batch not evaluated this long after its hand-off is queued again (lost message)."""
    return _get("ALARMS_HANDOFF_RETRY_S", 60)


def reminder_hours() -> int:
    """Remind primary contacts of unacknowledged alarms this often (0: never)."""
    return _get("ALARMS_REMINDER_HOURS", 4)


def escalate_after_min() -> int:
    """Tell escalation contacts about alarms unacknowledged this long (0: never)."""
    return _get("ALARMS_ESCALATE_AFTER_MIN", 30)


def max_attempts() -> int:
    return _get("ALARMS_NOTIFY_MAX_ATTEMPTS", 8)


def retry_base_s() -> int:
    return _get("ALARMS_RETRY_BASE_S", 30)


def retry_max_s() -> int:
    return _get("ALARMS_RETRY_MAX_S", 3600)


def recovery_min() -> int:
    """Float-voltage rules stay held this long after a discharge ended (string recovery)."""
    return _get("ALARMS_RECOVERY_MIN", 30)


def webhook_timeout_s() -> int:
    return _get("ALARMS_WEBHOOK_TIMEOUT_S", 10)


def send_claim_s() -> int:
    """A message claimed for sending and not finished after this long is tried again."""
    return _get("ALARMS_SEND_CLAIM_S", 120)


def portal_url() -> str:
    return str(getattr(settings, "PORTAL_URL", "http://127.0.0.1:8000")).rstrip("/")
