"""The periodic sweep: promote pending alarms, detect and clear communication loss, set-based.

Runs every scan interval (beat, ``alarms.sweep``). Communication loss has two sources:

- the agent reports units it could not read in each scan's ``silent`` list; ``evaluate_batch`` turns
  those into pending alarms whose delay is N scans, promoted here;
- the agent reports *by exception*: a healthy unit is heard at least every ``heartbeat_s``, so a
  unit whose latest reading is older than ``heartbeat_s + N x scan_interval_s`` is lost, and so is a
  gateway whose ``last_seen_at`` is that old (then its units raise nothing: one gateway alarm, not
  254 unit alarms). A gateway that never reported (``last_seen_at`` empty) is not commissioned yet
  and raises nothing.

Each step is one SQL statement over the whole fleet (N per bank and per site resolved in Python
first, passed as arrays), so 100,000 batteries take well under a second.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection

from alarms.choices import RAISED_STATES, RuleKind, Severity
from alarms.models import Threshold
from alarms.thresholds import Resolver

_COMM = (RuleKind.COMM_LOST_UNIT, RuleKind.COMM_LOST_CMU, RuleKind.COMM_LOST_GATEWAY)
_RAISED = tuple(s.value for s in RAISED_STATES)


@dataclass(slots=True)
class SweepResult:
    promoted: list[int] = field(default_factory=list)
    raised: list[int] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    announce: set[int] = field(default_factory=set)


def _first_active(resolver: Resolver, kind: str, **where: object) -> tuple[float, str, str] | None:
    for severity in (Severity.WARNING, Severity.CRITICAL):
        r = resolver.resolve(kind, severity, **where)  # type: ignore[arg-type]
        if r.active and r.limit is not None:
            return float(r.limit), r.severity, r.source[:120]
    return None


def _parameters(resolver: Resolver) -> tuple[dict[str, list], dict[str, list], dict[str, list]]:
    """N, severity and source per bank (units, CMU) and per gateway (site level)."""
    unit: dict[str, list] = {"id": [], "n": [], "sev": [], "src": []}
    cmu: dict[str, list] = {"id": [], "n": [], "sev": [], "src": []}
    gw: dict[str, list] = {"id": [], "n": [], "sev": [], "src": []}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k.id, k.site_id, k.battery_model_id, COALESCE(m.chemistry, '') "
            "FROM sites_bank k LEFT JOIN sites_batterymodel m ON m.id = k.battery_model_id"
        )
        banks = cursor.fetchall()
        cursor.execute("SELECT id, site_id FROM sites_gateway WHERE revoked_at IS NULL")
        gateways = cursor.fetchall()
    for bank_id, site_id, model_id, chem in banks:
        where = {"chemistry": chem, "model_id": model_id, "site_id": site_id, "bank_id": bank_id}
        for kind, out in ((RuleKind.COMM_LOST_UNIT, unit), (RuleKind.COMM_LOST_CMU, cmu)):
            p = _first_active(resolver, kind, **where)
            if p:
                out["id"].append(bank_id)
                out["n"].append(p[0])
                out["sev"].append(p[1])
                out["src"].append(p[2])
    for gateway_id, site_id in gateways:
        p = _first_active(resolver, RuleKind.COMM_LOST_GATEWAY, chemistry="", site_id=site_id)
        if p:
            gw["id"].append(gateway_id)
            gw["n"].append(p[0])
            gw["sev"].append(p[1])
            gw["src"].append(p[2])
    return unit, cmu, gw


_ALIVE = """
g(gateway_id, n, severity, source) AS (
    SELECT * FROM unnest(%(gw_id)s::bigint[], %(gw_n)s::float8[], %(gw_sev)s::text[],
                         %(gw_src)s::text[])),
alive AS (
    SELECT gw.id, gw.scan_interval_s, gw.heartbeat_s FROM sites_gateway gw
    JOIN g ON g.gateway_id = gw.id
    WHERE gw.revoked_at IS NULL
      AND gw.last_seen_at >= %(now)s
          - make_interval(secs => gw.heartbeat_s + g.n * gw.scan_interval_s))
"""

_COLUMNS = """(kind, scope, object_id, site_id, bank_id, battery_id, gateway_id, severity, state,
    value, last_value, threshold, unit, threshold_source, delay_s, raised_at, activated_at,
    ack_note, updated_at)"""

_UNITS_SQL = f"""
WITH p(bank_id, n, severity, source) AS (
    SELECT * FROM unnest(%(id)s::bigint[], %(n)s::float8[], %(sev)s::text[], %(src)s::text[])),
{_ALIVE}
INSERT INTO alarms_alarm {_COLUMNS}
SELECT 'comm_lost_unit', 'battery', b.id, k.site_id, b.bank_id, b.id, NULL, p.severity, 'active',
    v.scans, v.scans, p.n, 'scans', p.source, 0, l.ts, %(now)s, '', %(now)s
FROM sites_battery b
JOIN p ON p.bank_id = b.bank_id
JOIN sites_bank k ON k.id = b.bank_id
JOIN sites_bus bus ON bus.id = b.bus_id
JOIN alive ON alive.id = bus.gateway_id
JOIN acquisition_latestreading l ON l.battery_id = b.id
CROSS JOIN LATERAL (SELECT round(extract(epoch FROM %(now)s - l.ts) / alive.scan_interval_s)
                    AS scans) v
WHERE b.status = 'in_service'
  AND l.ts < %(now)s - make_interval(secs => alive.heartbeat_s + p.n * alive.scan_interval_s)
ON CONFLICT DO NOTHING
RETURNING id, site_id
"""  # noqa: S608 - constants only

_CMUS_SQL = f"""
WITH p(bank_id, n, severity, source) AS (
    SELECT * FROM unnest(%(id)s::bigint[], %(n)s::float8[], %(sev)s::text[], %(src)s::text[])),
{_ALIVE}
INSERT INTO alarms_alarm {_COLUMNS}
SELECT 'comm_lost_cmu', 'bank', k.id, k.site_id, k.id, NULL, NULL, p.severity, 'active',
    NULL, NULL, p.n, 'scans', p.source, 0, lb.ts, %(now)s, '', %(now)s
FROM sites_bank k
JOIN p ON p.bank_id = k.id
JOIN sites_bus bus ON bus.id = k.bus_id
JOIN alive ON alive.id = bus.gateway_id
JOIN acquisition_latestbankreading lb ON lb.bank_id = k.id
WHERE k.cmu_address IS NOT NULL
  AND lb.ts < %(now)s - make_interval(secs => alive.heartbeat_s + p.n * alive.scan_interval_s)
ON CONFLICT DO NOTHING
RETURNING id, site_id
"""  # noqa: S608

_GATEWAYS_SQL = f"""
WITH g(gateway_id, n, severity, source) AS (
    SELECT * FROM unnest(%(gw_id)s::bigint[], %(gw_n)s::float8[], %(gw_sev)s::text[],
                         %(gw_src)s::text[]))
INSERT INTO alarms_alarm {_COLUMNS}
SELECT 'comm_lost_gateway', 'gateway', gw.id, gw.site_id, NULL, NULL, gw.id, g.severity, 'active',
    NULL, NULL, g.n, 'scans', g.source, 0, gw.last_seen_at, %(now)s, '', %(now)s
FROM sites_gateway gw JOIN g ON g.gateway_id = gw.id
WHERE gw.revoked_at IS NULL AND gw.last_seen_at IS NOT NULL
  AND gw.last_seen_at < %(now)s - make_interval(secs => gw.heartbeat_s + g.n * gw.scan_interval_s)
ON CONFLICT DO NOTHING
RETURNING id, site_id
"""  # noqa: S608

_PROMOTE_SQL = """
UPDATE alarms_alarm SET state = 'active', activated_at = %(now)s, updated_at = %(now)s
WHERE state = 'pending' AND raised_at + make_interval(secs => delay_s) <= %(now)s
RETURNING id, site_id
"""

#: Heard again after the alarm started: units / CMUs by their latest reading, gateways by last_seen.
_HEARD = {
    RuleKind.COMM_LOST_UNIT: ("acquisition_latestreading", "battery_id", "ts"),
    RuleKind.COMM_LOST_CMU: ("acquisition_latestbankreading", "bank_id", "ts"),
    RuleKind.COMM_LOST_GATEWAY: ("sites_gateway", "id", "last_seen_at"),
}


def _clear_heard(cursor, now: dt.datetime) -> list[int]:
    cleared: list[int] = []
    for kind, (table, key, ts) in _HEARD.items():
        cursor.execute(
            f"DELETE FROM alarms_alarm a USING {table} t WHERE a.kind = %s "  # noqa: S608
            f"AND a.state = 'pending' AND t.{key} = a.object_id AND t.{ts} > a.raised_at",
            [kind],
        )
        cursor.execute(
            f"UPDATE alarms_alarm a SET state = 'cleared', cleared_at = %s, updated_at = %s "  # noqa: S608
            f"FROM {table} t WHERE a.kind = %s AND a.state IN {_RAISED!r} "
            f"AND t.{key} = a.object_id AND t.{ts} > a.raised_at RETURNING a.id",
            [now, now, kind],
        )
        cleared += [row[0] for row in cursor.fetchall()]
    return cleared


def sweep(now: dt.datetime) -> SweepResult:
    """One pass; call inside a transaction."""
    out = SweepResult()
    rows = Threshold.objects.filter(kind__in=_COMM).exclude(
        battery__isnull=False
    )  # comm loss is configured per site/bank/model/chemistry, not per battery
    resolver = Resolver(rows)
    unit, cmu, gw = _parameters(resolver)
    gw_params = {"gw_id": gw["id"], "gw_n": gw["n"], "gw_sev": gw["sev"], "gw_src": gw["src"]}
    with connection.cursor() as cursor:
        cursor.execute(_PROMOTE_SQL, {"now": now})
        for alarm_id, site_id in cursor.fetchall():
            out.promoted.append(alarm_id)
            out.announce.add(site_id)
        out.cleared = _clear_heard(cursor, now)
        for sql, params in (
            (_GATEWAYS_SQL, {}),
            (_UNITS_SQL, unit),
            (_CMUS_SQL, cmu),
        ):
            cursor.execute(sql, {"now": now, **params, **gw_params})
            for alarm_id, site_id in cursor.fetchall():
                out.raised.append(alarm_id)
                out.announce.add(site_id)
    return out
