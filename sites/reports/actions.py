"""Report operations: subscriptions, building a report for a user, the scheduler's claim.

Views, the admin and the Celery tasks call these; they parse input and check permission
before. The scheduler claims each due subscription with a conditional UPDATE on ``next_run``
(compare-and-set), so two beats or workers running at once create one delivery per period; the
delivery row itself is unique per (subscription, period start) as a second guard.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from sites.models import Site
from sites.reports import content
from sites.reports.choices import DeliveryStatus
from sites.reports.models import ReportDelivery, ReportSubscription
from sites.reports.periods import Period, due_period, last_complete, next_run_after
from sites.reports.periods import period_containing as _containing
from sites.reports.tables import Report

log = logging.getLogger(__name__)
#: At most this many subscriptions are claimed per beat run (the rest on the next run).
CLAIM_BATCH = 500


def fleet_tz() -> zoneinfo.ZoneInfo:
    """Fleet reports count days in the portal's time zone (``TIME_ZONE``)."""
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def period_for(kind: str, tz: zoneinfo.ZoneInfo, day: dt.date | None, now: dt.datetime) -> Period:
    """The period holding local date ``day``; without one, the last complete period."""
    if day is None:
        return last_complete(kind, now, tz)
    return _containing(kind, day, tz)


def build_report(user: Any, site: Site | None, period: Period, now: dt.datetime) -> Report:
    """A site's report, or the fleet report of every site ``user`` may see (scoped here)."""
    if site is not None:
        return content.gather([site.pk], period, title=site.name, scope="site", now=now)
    ids = list(Site.objects.for_user(user).order_by("name").values_list("pk", flat=True))
    title = f"Fleet report ({len(ids)} site{'s' if len(ids) != 1 else ''})"
    return content.gather(ids, period, title=title, scope="fleet", now=now)


@transaction.atomic
def subscribe(
    user: Any,
    *,
    site: Site | None,
    period: str,
    send_pdf: bool = True,
    send_csv: bool = True,
    now: dt.datetime,
) -> ReportSubscription:
    """Create (or re-activate) a subscription; ``site`` must be one the user may see (checked
    by the caller's form queryset). Its first report covers the period running now."""
    sub, _ = ReportSubscription.objects.update_or_create(
        user=user,
        site=site,
        period=period,
        defaults={"send_pdf": send_pdf, "send_csv": send_csv, "active": True, "next_run": now},
    )
    sub.next_run = next_run_after(period, now, sub.tz)
    sub.save(update_fields=["next_run"])
    return sub


def unsubscribe(subscription: ReportSubscription) -> None:
    """Stop a subscription; its delivery history stays."""
    ReportSubscription.objects.filter(pk=subscription.pk).update(active=False)


def _claim_one(sub: ReportSubscription, now: dt.datetime) -> int | None:
    """Move ``next_run`` on if nobody did since we read it; then create the period's delivery."""
    new_next = next_run_after(sub.period, now, sub.tz)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sites_reportsubscription SET next_run = %s "
                "WHERE id = %s AND next_run = %s AND active RETURNING id",
                [new_next, sub.pk, sub.next_run],
            )
            if cursor.fetchone() is None:
                return None  # another scheduler claimed it first
        period = due_period(sub.period, now, sub.tz)
        delivery, created = ReportDelivery.objects.get_or_create(
            subscription=sub,
            period_start=period.start,
            defaults={
                "period_end": period.end,
                "target": sub.user.email,
                "next_attempt_at": now,
            },
        )
        if not created:
            return None  # this period went out already (e.g. next_run was moved back by hand)
        transaction.on_commit(lambda: _queue(delivery.pk, now))
        return delivery.pk


def _queue(delivery_id: int, now: dt.datetime) -> None:
    from sites.reports.tasks import deliver

    deliver.delay(delivery_id, now.isoformat())


def claim_due(now: dt.datetime) -> list[int]:
    """Claim every due subscription once and create its delivery; returns the deliveries'
    ids (each queued for sending after its commit). Safe to run twice, and concurrently."""
    due = (
        ReportSubscription.objects.filter(active=True, next_run__lte=now)
        .select_related("site", "user")
        .order_by("next_run")[:CLAIM_BATCH]
    )
    claimed = [pk for sub in due if (pk := _claim_one(sub, now)) is not None]
    if claimed:
        log.info("claimed %d due report(s)", len(claimed))
    return claimed


def due_deliveries(now: dt.datetime) -> list[int]:
    """Deliveries to (re)try now: waiting, failed before, or claimed by a worker that died."""
    return list(
        ReportDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRY, DeliveryStatus.SENDING],
            next_attempt_at__lte=now,
        ).values_list("pk", flat=True)[:CLAIM_BATCH]
    )
