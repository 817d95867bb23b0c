"""Report periods: a daily, weekly (Monday to Sunday) or monthly span in one time zone.

A period runs from local midnight to local midnight, so a daily report of a site in Paris covers
the Paris day (23 or 25 hours on a DST change); its bounds are kept as aware UTC datetimes.
Scheduled reports cover the last *complete* period and go out ``SEND_DELAY`` after it ends, when
the hourly rollups of its last hour exist (the rollup task runs every five minutes).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from sites.reports.choices import PeriodKind

SEND_DELAY = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Period:
    """[start, end) of one report period (UTC-aware) and the zone its days are counted in."""

    kind: str
    start: dt.datetime
    end: dt.datetime
    tz: zoneinfo.ZoneInfo

    @property
    def first_day(self) -> dt.date:
        return self.start.astimezone(self.tz).date()

    @property
    def last_day(self) -> dt.date:
        return (self.end.astimezone(self.tz) - dt.timedelta(seconds=1)).date()

    @property
    def label(self) -> str:
        """'2026-11-23', 'week 2026-W48 (2026-11-23 to 2026-11-29)' or 'November 2026'."""
        if self.kind == PeriodKind.DAILY:
            return self.first_day.isoformat()
        if self.kind == PeriodKind.WEEKLY:
            year, week, _ = self.first_day.isocalendar()
            return f"week {year}-W{week:02d} ({self.first_day} to {self.last_day})"
        return self.first_day.strftime("%B %Y")

    @property
    def slug(self) -> str:
        """For file names: '2026-11-23', '2026-W48', '2026-11'."""
        if self.kind == PeriodKind.WEEKLY:
            year, week, _ = self.first_day.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == PeriodKind.MONTHLY:
            return self.first_day.strftime("%Y-%m")
        return self.first_day.isoformat()

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def _midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def _first_day(kind: str, day: dt.date) -> dt.date:
    if kind == PeriodKind.WEEKLY:
        return day - dt.timedelta(days=day.weekday())
    if kind == PeriodKind.MONTHLY:
        return day.replace(day=1)
    return day


def _next_first_day(kind: str, first: dt.date) -> dt.date:
    if kind == PeriodKind.WEEKLY:
        return first + dt.timedelta(days=7)
    if kind == PeriodKind.MONTHLY:
        return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first + dt.timedelta(days=1)


def period_containing(kind: str, day: dt.date, tz: zoneinfo.ZoneInfo) -> Period:
    """The period of ``kind`` that holds the local date ``day``."""
    if kind not in PeriodKind.values:
        raise ValueError(f"unknown period {kind!r}; choose from {', '.join(PeriodKind.values)}")
    first = _first_day(kind, day)
    return Period(kind, _midnight(first, tz), _midnight(_next_first_day(kind, first), tz), tz)


def last_complete(kind: str, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> Period:
    """The newest period of ``kind`` that ended at or before ``now``."""
    current = period_containing(kind, now.astimezone(tz).date(), tz)
    return period_containing(kind, current.first_day - dt.timedelta(days=1), tz)


def next_run_after(kind: str, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """When the report of the period running at ``now`` is due: its end plus ``SEND_DELAY``."""
    return period_containing(kind, now.astimezone(tz).date(), tz).end + SEND_DELAY


def due_period(kind: str, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> Period:
    """The period a report claimed at ``now`` covers: the newest one complete ``SEND_DELAY``
    ago (after an outage of the scheduler, the newest period, not a stale one)."""
    return last_complete(kind, now - SEND_DELAY, tz)
