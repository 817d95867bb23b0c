"""Queries behind the fleet, site and bank pages (and their JSON/CSV twins).

Every function takes objects the caller already fetched through ``for_user`` (or a queryset
scoped by it), so scoping stays in the views and Dash callbacks. Each list is ONE query,
whatever its length: status levels are computed in Python from rows fetched together.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from acquisition.query import real
from sites.choices import BatteryStatus
from sites.models import Bank, Battery, Site
from sites.status import (
    Level,
    SiteRollup,
    alarm_levels,
    bank_state,
    battery_level,
    battery_reason,
    dcr_ratio,
    rollup,
    site_status_rollup,
    stale_window,
)

STATUS_CHOICES = [lv.label for lv in (Level.OK, Level.WARNING, Level.ALARM, Level.OFFLINE)]
LIVE_COLUMNS = (
    ("bank", "Bank"),
    ("position", "Position"),
    ("voltage", "Voltage (V)"),
    ("temperature", "Temperature (C)"),
    ("dcr", "DCR (mOhm)"),
    ("dcr_pct", "DCR % of baseline"),
    ("micro_voltage", "Micro-discharge (V)"),
    ("emf", "EMF (V)"),
    ("level", "State"),
    ("ts_local", "Last reading"),
)


def local_time(ts: dt.datetime | None, tz: zoneinfo.ZoneInfo) -> str:
    """``2026-11-24 05:40:12 CET``: a time as people on site read it ("" when unknown)."""
    if ts is None:
        return ""
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


# -- fleet -----------------------------------------------------------------------------------------


@dataclass
class FleetSummary:
    rows: list[SiteRollup]
    counts: dict[str, int]
    level: Level


def fleet_rows(
    visible_sites: QuerySet[Site], *, search: str = "", status: str = ""
) -> FleetSummary:
    """The fleet overview: every visible site matching ``search`` with its roll-up (one query),
    filtered by ``status``; ``counts`` are per status before that filter."""
    sites = visible_sites
    if search:
        sites = sites.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    rows = site_status_rollup(sites)
    counts = dict.fromkeys(STATUS_CHOICES, 0)
    for row in rows:
        counts[row.status] += 1
    level = max((r.level for r in rows), default=Level.OK)
    if status in counts:
        rows = [r for r in rows if r.status == status]
    return FleetSummary(rows, counts, level)


# -- site dashboard --------------------------------------------------------------------------------


@dataclass
class LiveBattery:
    """One row of the live table."""

    id: int
    bank_id: int
    bank: str
    position: int
    url: str
    voltage: float | None
    temperature: float | None
    dcr: float | None
    dcr_pct: float | None
    micro_voltage: float | None
    emf: float | None
    level: str
    reason: str
    ts: dt.datetime | None
    ts_local: str

    def as_json(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["ts"] = self.ts.isoformat() if self.ts else None
        return data


@dataclass
class LiveBank:
    """A bank's CMU values and its rolled-up level."""

    id: int
    name: str
    url: str
    positions: int
    string_voltage: float | None = None
    current: float | None = None
    ambient: float | None = None
    state: str = "unknown"
    ts_local: str = ""
    level: str = Level.OFFLINE.label
    batteries: list[LiveBattery] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "batteries"}
        data["battery_count"] = len(self.batteries)
        return data


@dataclass
class SiteLive:
    banks: list[LiveBank]
    batteries: list[LiveBattery]
    level: Level
    scan_interval_s: int
    last_data: str


_VALUES = ("voltage", "temperature", "dcr", "micro_voltage", "emf")
#: One live-table row as plain values (no model instances: 254 rows stay cheap).
LIVE_FIELDS = (
    "pk",
    "bank_id",
    "bank__name",
    "position",
    "dcr_baseline_mohm",
    "bus__gateway__heartbeat_s",
    "bus__gateway__scan_interval_s",
    "latest_reading__ts",
    *(f"latest_reading__{p}" for p in _VALUES),
)


def _live_row(row: tuple[Any, ...], tz: zoneinfo.ZoneInfo, now: dt.datetime) -> LiveBattery:
    pk, bank_id, bank_name, position, baseline, heartbeat, scan, ts, *raw = row
    values = dict(zip(_VALUES, (real(v) for v in raw), strict=True))
    ratio = dcr_ratio(values["dcr"], baseline)
    stale = ts is None or now - ts > stale_window(heartbeat, scan)
    level = battery_level(stale=stale, ratio=ratio, temperature=values["temperature"])
    return LiveBattery(
        id=pk,
        bank_id=bank_id,
        bank=bank_name,
        position=position,
        url=f"/batteries/{pk}/",
        dcr_pct=None if ratio is None else round(ratio * 100, 1),
        level=level.label,
        reason=battery_reason(level, ratio=ratio, temperature=values["temperature"], ts=ts),
        ts=ts,
        ts_local=local_time(ts, tz),
        **values,
    )


def live_battery(b: Battery, tz: zoneinfo.ZoneInfo, now: dt.datetime) -> LiveBattery:
    """A battery's row; ``b`` has ``latest_reading``, ``bank`` and ``bus__gateway`` selected."""
    latest = getattr(b, "latest_reading", None)
    gateway = b.bus.gateway if b.bus_id else None
    row = (
        b.pk,
        b.bank_id,
        b.bank.name,
        b.position,
        b.dcr_baseline_mohm,
        gateway.heartbeat_s if gateway else None,
        gateway.scan_interval_s if gateway else None,
        latest.ts if latest else None,
        *(getattr(latest, p) if latest else None for p in _VALUES),
    )
    return merge_alarm_levels([_live_row(row, tz, now)])[0]


def _live_rows(batteries: QuerySet[Battery], tz: zoneinfo.ZoneInfo, now: dt.datetime) -> list:
    rows = batteries.filter(status=BatteryStatus.IN_SERVICE).values_list(*LIVE_FIELDS)
    return merge_alarm_levels([_live_row(r, tz, now) for r in rows])


def site_live(site: Site, *, now: dt.datetime | None = None) -> SiteLive:
    """Banks (CMU values, state) and every in-service battery's latest values: two queries."""
    now = now or dt.datetime.now(dt.UTC)
    tz = site.tz
    banks = (
        Bank.objects.filter(site=site)
        .select_related("latest_reading", "battery_model", "bus__gateway")
        .order_by("name", "pk")
    )
    live_banks: dict[int, LiveBank] = {}
    intervals = []
    for bank in banks:
        latest = getattr(bank, "latest_reading", None)
        capacity = bank.battery_model.capacity_ah if bank.battery_model else None
        if bank.bus_id:
            intervals.append(bank.bus.gateway.scan_interval_s)
        current = real(latest.current) if latest else None
        live_banks[bank.pk] = LiveBank(
            id=bank.pk,
            name=bank.name,
            url=bank.get_absolute_url(),
            positions=bank.positions,
            string_voltage=real(latest.string_voltage) if latest else None,
            current=current,
            ambient=real(latest.ambient) if latest else None,
            state=bank_state(current, capacity),
            ts_local=local_time(latest.ts if latest else None, tz),
        )
    batteries = Battery.objects.filter(bank__site=site).order_by(
        "bank__name", "bank_id", "position"
    )
    rows = _live_rows(batteries, tz, now)
    for row in rows:
        live_banks[row.bank_id].batteries.append(row)
    levels = {lv.label: lv for lv in Level}
    for bank in live_banks.values():
        bank.level = _group_level(bank.batteries, levels).label
    last = max((r.ts for r in rows if r.ts), default=None)
    return SiteLive(
        banks=list(live_banks.values()),
        batteries=rows,
        level=_group_level(rows, levels),
        scan_interval_s=min(intervals, default=10),
        last_data=local_time(last, tz),
    )


def _group_level(rows: list[LiveBattery], levels: dict[str, Level]) -> Level:
    silent = sum(1 for r in rows if r.level == Level.OFFLINE.label)
    return rollup((levels[r.level] for r in rows), total=len(rows), silent=silent)


def live_csv_rows(live: SiteLive) -> list[list[Any]]:
    """The live table as CSV rows (header first), times in the site's time zone and UTC."""
    header = [label for _, label in LIVE_COLUMNS] + ["Last reading (UTC)", "Reason"]
    out: list[list[Any]] = [header]
    for r in live.batteries:
        values = [getattr(r, key) for key, _ in LIVE_COLUMNS]
        utc = r.ts.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if r.ts else ""
        out.append(["" if v is None else v for v in values] + [utc, r.reason])
    return out


def bank_batteries(bank: Bank, *, now: dt.datetime | None = None) -> list[LiveBattery]:
    """Latest values of a bank's in-service batteries by position (one query)."""
    now = now or dt.datetime.now(dt.UTC)
    return _live_rows(Battery.objects.filter(bank=bank).order_by("position"), bank.site.tz, now)


def merge_alarm_levels(rows: list[LiveBattery]) -> list[LiveBattery]:
    """Raise each row's level to its alarms-app status where that is worse (one query)."""
    levels = {lv.label: lv for lv in Level}
    alarms = alarm_levels("battery", [r.id for r in rows])
    for row in rows:
        alarm = alarms.get(row.id, Level.OK)
        if alarm > levels[row.level]:
            row.level = alarm.label
            row.reason = f"{alarm.label} raised by the alarms app"
    return rows
