"""What a report says: one function per section, each with a constant number of queries.

``gather(site_ids, period, ...)`` builds a :class:`~sites.reports.tables.Report` from the sections
below and ``sites.reports.batteries``; the caller has already scoped ``site_ids``
(``Site.objects.for_user(user)``) - nothing here looks at a user. About ten queries per report,
whatever the number of sites, batteries or alarms.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Q

from alarms.choices import AlarmState, RuleKind, Severity
from alarms.models import Alarm
from sites.models import Site
from sites.reports import batteries, charts
from sites.reports.periods import Period
from sites.reports.tables import Column, Report, SiteRef, Table
from sites.status import site_status_rollup

#: The PDF lists at most this many alarms (the CSV has them all, up to ``MAX_ALARMS``).
PDF_ALARMS = 300
MAX_ALARMS = 5000


def health(site_ids: list[int], now: dt.datetime) -> tuple[Table, dict[str, Any]]:
    """Per site: status, battery counts by level, banks, gateways (at generation time). Three
    queries for the status roll-up (see ``sites.status``), one for the counts."""
    rollups = site_status_rollup(site_ids, now=now)
    counts: dict[int, tuple[int, int]] = {
        pk: (banks, gateways)
        for pk, banks, gateways in Site.objects.filter(pk__in=site_ids)
        .annotate(n_banks=Count("banks", distinct=True), n_gw=Count("gateways", distinct=True))
        .values_list("pk", "n_banks", "n_gw")
    }
    table = Table(
        "health",
        "Health summary (status at generation time)",
        [
            Column("site", "Site"),
            Column("status", "Status"),
            Column("batteries", "Batteries", "int"),
            Column("ok", "OK", "int"),
            Column("warning", "Warning", "int"),
            Column("alarm", "Alarm", "int"),
            Column("offline", "Offline", "int"),
            Column("banks", "Banks", "int"),
            Column("gateways", "Gateways", "int"),
            Column("active_alarms", "Raised alarms", "int"),
            Column("availability_pct", "Data availability", "pct"),
            Column("worst", "Worst battery"),
        ],
        empty="No site.",
    )
    for r in rollups:
        n_banks, n_gateways = counts.get(r.id, (0, 0))
        table.rows.append(
            {
                "site": r.name,
                "status": r.status,
                "batteries": r.batteries,
                "ok": max(0, r.batteries - r.alarms - r.warnings - r.silent),
                "warning": r.warnings,
                "alarm": r.alarms,
                "offline": r.silent,
                "banks": n_banks,
                "gateways": n_gateways,
                "active_alarms": r.active_alarms,
                "availability_pct": None,  # filled from the availability section
                "worst": (
                    f"{r.worst_bank} #{r.worst_position}: {r.worst_reason}"
                    if r.worst_battery_id
                    else ""
                ),
                "_site_id": r.id,
            }
        )
    statuses: dict[str, int] = {}
    for r in rollups:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    headline = {
        "sites": len(rollups),
        "site_statuses": statuses,
        **{key: sum(row[key] for row in table.rows) for key in ("batteries", "banks", "gateways")},
        **{key: sum(row[key] for row in table.rows) for key in ("ok", "warning", "alarm")},
        "offline": sum(row["offline"] for row in table.rows),
    }
    return table, headline


def _subject(a: Alarm) -> str:
    if a.battery is not None:
        return f"{a.battery.bank.name} #{a.battery.position}"
    if a.bank is not None:
        return a.bank.name
    if a.gateway is not None:
        return f"gateway {a.gateway.name}"
    return "site"


def period_alarms(site_ids: list[int], period: Period, now: dt.datetime) -> Table:
    """Alarms open at some time in the period (raised before its end, not cleared before its
    start), with how long until acknowledged and how long open: one query."""
    alarms = (
        Alarm.objects.visible()
        .filter(site_id__in=site_ids, raised_at__lt=period.end)
        .filter(Q(cleared_at__isnull=True) | Q(cleared_at__gte=period.start))
        .select_related("site", "bank", "battery__bank", "gateway")
        .order_by("raised_at", "id")[:MAX_ALARMS]
    )
    table = Table(
        "alarms",
        "Alarms of the period",
        [
            Column("raised_at", "Raised", "time"),
            Column("site", "Site"),
            Column("object", "Object"),
            Column("kind", "Alarm"),
            Column("severity", "Severity"),
            Column("state", "State now"),
            Column("value", "Value", "num3"),
            Column("threshold", "Limit", "num3"),
            Column("acknowledged_after", "Ack. after", "duration"),
            Column("open_for", "Open for", "duration"),
            Column("cleared_at", "Cleared", "time"),
        ],
        empty="No alarm in this period.",
        pdf_limit=PDF_ALARMS,
    )
    for a in alarms:
        table.rows.append(
            {
                "raised_at": a.raised_at,
                "site": a.site.name,
                "object": _subject(a),
                "kind": RuleKind(a.kind).label,
                "severity": a.severity,
                "state": a.state,
                "value": a.value,
                "threshold": a.threshold,
                "acknowledged_after": (
                    a.acknowledged_at - a.raised_at if a.acknowledged_at else None
                ),
                "open_for": (a.cleared_at or now) - a.raised_at,
                "cleared_at": a.cleared_at,
            }
        )
    if table.truncated:
        table.note = f"The first {PDF_ALARMS} of {len(table.rows)} alarms; the CSV has them all."
    return table


def alarm_stats(table: Table) -> dict[str, Any]:
    """Counts by severity, still open, and the median time to acknowledge and to clear."""
    rows = table.rows
    acks = [r["acknowledged_after"].total_seconds() for r in rows if r["acknowledged_after"]]
    cleared = [r["open_for"].total_seconds() for r in rows if r["cleared_at"]]
    return {
        "total": len(rows),
        "critical": sum(r["severity"] == Severity.CRITICAL for r in rows),
        "warning": sum(r["severity"] == Severity.WARNING for r in rows),
        "still_open": sum(r["state"] != AlarmState.CLEARED for r in rows),
        "median_ack": dt.timedelta(seconds=statistics.median(acks)) if acks else None,
        "median_open": dt.timedelta(seconds=statistics.median(cleared)) if cleared else None,
    }


_AVAILABILITY_SQL = """
WITH units AS (
    SELECT bu.gateway_id, bt.id AS battery_id
    FROM sites_battery bt JOIN sites_bus bu ON bu.id = bt.bus_id
    WHERE bt.status = 'in_service'
), hours AS (
    SELECT u.gateway_id, count(h.battery_id) AS unit_hours, COALESCE(sum(h.n), 0) AS readings
    FROM units u JOIN acquisition_hourlyrollup h ON h.battery_id = u.battery_id
    WHERE h.bucket >= %(start)s AND h.bucket < %(end)s
    GROUP BY u.gateway_id
)
SELECT g.id, g.site_id, s.name, g.name, g.scan_interval_s, g.heartbeat_s, g.last_seen_at,
       (SELECT count(*) FROM units u WHERE u.gateway_id = g.id),
       COALESCE(hours.unit_hours, 0), COALESCE(hours.readings, 0)
FROM sites_gateway g JOIN sites_site s ON s.id = g.site_id
LEFT JOIN hours ON hours.gateway_id = g.id
WHERE g.site_id = ANY(%(sites)s) AND g.revoked_at IS NULL
ORDER BY s.name, g.name
"""


def availability(site_ids: list[int], period: Period, now: dt.datetime) -> Table:
    """Per gateway: the share of expected unit-hours that have data (an hourly rollup), one
    query. Agents report by exception (a unit that does not change is re-sent every heartbeat),
    so the count of readings is shown but a unit-hour, not a scan, is the unit of availability."""
    end = min(period.end, now)
    expected_hours = max(0.0, (end - period.start).total_seconds() / 3600)
    with connection.cursor() as cursor:
        cursor.execute(
            _AVAILABILITY_SQL, {"sites": site_ids, "start": period.start, "end": period.end}
        )
        rows = cursor.fetchall()
    table = Table(
        "availability",
        "Data availability per gateway",
        [
            Column("site", "Site"),
            Column("gateway", "Gateway"),
            Column("units", "Units", "int"),
            Column("scan_interval_s", "Scan (s)", "int"),
            Column("expected_unit_hours", "Expected unit-hours", "int"),
            Column("unit_hours", "With data", "int"),
            Column("readings", "Readings", "int"),
            Column("availability_pct", "Availability", "pct"),
            Column("last_seen_at", "Last seen", "time"),
        ],
        empty="No gateway.",
    )
    for _gid, site_id, site, name, scan, _hb, seen, units, unit_hours, readings in rows:
        expected = round(units * expected_hours)
        table.rows.append(
            {
                "site": site,
                "gateway": name,
                "units": units,
                "scan_interval_s": scan,
                "expected_unit_hours": expected,
                "unit_hours": unit_hours,
                "readings": int(readings),
                "availability_pct": min(100.0, unit_hours / expected * 100) if expected else None,
                "last_seen_at": seen,
                "_site_id": site_id,
            }
        )
    return table


@dataclass
class ForecastSummary:
    """Remaining life and replacement plan of the report's batteries."""

    available: bool = False
    message: str = "No forecast yet."
    rows: list[dict[str, Any]] = field(default_factory=list)


def forecasting_summary(site_ids: list[int], period: Period) -> ForecastSummary:
    """Forecasts and replacement plan for the report: the batteries of these sites predicted to
    reach replacement (DCR +50 %) within a year of the period's end, soonest first (one query)."""
    from forecasting.models import RemainingLife
    from forecasting.plan import plan_rows

    today = period.end.astimezone(period.tz).date()
    rows = [
        {
            "site": r.life.battery.bank.site.name,
            "bank": r.life.battery.bank.name,
            "position": r.life.battery.position,
            "remaining_days": max((r.life.replace_on - today).days, 0),
            "replace_by": r.life.replace_on.isoformat(),
            "reason": f"{r.life.get_cause_display()} (DCR {r.life.dcr_pct or 0:.0f} %)",
        }
        for r in plan_rows(site_ids, today)
    ]
    if rows:
        return ForecastSummary(True, "", rows)
    if RemainingLife.objects.filter(battery__bank__site_id__in=site_ids).exists():
        return ForecastSummary(True, "No battery is due for replacement within 12 months.")
    return ForecastSummary()


def _forecast_table(summary: ForecastSummary) -> Table:
    return Table(
        "forecast",
        "Forecasts and replacement plan",
        [
            Column("site", "Site"),
            Column("bank", "Bank"),
            Column("position", "Pos.", "int"),
            Column("remaining_days", "Remaining life (days)", "int"),
            Column("replace_by", "Replace by"),
            Column("reason", "Reason"),
        ],
        rows=summary.rows,
        empty=summary.message,
    )


def _site_availability(health_table: Table, avail: Table) -> None:
    totals: dict[int, list[int]] = {}
    for row in avail.rows:
        t = totals.setdefault(row["_site_id"], [0, 0])
        t[0] += row["unit_hours"]
        t[1] += row["expected_unit_hours"]
    for row in health_table.rows:
        got, expected = totals.get(row["_site_id"], [0, 0])
        row["availability_pct"] = min(100.0, got / expected * 100) if expected else None


def gather(
    site_ids: list[int], period: Period, *, title: str, scope: str, now: dt.datetime
) -> Report:
    """The whole report of these (already scoped) sites for ``period``; about ten queries."""
    health_table, headline = health(site_ids, now)
    sites = [SiteRef(r["_site_id"], r["site"], "") for r in health_table.rows]
    alarms_table = period_alarms(site_ids, period, now)
    values = batteries.battery_values(site_ids, period)
    avail = availability(site_ids, period, now)
    _site_availability(health_table, avail)
    drift = batteries.dcr_drift(values)
    banks = batteries.chart_banks(values, multi_site=len(site_ids) > 1)
    batteries.fill_string_voltage(banks, period)
    forecast = forecasting_summary(site_ids, period)
    expected = sum(r["expected_unit_hours"] for r in avail.rows)
    headline["availability_pct"] = (
        sum(r["unit_hours"] for r in avail.rows) / expected * 100 if expected else None
    )
    headline["alarms"] = alarm_stats(alarms_table)
    report = Report(title, scope, period, now, sites, headline, forecast_message=forecast.message)
    for table in (
        health_table,
        alarms_table,
        batteries.out_of_threshold(values, site_ids),
        drift,
        _forecast_table(forecast),
        avail,
    ):
        report.tables[table.key] = table
    report.charts = charts.all_charts(drift, banks, avail, period)
    return report
