"""Report sections about batteries: values at period end, out of threshold, DCR drift, and the
per-bank chart data (DCR % by position, string voltage over the period).

Everything is read from the hourly rollups (never the raw readings): a month of a 254-battery
site is 183,000 rollup rows against tens of millions of readings.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection

from alarms.choices import RuleKind, Severity
from alarms.rules import BATTERY_RULES, breached
from alarms.thresholds import Resolver, absolute, battery_cells, overrides_for
from sites.reports.periods import Period
from sites.reports.tables import Column, Table

#: Values "at period end" are the newest hourly rollup within this window before the end.
END_WINDOW = dt.timedelta(hours=6)
DRIFT_TOP_N = 15
CHART_BANKS = 8

_VALUES_SQL = """
SELECT bt.id, bt.position, bt.serial, bt.dcr_baseline_mohm::float8, bk.id, bk.name, s.id,
       s.name, m.id, m.chemistry, m.nominal_voltage::float8, m.capacity_ah::float8,
       e.bucket, e.voltage_avg, e.temperature_avg, e.micro_voltage_avg, e.emf_avg,
       d1.dcr_avg, d0.dcr_avg
FROM sites_battery bt
JOIN sites_bank bk ON bk.id = bt.bank_id
JOIN sites_site s ON s.id = bk.site_id
JOIN sites_batterymodel m ON m.id = bt.model_id
LEFT JOIN LATERAL (
    SELECT h.bucket, h.voltage_avg, h.temperature_avg, h.micro_voltage_avg, h.emf_avg
    FROM acquisition_hourlyrollup h
    WHERE h.battery_id = bt.id AND h.bucket >= %(recent)s AND h.bucket < %(end)s
    ORDER BY h.bucket DESC LIMIT 1) e ON true
LEFT JOIN LATERAL (
    SELECT h.dcr_avg FROM acquisition_hourlyrollup h
    WHERE h.battery_id = bt.id AND h.bucket >= %(start)s AND h.bucket < %(end)s
      AND h.dcr_avg IS NOT NULL
    ORDER BY h.bucket DESC LIMIT 1) d1 ON true
LEFT JOIN LATERAL (
    SELECT h.dcr_avg FROM acquisition_hourlyrollup h
    WHERE h.battery_id = bt.id AND h.bucket >= %(start)s AND h.bucket < %(end)s
      AND h.dcr_avg IS NOT NULL
    ORDER BY h.bucket LIMIT 1) d0 ON true
WHERE bt.status = 'in_service' AND bk.site_id = ANY(%(sites)s)
ORDER BY s.name, s.id, bk.name, bk.id, bt.position
"""


@dataclass(slots=True)
class BatteryValues:
    """One in-service battery and its values at the end of the period (hourly means)."""

    id: int
    position: int
    serial: str
    baseline: float | None
    bank_id: int
    bank: str
    site_id: int
    site: str
    model_id: int
    chemistry: str
    nominal_voltage: float
    capacity_ah: float
    ts: dt.datetime | None
    voltage: float | None
    temperature: float | None
    micro_voltage: float | None
    emf: float | None
    dcr: float | None  # newest DCR of the period
    dcr_start: float | None  # first DCR of the period
    # for the bank-deviation rules
    mean_voltage: float | None = None
    mean_temperature: float | None = None
    bank_size: int = 0
    ambient: float | None = None  # not in the rollups: the thermal-runaway rule is skipped

    @property
    def dcr_pct(self) -> float | None:
        if self.dcr is None or not self.baseline:
            return None
        return self.dcr / self.baseline * 100.0

    @property
    def dcr_start_pct(self) -> float | None:
        if self.dcr_start is None or not self.baseline:
            return None
        return self.dcr_start / self.baseline * 100.0


def battery_values(site_ids: list[int], period: Period) -> list[BatteryValues]:
    """Every in-service battery of the sites with its values at period end: one query."""
    params: dict[str, Any] = {
        "sites": site_ids,
        "start": period.start,
        "end": period.end,
        "recent": period.end - END_WINDOW,
    }
    with connection.cursor() as cursor:
        cursor.execute(_VALUES_SQL, params)
        out = [BatteryValues(*row) for row in cursor.fetchall()]
    by_bank: dict[int, list[BatteryValues]] = defaultdict(list)
    for b in out:
        by_bank[b.bank_id].append(b)
    for members in by_bank.values():
        volts = [b.voltage for b in members if b.voltage is not None]
        temps = [b.temperature for b in members if b.temperature is not None]
        for b in members:
            b.bank_size = len(members)
            b.mean_voltage = sum(volts) / len(volts) if volts else None
            b.mean_temperature = sum(temps) / len(temps) if temps else None
    return out


def _breach(
    resolver: Resolver, spec: Any, b: BatteryValues
) -> tuple[str, float, float | None] | None:
    """(severity, value, limit) of the worst breached severity of one rule, or None."""
    value = spec.metric(b)
    if value is None:
        return None
    cells = battery_cells(b.chemistry, b.nominal_voltage)
    for severity in (Severity.CRITICAL, Severity.WARNING):
        r = resolver.resolve(
            spec.kind,
            severity,
            chemistry=b.chemistry,
            model_id=b.model_id,
            site_id=b.site_id,
            bank_id=b.bank_id,
            battery_id=b.id,
        )
        if not r.active:
            continue
        limit, limit2, _ = absolute(spec, r, cells, b.capacity_ah)
        if limit is not None and breached(spec, value, limit, limit2, None):
            return severity, value, limit
    return None


def out_of_threshold(values: list[BatteryValues], site_ids: list[int]) -> Table:
    """Batteries whose values at period end breach an effective threshold: one query (the
    threshold overrides); the rules are the alarms app's, resolved as the evaluation does."""
    rows = overrides_for(
        {b.chemistry for b in values},
        {b.model_id for b in values},
        site_ids,
        {b.bank_id for b in values},
    )
    resolver = Resolver(rows)
    table = Table(
        "out_of_threshold",
        "Batteries out of threshold at period end",
        [
            Column("site", "Site"),
            Column("bank", "Bank"),
            Column("position", "Pos.", "int"),
            Column("serial", "Serial"),
            Column("rule", "Rule"),
            Column("severity", "Severity"),
            Column("value", "Value", "num3"),
            Column("limit", "Limit", "num3"),
            Column("unit", "Unit"),
            Column("ts", "Measured", "time"),
        ],
        empty="Every battery was within its thresholds at the end of the period.",
    )
    for b in values:
        for spec in BATTERY_RULES:
            hit = _breach(resolver, spec, b)
            if hit is None:
                continue
            severity, value, limit = hit
            table.rows.append(
                {
                    "site": b.site,
                    "bank": b.bank,
                    "position": b.position,
                    "serial": b.serial,
                    "rule": RuleKind(spec.kind).label,
                    "severity": severity,
                    "value": value,
                    "limit": limit,
                    "unit": spec.abs_unit,
                    "ts": b.ts,
                }
            )
    table.rows.sort(key=lambda r: (r["severity"] != Severity.CRITICAL, r["site"], r["bank"]))
    return table


def dcr_drift(values: list[BatteryValues], top: int = DRIFT_TOP_N) -> Table:
    """The ``top`` batteries with the highest DCR as % of their baseline at period end."""
    ranked = sorted(
        (b for b in values if b.dcr_pct is not None), key=lambda b: b.dcr_pct or 0, reverse=True
    )[:top]
    table = Table(
        "dcr_drift",
        f"Worst DCR drift (top {top} by DCR % of baseline)",
        [
            Column("site", "Site"),
            Column("bank", "Bank"),
            Column("position", "Pos.", "int"),
            Column("serial", "Serial"),
            Column("baseline_mohm", "Baseline mOhm", "num3"),
            Column("dcr_start_mohm", "DCR start mOhm", "num3"),
            Column("dcr_end_mohm", "DCR end mOhm", "num3"),
            Column("dcr_pct", "% of baseline", "pct"),
            Column("change_pct", "Change (points)", "num1"),
        ],
        empty="No DCR measurement with a baseline in this period.",
    )
    for b in ranked:
        start_pct = b.dcr_start_pct
        table.rows.append(
            {
                "site": b.site,
                "bank": b.bank,
                "position": b.position,
                "serial": b.serial,
                "baseline_mohm": b.baseline,
                "dcr_start_mohm": b.dcr_start,
                "dcr_end_mohm": b.dcr,
                "dcr_pct": b.dcr_pct,
                "change_pct": None if start_pct is None else (b.dcr_pct or 0) - start_pct,
            }
        )
    return table


@dataclass
class BankSeries:
    """One bank's chart data: DCR % by position, string voltage over the period."""

    id: int
    label: str
    batteries: int
    dcr_pct: dict[int, float | None]
    ts: list[dt.datetime]
    string_voltage: list[float]


def chart_banks(values: list[BatteryValues], multi_site: bool) -> list[BankSeries]:
    """The banks the charts show: all when there are ``CHART_BANKS`` or fewer, else those with
    the highest DCR % (in site and bank order)."""
    banks: dict[int, BankSeries] = {}
    worst: dict[int, float] = defaultdict(float)
    for b in values:
        label = f"{b.site} / {b.bank}" if multi_site else b.bank
        series = banks.setdefault(b.bank_id, BankSeries(b.bank_id, label, 0, {}, [], []))
        series.batteries += 1
        series.dcr_pct[b.position] = b.dcr_pct
        worst[b.bank_id] = max(worst[b.bank_id], b.dcr_pct or 0.0)
    keep = sorted(banks, key=lambda k: worst[k], reverse=True)[:CHART_BANKS]
    order = list(banks)
    return [banks[k] for k in sorted(keep, key=order.index)]


_STRING_SQL = """
SELECT bt.bank_id, h.bucket, avg(h.voltage_avg)
FROM acquisition_hourlyrollup h JOIN sites_battery bt ON bt.id = h.battery_id
WHERE bt.bank_id = ANY(%s) AND bt.status = 'in_service' AND h.bucket >= %s AND h.bucket < %s
  AND h.voltage_avg IS NOT NULL
GROUP BY bt.bank_id, h.bucket ORDER BY bt.bank_id, h.bucket
"""


def fill_string_voltage(banks: list[BankSeries], period: Period) -> None:
    """String voltage per hour (mean block voltage x blocks, so an hour in which some units were
    silent does not show as a voltage dip): one query over the hourly rollups."""
    if not banks:
        return
    by_id = {b.id: b for b in banks}
    with connection.cursor() as cursor:
        cursor.execute(_STRING_SQL, [list(by_id), period.start, period.end])
        for bank_id, bucket, mean in cursor.fetchall():
            series = by_id[bank_id]
            series.ts.append(bucket)
            series.string_voltage.append(mean * series.batteries)
