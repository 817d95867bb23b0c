"""Domain operations of the alarms app. Tasks, views, the API and the admin call these.

Each runs in one transaction; messages are queued with ``transaction.on_commit`` so nothing is
announced for a change that was rolled back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from acquisition.models import AlarmHandoff
from alarms import commloss, conf, evaluation, transitions
from alarms.choices import AlarmState
from alarms.models import Alarm
from alarms.notifications import dispatch

log = logging.getLogger(__name__)


def evaluate_batch(payload: dict[str, Any], now: dt.datetime | None = None) -> transitions.Outcome:
    """Evaluate the objects of one stored ingest batch (payload of ``acquisition.ingest``)."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = evaluation.load_batch(payload, now)
        observations = evaluation.observe(batch, payload, now)
        outcome = transitions.apply(transitions.plan(observations, batch.open, now), now)
        dispatch.request_flush(outcome.announce, now)
        if payload.get("handoff"):  # the evaluation is no longer owed (acquisition.ingest)
            AlarmHandoff.objects.filter(key=payload["handoff"]).delete()
    if outcome.raised or outcome.cleared or outcome.escalated:
        log.info(
            "gateway %s: %d alarms raised, %d escalated, %d cleared",
            payload.get("gateway"),
            len(outcome.raised),
            len(outcome.escalated),
            len(outcome.cleared),
        )
    return outcome


def sweep(now: dt.datetime | None = None) -> commloss.SweepResult:
    """Promote pending alarms whose delay passed; raise and clear communication loss."""
    now = now or timezone.now()
    with transaction.atomic():
        result = commloss.sweep(now)
        dispatch.request_flush(result.announce, now)
    return result


def requeue_evaluations(now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Queue again the evaluations of stored batches whose task has not run within
    ``ALARMS_HANDOFF_RETRY_S`` (its message lost with the broker); returns how many.

    Claimed with a conditional UPDATE, so two sweeps never queue the same row; an evaluation that
    was merely slow runs twice, which is safe.
    """
    from alarms.tasks import evaluate_batch

    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=conf.handoff_retry_s())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE acquisition_alarmhandoff SET queued_at = %s WHERE key IN ("
            " SELECT key FROM acquisition_alarmhandoff WHERE queued_at < %s"
            " ORDER BY queued_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING payload",
            [now, cutoff, limit],
        )
        payloads = [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in cursor]

        def queue() -> None:
            for payload in payloads:
                evaluate_batch.apply_async((payload,), argsrepr="(<re-queued batch>,)")

        transaction.on_commit(queue)
    if payloads:
        log.warning("re-queued %d alarm evaluations whose task had not run", len(payloads))
    return len(payloads)


def acknowledge(alarm: Alarm, user: Any, note: str = "", now: dt.datetime | None = None) -> bool:
    """active -> acknowledged (who, when, note). False if it was not active any more.

    The caller checks that ``user`` manages the alarm's site. A conditional UPDATE, so two people
    acknowledging at once leave the first one's name.
    """
    now = now or timezone.now()
    with transaction.atomic():
        changed = Alarm.objects.filter(pk=alarm.pk, state=AlarmState.ACTIVE).update(
            state=AlarmState.ACKNOWLEDGED,
            acknowledged_at=now,
            acknowledged_by=user,
            ack_note=note[:2000],
            updated_at=now,
        )
    if changed:
        alarm.refresh_from_db()
    return bool(changed)


def notify_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Periodic: flush due debounce rows, reminders, escalations, retries, missed announcements."""
    from alarms.tasks import deliver, flush_site

    now = now or timezone.now()
    dispatch.announce_missed(now)
    sites = dispatch.due_sites(now)
    for site_id in sites:
        flush_site.delay(site_id, now.isoformat())
    reminders = dispatch.send_reminders(now)
    escalations = dispatch.send_escalations(now)
    retries = dispatch.due_deliveries(now)
    for pk in retries:
        deliver.delay(pk, now.isoformat())
    return {
        "sites": len(sites),
        "reminders": len(reminders),
        "escalations": len(escalations),
        "retries": len(retries),
    }
