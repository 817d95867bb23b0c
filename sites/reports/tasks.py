"""Celery tasks of the reports (queue ``default``). They take ids, not objects, and are safe to
run twice: the scheduler claims with a conditional UPDATE, a delivery is claimed the same way."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from sites.reports import actions, delivery
from sites.reports.choices import DeliveryStatus
from sites.reports.models import ReportDelivery


def _when(now: str | None) -> dt.datetime:
    """A task queued with a timestamp acts at max(that time, the clock): never in the past."""
    real = timezone.now()
    return max(real, dt.datetime.fromisoformat(now)) if now else real


@shared_task(name="sites.reports.tasks.send_due", ignore_result=True)
def send_due(now: str | None = None) -> None:
    """Beat, every five minutes: claim due subscriptions (each queues its delivery after
    commit), and re-queue deliveries whose retry is due or whose worker died (the backstop)."""
    when = _when(now)
    claimed = set(actions.claim_due(when))
    for pk in actions.due_deliveries(when):
        if pk not in claimed:
            deliver.delay(pk, when.isoformat())


@shared_task(name="sites.reports.tasks.deliver", ignore_result=True)
def deliver(delivery_id: int, now: str | None = None) -> None:
    """One attempt; on failure schedule the next one (the beat's sweep is the backstop)."""
    status = delivery.deliver(delivery_id, _when(now))
    if status == DeliveryStatus.RETRY and not settings.CELERY_TASK_ALWAYS_EAGER:
        next_at = (
            ReportDelivery.objects.filter(pk=delivery_id)
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if next_at is not None:
            deliver.apply_async((delivery_id,), eta=next_at)
