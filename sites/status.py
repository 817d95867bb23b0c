"""Status of batteries, banks, sites and the fleet, rolled up battery -> bank -> site -> fleet.

Until the alarms app publishes its own roll-up, a battery's level comes from its latest reading:

- ``offline``: no reading within the unit's stale window (heartbeat + 3 scans, the same rule as
  ``acquisition.api.views.stale_after``); a unit that stops answering is itself an alarm.
- ``alarm``: DCR >= 150 % of its baseline (replacement trigger) or temperature >= 45 C.
- ``warning``: DCR >= 120 % of its baseline (IEEE 1188 warning sign) or temperature >= 35 C.
- ``ok`` otherwise.

A bank or site takes the worst level of its batteries; a site where *no* battery reports is
``offline``, one where only some are silent is in ``alarm`` (communication loss). The one function
other code should call for site statuses is :func:`site_status_rollup`; it merges the alarms app's
roll-up (``alarms.status.site_statuses``) and raised-alarm counts once that app's table exists
(guarded: the app is being built in parallel). The worse of both levels wins.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from django.db import connection
from django.db.models import QuerySet

DCR_WARNING_RATIO = 1.20
DCR_ALARM_RATIO = 1.50
TEMPERATURE_WARNING_C = 35.0
TEMPERATURE_ALARM_C = 45.0
DEFAULT_HEARTBEAT_S = 300
DEFAULT_SCAN_S = 10


class Level(IntEnum):
    """Severity order used to pick "the worst" (higher is worse)."""

    OK = 0
    WARNING = 1
    OFFLINE = 2
    ALARM = 3

    @property
    def label(self) -> str:
        return self.name.lower()


def stale_window(heartbeat_s: int | None, scan_interval_s: int | None) -> dt.timedelta:
    """How long a unit may stay silent: its heartbeat plus three scans (report by exception)."""
    return dt.timedelta(
        seconds=(heartbeat_s or DEFAULT_HEARTBEAT_S) + 3 * (scan_interval_s or DEFAULT_SCAN_S)
    )


def dcr_ratio(dcr: float | None, baseline: Any) -> float | None:
    """DCR as a fraction of the battery's baseline (None when either is unknown)."""
    if dcr is None or not baseline:
        return None
    return float(dcr) / float(baseline)


def battery_level(*, stale: bool, ratio: float | None, temperature: float | None) -> Level:
    """A battery's level from its latest values (mirrors ``_LEVEL_SQL`` below)."""
    if stale:
        return Level.OFFLINE
    if (ratio is not None and ratio >= DCR_ALARM_RATIO) or (
        temperature is not None and temperature >= TEMPERATURE_ALARM_C
    ):
        return Level.ALARM
    if (ratio is not None and ratio >= DCR_WARNING_RATIO) or (
        temperature is not None and temperature >= TEMPERATURE_WARNING_C
    ):
        return Level.WARNING
    return Level.OK


def battery_reason(
    level: Level, *, ratio: float | None, temperature: float | None, ts: dt.datetime | None
) -> str:
    """Why a battery has its level, in words a facility manager reads."""
    if level == Level.OFFLINE:
        return "no data yet" if ts is None else "not reporting"
    reasons = []
    if ratio is not None and ratio >= DCR_WARNING_RATIO:
        reasons.append(f"DCR {ratio * 100:.0f} % of baseline")
    if temperature is not None and temperature >= TEMPERATURE_WARNING_C:
        reasons.append(f"{temperature:.1f} C")
    return ", ".join(reasons) if reasons else "within limits"


def rollup(levels: Iterable[Level], *, total: int, silent: int) -> Level:
    """Level of a group (bank, site) from its batteries' levels."""
    if total == 0 or silent == total:
        return Level.OFFLINE
    worst = max(levels, default=Level.OK)
    if silent:
        return Level.ALARM  # some units stopped answering: communication loss
    return worst


FLOAT_BAND_MIN_A = 0.5
FLOAT_BAND_PER_AH = 0.005  # float current of a healthy lead-acid string: ~1-5 mA per Ah


def bank_state(current: float | None, capacity_ah: Any = None) -> str:
    """charging / floating / discharging from the string current's sign and magnitude.

    Within the float band (0.5 % of C in amperes, at least 0.5 A) the charger only holds the
    string at float voltage; above it the string is being recharged, below minus it discharges.
    """
    if current is None:
        return "unknown"
    band = max(FLOAT_BAND_MIN_A, FLOAT_BAND_PER_AH * float(capacity_ah or 0))
    if current > band:
        return "charging"
    if current < -band:
        return "discharging"
    return "floating"


@dataclass
class SiteRollup:
    """One site's roll-up: what the fleet overview shows per row."""

    id: int
    name: str
    slug: str
    time_zone: str
    batteries: int = 0
    silent: int = 0
    alarms: int = 0
    warnings: int = 0
    last_data: dt.datetime | None = None
    level: Level = Level.OFFLINE
    worst_battery_id: int | None = None
    worst_position: int | None = None
    worst_bank: str = ""
    worst_reason: str = ""
    active_alarms: int = 0
    last_data_local: str = ""  # filled by the page, in the site's time zone

    @property
    def status(self) -> str:
        return self.level.label


# One row per in-service battery of the wanted sites, its level computed in SQL with the same
# rule as battery_level(); then per site: counts, last data and the worst battery (DISTINCT ON).
# Positional parameters, in textual order: the ids subquery's, then _rollup_params().
_ROLLUP_SQL = """
WITH wanted AS ({ids}),
gw AS (
    SELECT g.id, %s - make_interval(secs => g.heartbeat_s + 3 * g.scan_interval_s) AS stale_before
    FROM sites_gateway g
),
lvl AS (
    SELECT bk.site_id, bt.id AS battery_id, bt.position, bt.bank_id, lr.ts, lr.temperature,
           r.ratio, r.stale,
           CASE WHEN r.stale THEN 2
                WHEN r.ratio >= %s OR lr.temperature >= %s THEN 3
                WHEN r.ratio >= %s OR lr.temperature >= %s THEN 1
                ELSE 0 END AS level
    FROM sites_battery bt
    JOIN sites_bank bk ON bk.id = bt.bank_id
    LEFT JOIN sites_bus bu ON bu.id = bt.bus_id
    LEFT JOIN gw ON gw.id = bu.gateway_id
    LEFT JOIN acquisition_latestreading lr ON lr.battery_id = bt.id
    CROSS JOIN LATERAL (SELECT
        lr.dcr / NULLIF(bt.dcr_baseline_mohm::float8, 0) AS ratio,
        lr.ts IS NULL OR lr.ts < COALESCE(gw.stale_before, %s) AS stale) AS r
    WHERE bt.status = 'in_service' AND bk.site_id IN (SELECT * FROM wanted)
), agg AS (
    SELECT site_id, count(*) AS batteries, count(*) FILTER (WHERE stale) AS silent,
           count(*) FILTER (WHERE level = 3) AS alarms,
           count(*) FILTER (WHERE level = 1) AS warnings, max(ts) AS last_data
    FROM lvl GROUP BY site_id
), worst AS (
    -- only batteries that are not ok: in a healthy fleet this sort is small
    SELECT DISTINCT ON (site_id) site_id, battery_id, position, bank_id, level, ratio,
           temperature, ts
    FROM lvl WHERE level > 0
    ORDER BY site_id, level DESC, ratio DESC NULLS LAST, temperature DESC NULLS LAST, position
)
SELECT s.id, s.name, s.slug, s.time_zone, COALESCE(a.batteries, 0), COALESCE(a.silent, 0),
       COALESCE(a.alarms, 0), COALESCE(a.warnings, 0), a.last_data,
       w.battery_id, w.position, wb.name, w.level, w.ratio, w.temperature, w.ts
FROM sites_site s
LEFT JOIN agg a ON a.site_id = s.id
LEFT JOIN worst w ON w.site_id = s.id
LEFT JOIN sites_bank wb ON wb.id = w.bank_id
WHERE s.id IN (SELECT * FROM wanted)
ORDER BY s.name, s.id
"""


def _rollup_params(now: dt.datetime) -> list[Any]:
    return [
        now,
        DCR_ALARM_RATIO,
        TEMPERATURE_ALARM_C,
        DCR_WARNING_RATIO,
        TEMPERATURE_WARNING_C,
        now - stale_window(None, None),  # a battery on no bus/gateway
    ]


def _ids_sql(site_ids: QuerySet[Any] | Sequence[int]) -> tuple[str, list[Any]]:
    """SQL (and params) of the wanted site ids: a queryset's own SQL, or a literal array."""
    if isinstance(site_ids, QuerySet):
        sql, params = site_ids.order_by().values("pk").query.sql_with_params()
        return sql, list(params)
    return "SELECT unnest(%s::bigint[])", [list(site_ids)]


_ALARMS_TABLE = {"seen": False, "checked_at": 0.0}
_RECHECK_S = 60.0


def alarms_available() -> bool:
    """True once the alarms app's table exists (it is being built in parallel; until its
    migration lands the pages must not fail). Once seen it costs nothing; while absent it is
    re-checked (one catalog query) at most every minute per process."""
    if _ALARMS_TABLE["seen"]:
        return True
    if time.monotonic() - _ALARMS_TABLE["checked_at"] < _RECHECK_S:
        return False
    try:
        importlib.import_module("alarms.status")
    except ImportError:
        return False
    _ALARMS_TABLE["checked_at"] = time.monotonic()
    _ALARMS_TABLE["seen"] = "alarms_alarm" in connection.introspection.table_names()
    return bool(_ALARMS_TABLE["seen"])


def alarm_levels(kind: str, ids: Sequence[int]) -> dict[int, Level]:
    """{id: level} from the alarms app's roll-up (``site``, ``bank`` or ``battery``); one query,
    none when the alarms app is not there yet."""
    if not ids or not alarms_available():
        return {}
    module = importlib.import_module("alarms.status")
    func = getattr(module, f"{kind}_statuses", None)
    if func is None:
        return {}
    levels = {lv.label: lv for lv in Level}
    return {pk: levels.get(str(status), Level.OK) for pk, status in func(ids).items()}


def active_alarm_counts(site_ids: Sequence[int]) -> dict[int, int]:
    """Raised (active or acknowledged) alarms per site; one query."""
    if not site_ids or not alarms_available():
        return {}
    from django.db.models import Count

    alarm_model: Any = importlib.import_module("alarms.models").Alarm
    rows = (
        alarm_model.objects.raised()
        .filter(site_id__in=list(site_ids))
        .values("site_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {r["site_id"]: r["n"] for r in rows}


def site_status_rollup(
    site_ids: QuerySet[Any] | Sequence[int], *, now: dt.datetime | None = None
) -> list[SiteRollup]:
    """Status roll-up of the given sites (a queryset of sites or a list of ids), ordered by name.

    ONE query for any number of sites (plus two of the alarms app once its table exists: its
    site statuses and the count of raised alarms; the worse of both levels wins). The caller
    scopes: pass ``Site.objects.for_user(user)`` (optionally filtered), never unscoped ids
    taken from a request.
    """
    ids_sql, ids_params = _ids_sql(site_ids)
    sql = _ROLLUP_SQL.replace("{ids}", ids_sql)
    params = ids_params + _rollup_params(now or dt.datetime.now(dt.UTC))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    out = [_row(r) for r in rows]
    ids = [r.id for r in out]
    if alarms_available():
        levels, counts = alarm_levels("site", ids), active_alarm_counts(ids)
        for row in out:
            row.level = max(row.level, levels.get(row.id, Level.OK))
            row.active_alarms = counts.get(row.id, 0)
    return out


def _row(r: tuple[Any, ...]) -> SiteRollup:
    row = SiteRollup(
        id=r[0],
        name=r[1],
        slug=r[2],
        time_zone=r[3],
        batteries=r[4],
        silent=r[5],
        alarms=r[6],
        warnings=r[7],
        last_data=r[8],
    )
    levels = [Level.ALARM] * row.alarms + [Level.WARNING] * row.warnings
    row.level = rollup(levels, total=row.batteries, silent=row.silent)
    row.active_alarms = row.alarms + row.silent if row.level != Level.OFFLINE else 0
    if r[9] is not None and Level(r[12]) != Level.OK:
        row.worst_battery_id, row.worst_position, row.worst_bank = r[9], r[10], r[11]
        row.worst_reason = battery_reason(Level(r[12]), ratio=r[13], temperature=r[14], ts=r[15])
    return row
