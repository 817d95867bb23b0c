"""Celery tasks of the alarms app; all on the ``alarms`` queue (settings route ``alarms.*``).

Tasks take ids and ISO timestamps, not objects, and are safe to run twice: every change they make
is claimed with a conditional statement (see ``transitions.py``, ``notifications/``).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from alarms import actions
from alarms.choices import DeliveryStatus
from alarms.models import Notification
from alarms.notifications import delivery, dispatch

log = logging.getLogger(__name__)


def _when(now: str | None) -> dt.datetime:
    """A task queued with a timestamp acts at max(that time, the clock): never in the past."""
    real = timezone.now()
    if not now:
        return real
    return max(real, dt.datetime.fromisoformat(now))


@shared_task(name="alarms.tasks.evaluate_batch", ignore_result=True)
def evaluate_batch(payload: dict[str, Any]) -> None:
    """Evaluate one stored ingest batch (queued by ``acquisition.ingest.hand_off`` after commit).

    ``payload``: ``{"gateway": id, "batteries": [ids], "banks": [ids], "start": iso,
    "end": iso, "silent": {"batteries": [ids], "banks": [ids]}}``.
    """
    actions.evaluate_batch(payload)


@shared_task(name="alarms.tasks.evaluate_batches", ignore_result=True)
def evaluate_batches(payloads: list[dict[str, Any]]) -> None:
    """Evaluate several stored ingest batches: what one web process handed off within its window
    (``acquisition.handoff``). Each batch is its own transaction: one that fails keeps its
    ``AlarmHandoff`` row (the sweep queues it again) and does not hold back the others; the first
    failure is raised at the end, so the task shows as failed."""
    failed: Exception | None = None
    for payload in payloads:
        try:
            actions.evaluate_batch(payload)
        except Exception as exc:
            log.exception("evaluation of a batch of gateway %s failed", payload.get("gateway"))
            failed = failed or exc
    if failed is not None:
        raise failed


@shared_task(name="alarms.tasks.sweep", ignore_result=True)
def sweep() -> None:
    """Beat, every scan interval: pending -> active after their delay; communication loss;
    evaluations whose message was lost queued again."""
    actions.sweep()
    actions.requeue_evaluations()


@shared_task(name="alarms.tasks.notify_due", ignore_result=True)
def notify_due() -> None:
    """Beat: debounced announcements, reminders, escalations, retries."""
    actions.notify_due()


@shared_task(name="alarms.tasks.flush_site", ignore_result=True)
def flush_site(site_id: int, now: str | None = None) -> None:
    """Send the site's new alarms as one message per contact once its debounce window passed."""
    dispatch.flush_site(site_id, _when(now))


@shared_task(name="alarms.tasks.deliver", ignore_result=True)
def deliver(notification_id: int, now: str | None = None) -> None:
    """One delivery attempt; on failure schedule the next one (the beat sweep is the backstop)."""
    status = delivery.deliver(notification_id, _when(now))
    if status == DeliveryStatus.RETRY and not settings.CELERY_TASK_ALWAYS_EAGER:
        next_at = (
            Notification.objects.filter(pk=notification_id)
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if next_at is not None:
            deliver.apply_async((notification_id,), eta=next_at)
