"""Turning alarms into messages: debounce per site, reminders, escalation.

- New alarms of a site are announced together: the first one creates a ``PendingNotification``
  row due ``debounce_s`` later (``INSERT ... ON CONFLICT DO NOTHING``: later alarms join it); the
  flush claims the row with ``DELETE ... RETURNING`` so one worker builds one message per contact
  listing every alarm not yet announced.
- Reminders and escalations claim their alarms with a conditional ``UPDATE ... RETURNING``
  (``reminded_at`` / ``escalated_at``), so two sweeps running at once send each message once.
- Alarms inside a maintenance window are not announced; they are announced when the window ends
  if still active (the sweep looks for active alarms never announced).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable

from django.db import connection, transaction

from alarms import conf
from alarms.choices import (
    SEVERITY_RANK,
    AlarmState,
    DeliveryStatus,
    MessageKind,
    SubscriptionRole,
)
from alarms.models import Alarm, MaintenanceWindow, Notification, PendingNotification, Subscription
from alarms.notifications import compose
from sites.models import Site

log = logging.getLogger(__name__)


def request_flush(site_ids: Iterable[int], now: dt.datetime) -> None:
    """Announce the new alarms of these sites after the debounce window (one statement)."""
    ids = sorted(set(site_ids))
    if not ids:
        return
    delay = conf.debounce_s()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO alarms_pendingnotification (site_id, due_at) "
            "SELECT unnest(%s::bigint[]), %s ON CONFLICT DO NOTHING",
            [ids, now + dt.timedelta(seconds=delay)],
        )

    def queue() -> None:
        from alarms.tasks import flush_site

        for site_id in ids:
            flush_site.apply_async((site_id,), countdown=delay)

    transaction.on_commit(queue)


def _in_maintenance(alarms: list[Alarm], now: dt.datetime) -> set[int]:
    """Ids of the alarms whose site or bank has a maintenance window open now."""
    if not alarms:
        return set()
    windows = MaintenanceWindow.objects.filter(
        site_id__in={a.site_id for a in alarms}, starts_at__lte=now, ends_at__gt=now
    ).values_list("site_id", "bank_id")
    sites = {s for s, b in windows if b is None}
    banks = {b for _, b in windows if b is not None}
    return {a.pk for a in alarms if a.site_id in sites or (a.bank_id and a.bank_id in banks)}


def _with_relations(ids: Iterable[int]) -> list[Alarm]:
    return list(
        Alarm.objects.filter(pk__in=list(ids))
        .select_related("site", "bank", "battery", "gateway")
        .order_by("site_id", "-severity", "raised_at")
    )


def _create_messages(
    kind: str, site: Site, alarms: list[Alarm], role: str, now: dt.datetime
) -> list[int]:
    """One ``Notification`` per enabled contact of ``role``, listing the alarms it cares about."""
    created: list[int] = []
    subs = Subscription.objects.enabled().filter(site=site, role=role).select_related("user")
    for sub in subs:
        mine = [a for a in alarms if SEVERITY_RANK[a.severity] >= SEVERITY_RANK[sub.min_severity]]
        target = sub.target
        if not mine or not target:
            continue
        n = Notification.objects.create(
            site=site,
            subscription=sub,
            kind=kind,
            channel=sub.channel,
            target=target,
            subject=compose.subject(kind, site, mine),
            body=compose.body(kind, site, mine),
            payload=compose.payload(kind, site, mine),
            next_attempt_at=now,
        )
        n.alarms.set(mine)
        created.append(n.pk)
    if not created and role == SubscriptionRole.PRIMARY:
        log.warning("site %s has alarms to announce but no contact for them", site.slug)
    return created


def queue_delivery(notification_ids: list[int]) -> None:
    def queue() -> None:
        from alarms.tasks import deliver

        for pk in notification_ids:
            deliver.delay(pk)

    if notification_ids:
        transaction.on_commit(queue)


@transaction.atomic
def flush_site(site_id: int, now: dt.datetime) -> list[int]:
    """Send the site's not-yet-announced active alarms as one message per contact, if due."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM alarms_pendingnotification WHERE site_id = %s AND due_at <= %s "
            "RETURNING site_id",
            [site_id, now],
        )
        if cursor.fetchone() is None:
            return []
    candidates = list(
        Alarm.objects.filter(site_id=site_id, state=AlarmState.ACTIVE, notified_at__isnull=True)
    )
    quiet = _in_maintenance(candidates, now)
    ids = [a.pk for a in candidates if a.pk not in quiet]
    claimed = _claim(
        "UPDATE alarms_alarm SET notified_at = %s WHERE id = ANY(%s) AND notified_at IS NULL "
        "RETURNING id, site_id",
        [now, ids],
    )
    alarms = _with_relations(claimed.get(site_id, []))
    if not alarms:
        return []
    created = _create_messages(
        MessageKind.ALARM, alarms[0].site, alarms, SubscriptionRole.PRIMARY, now
    )
    queue_delivery(created)
    return created


def _claim(sql: str, params: list) -> dict[int, list[int]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        by_site: dict[int, list[int]] = defaultdict(list)
        for alarm_id, site_id in cursor.fetchall():
            by_site[site_id].append(alarm_id)
    return by_site


def _send_claimed(
    kind: str, role: str, by_site: dict[int, list[int]], now: dt.datetime
) -> list[int]:
    created: list[int] = []
    for ids in by_site.values():
        alarms = _with_relations(ids)
        quiet = _in_maintenance(alarms, now)
        alarms = [a for a in alarms if a.pk not in quiet]
        if alarms:
            created += _create_messages(kind, alarms[0].site, alarms, role, now)
    queue_delivery(created)
    return created


@transaction.atomic
def send_reminders(now: dt.datetime) -> list[int]:
    """Every ``reminder_hours`` until acknowledged: claim the due alarms, one message per site."""
    hours = conf.reminder_hours()
    if hours <= 0:
        return []
    by_site = _claim(
        "UPDATE alarms_alarm SET reminded_at = %s WHERE state = 'active' "
        "AND notified_at IS NOT NULL AND COALESCE(reminded_at, notified_at) <= %s "
        "RETURNING id, site_id",
        [now, now - dt.timedelta(hours=hours)],
    )
    return _send_claimed(MessageKind.REMINDER, SubscriptionRole.PRIMARY, by_site, now)


@transaction.atomic
def send_escalations(now: dt.datetime) -> list[int]:
    """Alarms still unacknowledged ``escalate_after_min`` after they became active."""
    minutes = conf.escalate_after_min()
    if minutes <= 0:
        return []
    by_site = _claim(
        "UPDATE alarms_alarm SET escalated_at = %s WHERE state = 'active' "
        "AND escalated_at IS NULL AND activated_at <= %s RETURNING id, site_id",
        [now, now - dt.timedelta(minutes=minutes)],
    )
    return _send_claimed(MessageKind.ESCALATION, SubscriptionRole.ESCALATION, by_site, now)


def announce_missed(now: dt.datetime) -> list[int]:
    """Active alarms never announced (window ended, a lost task): ask for a flush of their sites."""
    cutoff = now - dt.timedelta(seconds=conf.debounce_s())
    site_ids = set(
        Alarm.objects.filter(
            state=AlarmState.ACTIVE, notified_at__isnull=True, activated_at__lte=cutoff
        ).values_list("site_id", flat=True)
    )
    if not site_ids:
        return []
    pending = set(
        PendingNotification.objects.filter(site_id__in=site_ids).values_list("site_id", flat=True)
    )
    quiet_sites = set(
        MaintenanceWindow.objects.filter(
            site_id__in=site_ids, bank__isnull=True, starts_at__lte=now, ends_at__gt=now
        ).values_list("site_id", flat=True)
    )
    todo = sorted(site_ids - pending - quiet_sites)
    if todo:
        with transaction.atomic():
            request_flush(todo, now - dt.timedelta(seconds=conf.debounce_s()))
    return todo


def due_sites(now: dt.datetime) -> list[int]:
    return list(
        PendingNotification.objects.filter(due_at__lte=now).values_list("site_id", flat=True)
    )


def due_deliveries(now: dt.datetime) -> list[int]:
    """Messages to (re)try now: waiting, failed before, or claimed by a worker that vanished."""
    return list(
        Notification.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRY, DeliveryStatus.SENDING],
            next_attempt_at__lte=now,
        ).values_list("pk", flat=True)[:500]
    )
