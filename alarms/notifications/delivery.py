"""Delivering one message: claim it, try its channel, record the attempt, schedule a retry.

The claim is a conditional UPDATE (``status`` pending/retry and due, or a ``sending`` claim that
expired because its worker died), so one worker sends at a time. The channel runs outside any
transaction: a slow SMTP server must not hold a database transaction open. After
``max_attempts`` failures the message is ``failed``: logged at ERROR and listed in the admin, never
dropped without a trace.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.db import connection
from django.utils import timezone

from alarms import conf
from alarms.choices import AttemptStatus, DeliveryStatus
from alarms.models import Notification, NotificationAttempt
from alarms.notifications import channels

log = logging.getLogger(__name__)


def backoff_s(attempt: int) -> int:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): doubling, capped."""
    return min(conf.retry_max_s(), conf.retry_base_s() * 2 ** (attempt - 1))


def _claim(notification_id: int, now: dt.datetime) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE alarms_notification SET status = %s, attempts = attempts + 1, "
            "next_attempt_at = %s WHERE id = %s AND next_attempt_at <= %s "
            "AND status = ANY(%s) RETURNING attempts",
            [
                DeliveryStatus.SENDING,
                now + dt.timedelta(seconds=conf.send_claim_s()),
                notification_id,
                now,
                [DeliveryStatus.PENDING, DeliveryStatus.RETRY, DeliveryStatus.SENDING],
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def deliver(notification_id: int, now: dt.datetime | None = None) -> str | None:
    """Try to send one message once. Returns its new status, or None if it was not ours to send.

    After a failure ``Notification.next_attempt_at`` says when to try again; the task schedules
    it (and the periodic sweep picks up any retry whose scheduled task was lost).
    """
    now = now or timezone.now()
    attempt = _claim(notification_id, now)
    if attempt is None:
        return None
    n = Notification.objects.select_related("subscription").get(pk=notification_id)
    started = time.monotonic()
    error = ""
    try:
        channels()[n.channel](n)
    except Exception as exc:  # any failure of a channel is an attempt to record, not a crash
        error = f"{type(exc).__name__}: {exc}"[:2000] or type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    NotificationAttempt.objects.create(
        notification=n,
        number=attempt,
        channel=n.channel,
        target=n.target,
        status=AttemptStatus.ERROR if error else AttemptStatus.OK,
        error=error,
        duration_ms=duration_ms,
        started_at=now,
    )
    if not error:
        status = DeliveryStatus.SENT
        Notification.objects.filter(pk=n.pk).update(
            status=status, sent_at=timezone.now(), last_error=""
        )
        log.info("notification %s (%s to %s) sent", n.pk, n.channel, n.target)
        return status
    if attempt >= conf.max_attempts():
        Notification.objects.filter(pk=n.pk).update(status=DeliveryStatus.FAILED, last_error=error)
        log.error(
            "notification %s (%s to %s) FAILED for good after %d attempts: %s",
            n.pk,
            n.channel,
            n.target,
            attempt,
            error,
        )
        return DeliveryStatus.FAILED
    next_at = now + dt.timedelta(seconds=backoff_s(attempt))
    Notification.objects.filter(pk=n.pk).update(
        status=DeliveryStatus.RETRY, next_attempt_at=next_at, last_error=error
    )
    log.warning(
        "notification %s (%s to %s) attempt %d failed, retry at %s: %s",
        n.pk,
        n.channel,
        n.target,
        attempt,
        next_at.isoformat(),
        error,
    )
    return DeliveryStatus.RETRY
