"""The ingest hot path: one agent batch in, readings stored, the reply out.

Cost per request is a small constant number of round trips whatever the number of readings (tests
guard it): the token lookup, the gateway's unit list (cached per process, agentconfig.py), the
partition check (cached per process once a day's partitions exist), then one transaction: binary
COPY straight into the partitioned tables and *one* round trip (prepared statements in a pipeline,
bms_portal/db.py) carrying the latest-value upserts, the rollup-queue insert, the rejection
counters (only with rejections), the gateway's last-seen update, the DCR-request claim and the
relay states. A retried batch (a row already stored) fails the COPY; the transaction is redone
through TEMP staging and ``INSERT ... ON CONFLICT DO NOTHING`` (storage.store_batch).
Validation is plain Python (validation.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.db import DatabaseError, transaction

from acquisition import storage
from acquisition.agentconfig import gateway_fleet
from acquisition.handoff import hand_off
from acquisition.models import RejectReason
from acquisition.registermap import BMU_PARAMETERS, CMU_PARAMETERS, RANGES
from acquisition.validation import Envelope, Scan, out_of_range
from sites.choices import BatteryStatus
from sites.models import Bank, Battery, Bus, Gateway

log = logging.getLogger(__name__)

FUTURE_LIMIT = dt.timedelta(minutes=5)  # agent clocks are NTP-synced; beyond this one is wrong


@dataclass(slots=True)
class _Batch:
    """What one request is turned into before it is stored."""

    battery_rows: list[tuple] = field(default_factory=list)
    bank_rows: list[tuple] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    last_detail: dict[str, str] = field(default_factory=dict)

    def reject(
        self,
        code: RejectReason,
        reason: str,
        *,
        scan: int,
        kind: str,
        uid: int | None,
        fld: str | None = None,
        n: int = 1,
    ) -> None:
        self.rejected.append(
            {"scan": scan, "kind": kind, "id": uid, "field": fld, "reason": reason}
        )
        self.counts[code] += n
        self.last_detail[code] = reason[:200]


def ingest(gateway: Gateway, envelope: Envelope, *, now: dt.datetime | None = None) -> dict:
    """Store the good readings of ``envelope``; return the protocol reply (docs/ingest-protocol)."""
    now = now or dt.datetime.now(dt.UTC)
    fleet = gateway_fleet(gateway)
    batch = _Batch()
    battery_misses: list[tuple[Scan, tuple]] = []
    bank_misses: list[tuple[Scan, tuple]] = []
    retention = settings.READINGS_RETENTION_DAYS
    oldest = now - dt.timedelta(days=retention) if retention else None
    for scan in envelope.scans:
        if not _scan_time_ok(batch, scan, now, oldest):
            continue
        for r in scan.batteries:
            unit_type = fleet.batteries.get(r[0])
            if unit_type is None:
                battery_misses.append((scan, r))
            else:
                batch.battery_rows.append(_row(batch, scan, r, unit_type, "battery"))
        for r in scan.banks:
            if r[0] in fleet.banks:
                batch.bank_rows.append(_row(batch, scan, r, "CMU", "bank"))
            else:
                bank_misses.append((scan, r))
    if battery_misses:
        _classify_battery_misses(batch, gateway, battery_misses)
    if bank_misses:
        _classify_bank_misses(batch, gateway, bank_misses)

    # The distinct reading times (a scan's readings share its time).
    stamps = {row[1] for row in batch.battery_rows} | {row[1] for row in batch.bank_rows}
    days = {ts.date() for ts in stamps}
    storage.ensure_partitions_for(days, cached=True)
    then = _bookkeeping(gateway, batch, envelope, stamps, now)
    payload = _hand_off_payload(gateway, batch, envelope, stamps)
    if payload:
        then.insert(0, _handoff_row(gateway, payload, now))
    then.append(_relay_query(gateway))
    statements = [*storage.latest_statements(batch.battery_rows, batch.bank_rows), *then]
    try:
        results = _store(batch, days, statements)
        inserted = staged = len(batch.battery_rows) + len(batch.bank_rows)
    except (DatabaseError, psycopg.Error) as exc:
        if storage.sqlstate(exc) != storage.UNIQUE_VIOLATION:
            raise
        # A retried batch (or a unit twice in it): store what is new, count the rest.
        with transaction.atomic():
            inserted, staged = storage.store_batch(batch.battery_rows, batch.bank_rows)
            results = storage.run_statements(then)
    if payload:
        transaction.on_commit(lambda: hand_off(payload))
    claimed, relays = results[-2] or [], results[-1] or []
    commands = {
        "relays": _relay_states_from(relays[0]),
        "measure_dcr": sorted({row[0] for row in claimed}),
    }
    if batch.counts:
        log.warning(
            "ingest gateway %s batch %s: accepted %d, duplicates %d, rejected %s",
            gateway.pk,
            envelope.batch,
            inserted,
            staged - inserted,
            ", ".join(f"{k}={v}" for k, v in sorted(batch.counts.items())),
        )
    return {
        "accepted": inserted,
        "duplicates": staged - inserted,
        "rejected": batch.rejected,
        "config_version": fleet.version,
        "commands": commands,
    }


def _store(
    batch: _Batch, days: set[dt.date], statements: list[tuple[str, list[Any]]]
) -> list[list[tuple] | None]:
    """COPY the rows and run ``statements`` in one transaction (one commit, one WAL flush: the
    flush, not the round trips, is what a request waits for); returns each statement's rows.
    When a partition this process had seen is gone, check again and redo it once."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                storage.copy_readings(batch.battery_rows, batch.bank_rows, savepoint=False)
                return storage.run_statements(statements)
        except (DatabaseError, psycopg.Error) as exc:
            if attempt == 2 or storage.sqlstate(exc) != storage.MISSING_PARTITION:
                raise
            storage.forget_partitions()
            storage.ensure_partitions_for(days)
    raise AssertionError("unreachable")


def _scan_time_ok(batch: _Batch, scan: Scan, now: dt.datetime, oldest: dt.datetime | None) -> bool:
    """A scan stamped far in the future or past retention is rejected whole (one entry)."""
    if scan.ts > now + FUTURE_LIMIT:
        code, reason = (
            RejectReason.FUTURE,
            f"timestamp {scan.ts.isoformat()} is more than "
            f"{FUTURE_LIMIT.seconds // 60} min in the future (portal time {now.isoformat()})",
        )
    elif oldest is not None and scan.ts < oldest:
        code, reason = (
            RejectReason.TOO_OLD,
            f"timestamp {scan.ts.isoformat()} is older than the "
            f"{settings.READINGS_RETENTION_DAYS}-day retention window",
        )
    else:
        return True
    n = len(scan.batteries) + len(scan.banks)
    batch.reject(code, reason, scan=scan.index, kind="scan", uid=None, fld="ts", n=n)
    return False


#: (name, low, high) per parameter and unit kind, so a reading is checked with plain comparisons.
_BOUNDS: dict[str, tuple[tuple[str, float, float], ...]] = {
    kind: tuple((n, RANGES[kind][n].low, RANGES[kind][n].high) for n in params)
    for kind, params in (("L", BMU_PARAMETERS), ("H", BMU_PARAMETERS), ("CMU", CMU_PARAMETERS))
}


#: (low, high) per value of a reading tuple, per unit kind.
_LIMITS = {kind: tuple((low, high) for _, low, high in bounds) for kind, bounds in _BOUNDS.items()}


def _in_range(r: tuple, kind: str) -> bool:
    """Every value of the reading tuple ``r`` (``(id, *values, status)``) is null or inside
    ``kind``'s measuring range: the common case, checked without building anything."""
    for v, (low, high) in zip(r[1:-1], _LIMITS[kind], strict=True):
        if v is not None and not low <= v <= high:
            return False
    return True


def _checked_row(batch: _Batch, scan: Scan, r: tuple, kind: str, what: str) -> tuple:
    """The stored row of a reading with a value out of range: that value is rejected and stored
    as null, the rest of the reading is kept."""
    values = list(r[1:-1])
    for i, (name, low, high) in enumerate(_BOUNDS[kind]):
        v = values[i]
        if v is not None and not low <= v <= high:
            batch.reject(
                RejectReason.OUT_OF_RANGE,
                out_of_range(name, v, kind) or name,
                scan=scan.index,
                kind=what,
                uid=r[0],
                fld=name,
            )
            values[i] = None
    return (r[0], scan.ts, *values, r[-1])


def _row(batch: _Batch, scan: Scan, r: tuple, kind: str, what: str) -> tuple:
    """The stored row ``(id, ts, *values, status)`` of the reading ``r`` of a ``kind`` unit."""
    if _in_range(r, kind):
        return (r[0], scan.ts, *r[1:])
    return _checked_row(batch, scan, r, kind, what)


def _classify_battery_misses(
    batch: _Batch, gateway: Gateway, misses: list[tuple[Scan, tuple]]
) -> None:
    """Ids not in the (cached) unit list: one query says why, or accepts a just-added battery."""
    ids = {r[0] for _, r in misses}
    known = {
        pk: (gw, status, unit_type)
        for pk, gw, status, unit_type in Battery.objects.filter(pk__in=ids).values_list(
            "pk", "bus__gateway_id", "status", "model__unit_type"
        )
    }
    for scan, r in misses:
        uid = r[0]
        if uid not in known:
            code, reason = RejectReason.UNKNOWN_UNIT, f"unknown battery {uid}"
        elif known[uid][0] != gateway.pk:
            code, reason = RejectReason.OTHER_GATEWAY, f"battery {uid} belongs to another gateway"
        elif known[uid][1] != BatteryStatus.IN_SERVICE:
            code, reason = RejectReason.NOT_IN_SERVICE, f"battery {uid} is {known[uid][1]}"
        else:  # added after the unit list was cached
            batch.battery_rows.append(_row(batch, scan, r, known[uid][2], "battery"))
            continue
        batch.reject(code, reason, scan=scan.index, kind="battery", uid=uid)


def _classify_bank_misses(
    batch: _Batch, gateway: Gateway, misses: list[tuple[Scan, tuple]]
) -> None:
    ids = {r[0] for _, r in misses}
    known = dict(
        Bank.objects.filter(pk__in=ids, cmu_address__isnull=False).values_list(
            "pk", "bus__gateway_id"
        )
    )
    for scan, r in misses:
        uid = r[0]
        if uid not in known:
            code, reason = RejectReason.UNKNOWN_UNIT, f"unknown bank {uid} (or it has no CMU)"
        elif known[uid] != gateway.pk:
            code, reason = RejectReason.OTHER_GATEWAY, f"bank {uid} belongs to another gateway"
        else:
            batch.bank_rows.append(_row(batch, scan, r, "CMU", "bank"))
            continue
        batch.reject(code, reason, scan=scan.index, kind="bank", uid=uid)


def _bookkeeping(
    gateway: Gateway,
    batch: _Batch,
    envelope: Envelope,
    stamps: set[dt.datetime],
    now: dt.datetime,
) -> list[tuple[str, list[Any]]]:
    """The statements after the readings, sent in the same round trip as the latest upserts:
    rollup queue, rejection counters, the gateway's last-seen state and, last (its rows are
    returned), the claim of pending DCR requests; the ingest adds the relay query after it."""
    hours = sorted({ts.replace(minute=0, second=0, microsecond=0) for ts in stamps})
    out: list[tuple[str, list[Any]]] = []
    if hours:
        out.append(
            (
                "INSERT INTO acquisition_rollupqueue (gateway_id, hour) "
                "SELECT %s, h FROM unnest(%s::timestamptz[]) AS h ON CONFLICT DO NOTHING",
                [gateway.pk, hours],
            )
        )
    if batch.counts:
        rows = [
            (gateway.pk, code, n, now, batch.last_detail[code]) for code, n in batch.counts.items()
        ]
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
        out.append(
            (
                "INSERT INTO acquisition_ingestrejection AS c "  # noqa: S608 - placeholders only
                f"(gateway_id, reason, count, last_at, last_detail) VALUES {values} "
                "ON CONFLICT (gateway_id, reason) DO UPDATE SET count = c.count + excluded.count, "
                "last_at = excluded.last_at, last_detail = excluded.last_detail",
                [v for row in rows for v in row],
            )
        )
    state = {**envelope.agent, "batch": envelope.batch, "received_at": now.isoformat()}
    out.append(
        (
            f"UPDATE {Gateway._meta.db_table} SET last_seen_at = %s, agent_state = %s::jsonb "  # noqa: S608
            "WHERE id = %s",
            [now, orjson.dumps(state).decode(), gateway.pk],
        )
    )
    out.append(_claim_dcr_requests(gateway, now))
    return out


def _claim_dcr_requests(gateway: Gateway, now: dt.datetime) -> tuple[str, list[Any]]:
    """Mark the unsent DCR requests of the gateway's batteries sent; returns their battery ids.

    Pending requests are few (a partial index holds only them), so they are read first
    (``MATERIALIZED``: otherwise the planner may probe that index once per battery of the
    gateway, 0.5 ms for nothing) and each is checked against the gateway's buses."""
    return (
        "WITH pending AS MATERIALIZED (SELECT id, battery_id "  # noqa: S608 - table names
        "FROM acquisition_dcrmeasurementrequest WHERE sent_at IS NULL) "
        "UPDATE acquisition_dcrmeasurementrequest d SET sent_at = %s "
        f"FROM pending p JOIN {Battery._meta.db_table} b ON b.id = p.battery_id "
        f"JOIN {Bus._meta.db_table} u ON u.id = b.bus_id "
        "WHERE d.id = p.id AND d.sent_at IS NULL AND u.gateway_id = %s "
        "RETURNING d.battery_id",
        [now, gateway.pk],
    )


# -- commands in the reply -------------------------------------------------------------------------
# The alarms app maps site alarms to the gateway's dry contacts; its query travels with the
# ingest's other statements (import inside: the alarms app reads this one).


def _relay_query(gateway: Gateway) -> tuple[str, list[Any]]:
    from alarms.relays import relay_query

    return relay_query(gateway.site_id, gateway.pk)


def _relay_states_from(row: tuple) -> list[bool]:
    from alarms.relays import relay_states_from

    return relay_states_from(row)


# -- hand-off to the alarms app --------------------------------------------------------------------


def _hand_off_payload(
    gateway: Gateway, batch: _Batch, envelope: Envelope, stamps: set[dt.datetime]
) -> dict[str, Any] | None:
    silent_batteries = sorted({i for s in envelope.scans for i in s.silent_batteries})
    silent_banks = sorted({i for s in envelope.scans for i in s.silent_banks})
    if not stamps and not silent_batteries and not silent_banks:
        return None
    times = stamps or [s.ts for s in envelope.scans]
    return {
        "gateway": gateway.pk,
        "batteries": sorted({row[0] for row in batch.battery_rows}),
        "banks": sorted({row[0] for row in batch.bank_rows}),
        "start": min(times).isoformat(),
        "end": max(times).isoformat(),
        "silent": {"batteries": silent_batteries, "banks": silent_banks},
    }


def _handoff_row(
    gateway: Gateway, payload: dict[str, Any], now: dt.datetime
) -> tuple[str, list[Any]]:
    """The statement recording the owed evaluation (``AlarmHandoff``), stored with the readings;
    it names the row in ``payload["handoff"]``, which the evaluation deletes."""
    payload["handoff"] = uuid.uuid4().hex
    return (
        "INSERT INTO acquisition_alarmhandoff (key, gateway_id, payload, created_at, queued_at) "
        "VALUES (%s, %s, %s::jsonb, %s, %s)",
        [payload["handoff"], gateway.pk, orjson.dumps(payload).decode(), now, now],
    )
