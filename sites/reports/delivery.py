"""Sending one report delivery: claim it, build the report, e-mail it, record the attempt.

The same approach as the alarm notifications (``alarms.notifications.delivery``), whose helper
is tied to its own table and channels: the claim is a conditional UPDATE (pending/retry and due,
or a ``sending`` claim that expired because its worker died), the report is built and the mail
sent outside any transaction, and every attempt is recorded on the row (attempts, error,
duration, ``attempt_log``). After ``REPORTS_MAX_ATTEMPTS`` failures the delivery is ``failed``:
logged at ERROR and listed in the admin. Mail goes through Django's mail API, so django-anymail
(``ANYMAIL_PROVIDER``) or SMTP is a setting.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection
from django.utils import timezone

from sites.models import Site
from sites.reports import actions, render
from sites.reports.choices import DeliveryStatus, PeriodKind
from sites.reports.models import ReportDelivery, ReportSubscription
from sites.reports.periods import Period

log = logging.getLogger(__name__)
CLAIM_S = 600  # a delivery claimed this long ago and not finished is tried again


class PermanentError(Exception):
    """A failure that no retry can fix (the user lost access, has no address)."""


def backoff_s(attempt: int) -> int:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): doubling, capped."""
    return min(settings.REPORTS_RETRY_MAX_S, settings.REPORTS_RETRY_BASE_S * 2 ** (attempt - 1))


def _claim(delivery_id: int, now: dt.datetime) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sites_reportdelivery SET status = %s, attempts = attempts + 1, "
            "next_attempt_at = %s WHERE id = %s AND next_attempt_at <= %s "
            "AND status = ANY(%s) RETURNING attempts",
            [
                DeliveryStatus.SENDING,
                now + dt.timedelta(seconds=CLAIM_S),
                delivery_id,
                now,
                [DeliveryStatus.PENDING, DeliveryStatus.RETRY, DeliveryStatus.SENDING],
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def message(d: ReportDelivery, now: dt.datetime) -> EmailMessage:
    """The e-mail of one delivery, with the PDF and/or CSV attached."""
    sub: ReportSubscription = d.subscription
    site: Site | None = None
    if sub.site_id:
        site = Site.objects.for_user(sub.user).filter(pk=sub.site_id).first()
        if site is None:
            raise PermanentError(f"{sub.user} may no longer see site {sub.site_id}")
    if not d.target:
        raise PermanentError(f"{sub.user} has no e-mail address")
    period = Period(sub.period, d.period_start, d.period_end, sub.tz)
    report = actions.build_report(sub.user, site, period, now)
    kind = PeriodKind(sub.period).name.capitalize()
    body = (
        f"{kind} report of {report.title}, {period.label}.\n\n"
        f"Sites: {report.headline.get('sites', 0)}; batteries: "
        f"{report.headline.get('batteries', 0)}; alarms in the period: "
        f"{report.headline.get('alarms', {}).get('total', 0)}.\n\n"
        f"Manage your reports at {settings.PORTAL_URL}/reports/\n"
    )
    msg = EmailMessage(
        subject=f"[BMS] {kind} report: {report.title}, {period.label}"[:250],
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[d.target],
        headers={"X-BMS-Report-Delivery": str(d.pk)},
        connection=get_connection(fail_silently=False),
    )
    if sub.send_pdf:
        msg.attach(render.filename(report, "pdf"), render.pdf(report), "application/pdf")
    if sub.send_csv:
        msg.attach(render.filename(report, "csv"), render.csv_text(report), "text/csv")
    return msg


def deliver(delivery_id: int, now: dt.datetime | None = None) -> str | None:
    """Try to build and send one delivery once. Returns its new status, or None if it was not
    ours to send (already sent, claimed by another worker, or not due yet)."""
    now = now or timezone.now()
    attempt = _claim(delivery_id, now)
    if attempt is None:
        return None
    d = ReportDelivery.objects.select_related("subscription__user", "subscription__site").get(
        pk=delivery_id
    )
    started = time.monotonic()
    error, permanent, size = "", False, 0
    try:
        msg = message(d, now)
        size = sum(len(a[1]) for a in msg.attachments if isinstance(a, tuple))
        if msg.send() != 1:
            raise RuntimeError("the e-mail backend accepted no message")
    except PermanentError as exc:
        error, permanent = str(exc), True
    except Exception as exc:  # any failure is an attempt to record, not a crash
        error = f"{type(exc).__name__}: {exc}"[:2000] or type(exc).__name__
    return _record(d, attempt, now, started, error, permanent, size)


def _record(
    d: ReportDelivery,
    attempt: int,
    now: dt.datetime,
    started: float,
    error: str,
    permanent: bool,
    size: int,
) -> str:
    duration_ms = int((time.monotonic() - started) * 1000)
    entry = {"attempt": attempt, "at": now.isoformat(), "ms": duration_ms, "error": error}
    fields = {"duration_ms": duration_ms, "attempt_log": [*d.attempt_log, entry], "error": error}
    rows = ReportDelivery.objects.filter(pk=d.pk)
    if not error:
        rows.update(status=DeliveryStatus.SENT, sent_at=timezone.now(), size_bytes=size, **fields)
        log.info("report delivery %s to %s sent (%d ms)", d.pk, d.target, duration_ms)
        return DeliveryStatus.SENT
    if permanent or attempt >= settings.REPORTS_MAX_ATTEMPTS:
        rows.update(status=DeliveryStatus.FAILED, **fields)
        log.error("report delivery %s to %s FAILED after %d attempt(s): %s",
                  d.pk, d.target, attempt, error)  # fmt: skip
        return DeliveryStatus.FAILED
    next_at = now + dt.timedelta(seconds=backoff_s(attempt))
    rows.update(status=DeliveryStatus.RETRY, next_attempt_at=next_at, **fields)
    log.warning("report delivery %s to %s attempt %d failed, retry at %s: %s",
                d.pk, d.target, attempt, next_at.isoformat(), error)  # fmt: skip
    return DeliveryStatus.RETRY
