"""A battery's history for the charts: the range picker's spans and where each is read from.

- ``hour`` and ``day``: raw readings (``acquisition.query.raw_readings``); if a span holds more
  than ``MAX_POINTS`` readings, they are averaged into equal time buckets in SQL (``date_bin``).
- ``week`` and ``month``: hourly rollups (168 / 720 points) with their min/max.
- ``year`` and ``all``: daily rollups (365 points a year).

No trace ever has more than ``MAX_POINTS`` points. Times stay UTC here; the charts convert them
to the site's time zone.
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from acquisition.models import DailyRollup, HourlyRollup
from acquisition.query import raw_readings
from acquisition.registermap import BMU_PARAMETERS
from sites.status import alarms_available

MAX_POINTS = 5000
RANGES: dict[str, dt.timedelta | None] = {
    "hour": dt.timedelta(hours=1),
    "day": dt.timedelta(days=1),
    "week": dt.timedelta(days=7),
    "month": dt.timedelta(days=30),
    "year": dt.timedelta(days=365),
    "all": None,
}
RANGE_LABELS = {"hour": "Hour", "day": "Day", "week": "Week", "month": "Month", "year": "Year"}
RANGE_LABELS["all"] = "All"
PARAMETER_LABELS = {
    "voltage": "Voltage (V)",
    "temperature": "Temperature (C)",
    "dcr": "DCR (mOhm)",
    "micro_voltage": "Micro-discharge (V)",
    "emf": "EMF (V)",
}


@dataclass
class Series:
    """Times and values of every parameter; ``low``/``high`` only for rollups and buckets."""

    source: str
    start: dt.datetime
    end: dt.datetime
    ts: list[dt.datetime] = field(default_factory=list)
    values: dict[str, list[float | None]] = field(default_factory=dict)
    low: dict[str, list[float | None]] = field(default_factory=dict)
    high: dict[str, list[float | None]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ts)


def span_for(range_key: str, battery_id: int, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a range picker choice; ``all`` starts at the first daily rollup."""
    span = RANGES.get(range_key, RANGES["day"])
    if span is not None:
        return now - span, now
    first = (
        DailyRollup.objects.filter(battery_id=battery_id)
        .order_by("bucket")
        .values_list("bucket", flat=True)
        .first()
    )
    return (first or now - dt.timedelta(days=1)), now


def _bucketed(battery_id: int, start: dt.datetime, end: dt.datetime, seconds: int) -> Series:
    """Raw readings averaged into ``seconds``-wide buckets (min/max kept), one query."""
    stats = ", ".join(f"avg({p}), min({p}), max({p})" for p in BMU_PARAMETERS)
    sql = (
        f"SELECT date_bin(make_interval(secs => %s), ts, %s) AS b, {stats} "  # noqa: S608
        "FROM acquisition_reading WHERE battery_id = %s AND ts >= %s AND ts < %s "
        "GROUP BY b ORDER BY b"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [seconds, start, battery_id, start, end])
        rows = cursor.fetchall()
    series = Series(f"raw, {seconds} s averages", start, end, [r[0] for r in rows])
    for i, p in enumerate(BMU_PARAMETERS):
        series.values[p] = [r[1 + 3 * i] for r in rows]
        series.low[p] = [r[2 + 3 * i] for r in rows]
        series.high[p] = [r[3 + 3 * i] for r in rows]
    return series


def _raw(battery_id: int, start: dt.datetime, end: dt.datetime) -> Series:
    rows = raw_readings("battery", battery_id, start, end, BMU_PARAMETERS, limit=MAX_POINTS + 1)
    if len(rows) > MAX_POINTS:
        seconds = math.ceil((end - start).total_seconds() / MAX_POINTS)
        return _bucketed(battery_id, start, end, max(seconds, 1))
    series = Series("raw readings", start, end, [r[0] for r in rows])
    for i, p in enumerate(BMU_PARAMETERS):
        series.values[p] = [r[1 + i] for r in rows]
    return series


def _rollups(battery_id: int, start: dt.datetime, end: dt.datetime, unit: str) -> Series:
    model: Any = HourlyRollup if unit == "hour" else DailyRollup
    cols = [f"{p}_{s}" for p in BMU_PARAMETERS for s in ("avg", "min", "max")]
    rows = list(
        model.objects.filter(battery_id=battery_id, bucket__gte=start, bucket__lt=end)
        .order_by("-bucket")
        .values_list("bucket", *cols)[:MAX_POINTS]
    )
    rows.reverse()
    label = "hourly rollups" if unit == "hour" else "daily rollups"
    series = Series(label, start, end, [r[0] for r in rows])
    for i, p in enumerate(BMU_PARAMETERS):
        series.values[p] = [r[1 + 3 * i] for r in rows]
        series.low[p] = [r[2 + 3 * i] for r in rows]
        series.high[p] = [r[3 + 3 * i] for r in rows]
    return series


def battery_series(battery_id: int, range_key: str, *, now: dt.datetime | None = None) -> Series:
    """The history of one battery for a range picker choice (the caller checked access)."""
    now = now or dt.datetime.now(dt.UTC)
    start, end = span_for(range_key, battery_id, now)
    if range_key in ("hour", "day"):
        return _raw(battery_id, start, end)
    if range_key in ("week", "month"):
        hour_start = start.replace(minute=0, second=0, microsecond=0)
        return _rollups(battery_id, hour_start, end, "hour")
    day_start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return _rollups(battery_id, day_start, end, "day")


def alarm_marks(battery_id: int, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """The battery's alarms raised in [start, end), for the time axis (none until the alarms
    app's table exists: it is being built in parallel)."""
    if not alarms_available():
        return []
    alarm_model: Any = importlib.import_module("alarms.models").Alarm
    alarms = alarm_model.objects.filter(
        battery_id=battery_id, raised_at__gte=start, raised_at__lt=end
    ).order_by("raised_at")[:200]
    return [
        {
            "ts": a.raised_at,
            "severity": a.severity,
            "label": f"{a.get_kind_display()} ({a.severity}, {a.state})",
        }
        for a in alarms
    ]
