"""Domain operations of the alarms app. Tasks, views, the API and the admin call these.

Each runs in one transaction; messages are queued with ``transaction.on_commit`` so nothing is
announced for a change that was rolled back.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from alarms import commloss, evaluation, transitions
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
