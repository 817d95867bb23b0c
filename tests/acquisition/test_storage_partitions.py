"""Daily partitions: created ahead, dropped by retention, by function, task and command."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from acquisition import storage, tasks

TABLES = ("acquisition_reading", "acquisition_bankreading")


def days_of(table: str) -> set[dt.date]:
    return set(storage.existing_partitions(table))


def test_partitions_are_created_ahead_for_both_tables(db: Any) -> None:
    today = dt.date(2031, 3, 30)
    created = storage.ensure_partitions(3, today=today)
    expected = {today + dt.timedelta(n) for n in range(4)}
    assert len(created) == 8
    for table in TABLES:
        assert expected <= days_of(table)
    assert storage.ensure_partitions(3, today=today) == []  # idempotent


def test_a_partition_covers_exactly_its_utc_day(db: Any) -> None:
    storage.ensure_partitions(0, today=dt.date(2031, 4, 2))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE relname = %s",
            ["acquisition_reading_p20310402"],
        )
        (bound,) = cursor.fetchone()
    assert bound == ("FOR VALUES FROM ('2031-04-02 00:00:00+00') TO ('2031-04-03 00:00:00+00')")


def test_partitions_older_than_retention_are_dropped(db: Any) -> None:
    today = dt.date(2031, 6, 10)
    storage.ensure_partitions(0, days_back=12, today=today)
    dropped = storage.drop_old_partitions(10, today=today)
    assert "acquisition_reading_p20310529" in dropped  # 12 days back
    assert "acquisition_bankreading_p20310530" in dropped  # 11 days back
    days = days_of("acquisition_reading")
    assert dt.date(2031, 5, 31) in days  # exactly 10 days back: kept
    assert not {dt.date(2031, 5, 29), dt.date(2031, 5, 30)} & days


def test_retention_zero_keeps_everything(db: Any) -> None:
    storage.ensure_partitions(0, days_back=3, today=dt.date(2031, 7, 1))
    assert storage.drop_old_partitions(0, today=dt.date(2031, 7, 1)) == []


@override_settings(READINGS_RETENTION_DAYS=30)
def test_the_daily_task_creates_a_week_ahead_and_applies_retention(db: Any) -> None:
    old = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=45)
    storage.ensure_partitions_for([old])
    result = tasks.manage_partitions.delay().get()
    assert result["dropped"] >= 2
    assert old not in days_of("acquisition_reading")
    week = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    assert week in days_of("acquisition_bankreading")


def test_manage_partitions_command_reports_progress(db: Any) -> None:
    old = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
    storage.ensure_partitions_for([old])
    out = StringIO()
    call_command("manage_partitions", "--days-ahead", "9", "--retention-days", "15", stdout=out)
    text = out.getvalue()
    assert f"dropped acquisition_reading_p{old:%Y%m%d}" in text
    assert "partition(s) dropped." in text
