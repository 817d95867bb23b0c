"""The scheduler: periods in the site's time zone, next_run, and a due subscription claimed
exactly once when two schedulers run at the same moment."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import pytest
from django.db import connection

from sites.reports import actions
from sites.reports.models import ReportDelivery, ReportSubscription
from sites.reports.periods import SEND_DELAY, due_period, next_run_after, period_containing
from tests.conftest import make_site, make_user

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def test_periods_run_from_local_midnight_to_local_midnight():
    day = period_containing("daily", dt.date(2026, 10, 25), PARIS)  # DST ends: 25 hours
    assert day.start == dt.datetime(2026, 10, 24, 22, 0, tzinfo=dt.UTC)
    assert day.hours == 25
    week = period_containing("weekly", dt.date(2026, 11, 18), PARIS)
    assert (week.first_day, week.last_day) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    month = period_containing("monthly", dt.date(2026, 12, 31), PARIS)
    assert month.label == "December 2026" and month.end.astimezone(PARIS).date().month == 1


def test_next_run_is_the_end_of_the_running_period_plus_the_delay():
    now = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)  # a Tuesday
    assert (
        next_run_after("daily", now, PARIS)
        == dt.datetime(2026, 11, 24, 23, 0, tzinfo=dt.UTC) + SEND_DELAY
    )
    assert next_run_after("weekly", now, PARIS).astimezone(PARIS) == dt.datetime(
        2026, 11, 30, 0, 30, tzinfo=PARIS
    )
    # claimed just after its next_run, a weekly report covers the week that just ended
    claimed_at = dt.datetime(2026, 11, 30, 0, 31, tzinfo=PARIS)
    assert due_period("weekly", claimed_at, PARIS).first_day == dt.date(2026, 11, 23)


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_claim_a_due_subscription_once(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    site = make_site(time_zone="Europe/Paris")
    user = make_user("alice", superuser=True)
    user.email = "alice@example.test"
    user.save()
    now = dt.datetime(2026, 11, 30, 0, 45, tzinfo=PARIS)
    sub = ReportSubscription.objects.create(
        user=user, site=site, period="weekly", next_run=now - dt.timedelta(minutes=10)
    )
    barrier = threading.Barrier(4)
    results: list[list[int]] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(actions.claim_due(now))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    (delivery,) = ReportDelivery.objects.all()
    assert delivery.period_start.astimezone(PARIS) == dt.datetime(2026, 11, 23, tzinfo=PARIS)
    assert delivery.status == "sent" and delivery.attempts == 1  # eager: sent on commit
    sub.refresh_from_db()
    assert sub.next_run.astimezone(PARIS) == dt.datetime(2026, 12, 7, 0, 30, tzinfo=PARIS)
    assert actions.claim_due(now) == []  # running again changes nothing


def test_subscribe_sets_the_first_run(history):
    now = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
    sub = actions.subscribe(history.manager, site=None, period="daily", now=now)
    assert sub.next_run == dt.datetime(2026, 11, 25, 0, 30, tzinfo=dt.UTC)  # TIME_ZONE=UTC
    again = actions.subscribe(history.manager, site=None, period="daily", send_csv=False, now=now)
    assert again.pk == sub.pk and again.formats == ["pdf"]
