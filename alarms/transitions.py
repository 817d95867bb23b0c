"""Observations -> alarm changes, written in bulk (one statement per kind of change).

Every change is a conditional statement on the row's current state (``WHERE state = 'pending'``,
``ON CONFLICT DO NOTHING`` for new rows), so two evaluations racing on the same objects cannot
duplicate an alarm or announce it twice: only the statement that actually changed a row reports it
back (``RETURNING``), and only those rows are announced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection

from alarms.choices import RAISED_STATES, SEVERITY_RANK, AlarmState
from alarms.evaluation import Observation
from alarms.loading import OpenAlarm


def _floats(values: Iterable[float | None]) -> list[float | None]:
    """psycopg refuses a list mixing int and float: make them all floats."""
    return [None if v is None else float(v) for v in values]


@dataclass(slots=True)
class Plan:
    insert: list[Observation] = field(default_factory=list)
    promote: list[tuple[int, Observation]] = field(default_factory=list)
    drop: list[int] = field(default_factory=list)
    clear: list[tuple[int, Observation]] = field(default_factory=list)
    escalate: list[tuple[int, Observation]] = field(default_factory=list)
    touch: list[tuple[int, Observation]] = field(default_factory=list)


@dataclass(slots=True)
class Outcome:
    """What changed; ``announce`` are the sites with alarms that became active (or worse)."""

    raised: list[int] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    announce: set[int] = field(default_factory=set)


def plan(
    observations: Iterable[Observation],
    open_alarms: dict[tuple[str, int], OpenAlarm],
    now: dt.datetime,
) -> Plan:
    p = Plan()
    for o in observations:
        row = open_alarms.get((o.kind, o.object_id))
        if o.held:
            if row is not None and row.state == AlarmState.PENDING:
                p.drop.append(row.id)
            continue
        if row is None:
            if o.severity is not None:
                p.insert.append(o)
        elif row.state == AlarmState.PENDING:
            if o.severity is None:
                p.drop.append(row.id)
            elif (now - row.raised_at).total_seconds() >= o.delay_s:
                p.promote.append((row.id, o))
            else:
                p.touch.append((row.id, o))
        elif o.recovered:
            p.clear.append((row.id, o))
        elif o.severity is not None and SEVERITY_RANK[o.severity] > SEVERITY_RANK[row.severity]:
            p.escalate.append((row.id, o))
        elif o.value is not None:
            p.touch.append((row.id, o))
    return p


_INSERT = """
INSERT INTO alarms_alarm (kind, scope, object_id, site_id, bank_id, battery_id, gateway_id,
    severity, state, value, last_value, threshold, unit, threshold_source, delay_s, raised_at,
    activated_at, ack_note, updated_at)
SELECT v.kind, v.scope, v.object_id, v.site_id, v.bank_id, v.battery_id, v.gateway_id, v.severity,
    CASE WHEN v.active THEN 'active' ELSE 'pending' END, v.value, v.value, v.threshold, v.unit,
    v.source, v.delay_s, v.raised_at, CASE WHEN v.active THEN %(now)s END, '', %(now)s
FROM unnest(%(kind)s::text[], %(scope)s::text[], %(object_id)s::bigint[], %(site_id)s::bigint[],
    %(bank_id)s::bigint[], %(battery_id)s::bigint[], %(gateway_id)s::bigint[],
    %(severity)s::text[], %(active)s::bool[], %(value)s::float8[], %(threshold)s::float8[],
    %(unit)s::text[], %(source)s::text[], %(delay_s)s::int[], %(raised_at)s::timestamptz[])
    AS v(kind, scope, object_id, site_id, bank_id, battery_id, gateway_id, severity, active,
         value, threshold, unit, source, delay_s, raised_at)
ON CONFLICT DO NOTHING
RETURNING id, state, site_id
"""


def _insert(cursor, obs: list[Observation], now: dt.datetime, out: Outcome) -> None:
    if not obs:
        return
    active = [(now - o.ts).total_seconds() >= o.delay_s for o in obs]
    cursor.execute(
        _INSERT,
        {
            "now": now,
            "kind": [o.kind for o in obs],
            "scope": [o.scope for o in obs],
            "object_id": [o.object_id for o in obs],
            "site_id": [o.site_id for o in obs],
            "bank_id": [o.bank_id for o in obs],
            "battery_id": [o.battery_id for o in obs],
            "gateway_id": [o.gateway_id for o in obs],
            "severity": [o.severity for o in obs],
            "active": active,
            "value": _floats(o.value for o in obs),
            "threshold": _floats(o.threshold for o in obs),
            "unit": [o.unit for o in obs],
            "source": [o.source[:120] for o in obs],
            "delay_s": [o.delay_s for o in obs],
            "raised_at": [o.ts for o in obs],
        },
    )
    for alarm_id, state, site_id in cursor.fetchall():
        if state == AlarmState.ACTIVE:
            out.raised.append(alarm_id)
            out.announce.add(site_id)
        else:
            out.pending.append(alarm_id)


def _update(
    cursor, sql_set: str, where: str, rows: list[tuple[int, Observation]], now: dt.datetime
) -> list[tuple[int, int]]:
    """``UPDATE ... FROM unnest`` over (id, observation) pairs; returns (id, site) changed."""
    if not rows:
        return []
    cursor.execute(
        f"UPDATE alarms_alarm a SET {sql_set}, updated_at = %(now)s "  # noqa: S608 - constants
        "FROM unnest(%(id)s::bigint[], %(severity)s::text[], %(value)s::float8[], "
        "%(threshold)s::float8[], %(source)s::text[], %(delay_s)s::int[]) "
        "AS v(id, severity, value, threshold, source, delay_s) "
        f"WHERE a.id = v.id AND {where} RETURNING a.id, a.site_id",
        {
            "now": now,
            "id": [i for i, _ in rows],
            "severity": [o.severity for _, o in rows],
            "value": _floats(o.value for _, o in rows),
            "threshold": _floats(o.threshold for _, o in rows),
            "source": [o.source[:120] for _, o in rows],
            "delay_s": [o.delay_s for _, o in rows],
        },
    )
    return cursor.fetchall()


def apply(p: Plan, now: dt.datetime) -> Outcome:
    """Write the plan: at most six statements, whatever the number of alarms."""
    out = Outcome()
    raised = tuple(s.value for s in RAISED_STATES)
    with connection.cursor() as cursor:
        _insert(cursor, p.insert, now, out)
        for alarm_id, site_id in _update(
            cursor,
            "state = 'active', activated_at = %(now)s, severity = v.severity, "
            "value = COALESCE(v.value, a.value), last_value = v.value, "
            "threshold = COALESCE(v.threshold, a.threshold), threshold_source = v.source",
            "a.state = 'pending'",
            p.promote,
            now,
        ):
            out.raised.append(alarm_id)
            out.announce.add(site_id)
        if p.drop:
            cursor.execute(
                "DELETE FROM alarms_alarm WHERE id = ANY(%s) AND state = 'pending'", [p.drop]
            )
        out.cleared = [
            i
            for i, _ in _update(
                cursor,
                "state = 'cleared', cleared_at = %(now)s, last_value = v.value",
                f"a.state IN {raised!r}",
                p.clear,
                now,
            )
        ]
        for alarm_id, site_id in _update(
            cursor,
            "severity = v.severity, state = 'active', last_value = v.value, "
            "threshold = v.threshold, threshold_source = v.source, notified_at = NULL, "
            "escalated_at = NULL",
            f"a.state IN {raised!r} AND a.severity = 'warning'",
            p.escalate,
            now,
        ):
            out.escalated.append(alarm_id)
            out.announce.add(site_id)
        _update(
            cursor,
            "last_value = v.value, delay_s = CASE WHEN a.state = 'pending' THEN v.delay_s "
            "ELSE a.delay_s END",
            "a.state <> 'cleared'",
            p.touch,
            now,
        )
    return out
