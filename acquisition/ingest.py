"""The ingest hot path: one agent batch in, readings stored, the reply out.

Cost per request is a small constant number of queries whatever the number of readings (tests
guard it): the token lookup, the gateway's unit list (cached per process, agentconfig.py), one
partition check, COPY into TEMP staging + one INSERT ... SELECT per table, one latest-values upsert
per table, one rollup-queue insert, one counter upsert (only with rejections), one gateway UPDATE
and one DCR-request claim. Validation is plain Python (validation.py).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from acquisition import storage
from acquisition.agentconfig import GatewayFleet, gateway_fleet
from acquisition.models import RejectReason
from acquisition.registermap import BMU_PARAMETERS, CMU_PARAMETERS, RELAY_COUNT
from acquisition.validation import Envelope, Scan, out_of_range
from sites.choices import BatteryStatus
from sites.models import Bank, Battery, Gateway

log = logging.getLogger(__name__)

FUTURE_LIMIT = dt.timedelta(minutes=5)  # agent clocks are NTP-synced; beyond this one is wrong
ALARM_TASK = "alarms.tasks.evaluate_batch"


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
    battery_misses: list[tuple[Scan, dict[str, Any]]] = []
    bank_misses: list[tuple[Scan, dict[str, Any]]] = []
    retention = settings.READINGS_RETENTION_DAYS
    oldest = now - dt.timedelta(days=retention) if retention else None
    for scan in envelope.scans:
        if not _scan_time_ok(batch, scan, now, oldest):
            continue
        for r in scan.batteries:
            unit_type = fleet.batteries.get(r["id"])
            if unit_type is None:
                battery_misses.append((scan, r))
            else:
                batch.battery_rows.append(_battery_row(batch, scan, r, unit_type))
        for r in scan.banks:
            if r["id"] in fleet.banks:
                batch.bank_rows.append(_bank_row(batch, scan, r))
            else:
                bank_misses.append((scan, r))
    if battery_misses:
        _classify_battery_misses(batch, gateway, battery_misses)
    if bank_misses:
        _classify_bank_misses(batch, gateway, bank_misses)

    stamps = [row[1] for row in batch.battery_rows] + [row[1] for row in batch.bank_rows]
    storage.ensure_partitions_for({ts.date() for ts in stamps})
    with transaction.atomic():
        inserted, staged = storage.store_batch(batch.battery_rows, batch.bank_rows)
        hours = {ts.replace(minute=0, second=0, microsecond=0) for ts in stamps}
        storage.queue_rollups(gateway.pk, hours)
        _count_rejections(gateway, batch, now)
        Gateway.objects.filter(pk=gateway.pk).update(
            last_seen_at=now,
            agent_state={**envelope.agent, "batch": envelope.batch, "received_at": now.isoformat()},
        )
        commands = pending_commands(gateway, fleet, now)
        payload = _hand_off_payload(gateway, batch, envelope, stamps)
        if payload:
            transaction.on_commit(lambda: hand_off(payload))
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


def _battery_row(batch: _Batch, scan: Scan, r: dict[str, Any], unit_type: str) -> tuple:
    """The stored row; a value outside the measuring range is rejected and stored as null."""
    values: list[float | None] = []
    for name in BMU_PARAMETERS:
        v = r.get(name)
        if v is not None:
            problem = out_of_range(name, v, unit_type)
            if problem:
                batch.reject(
                    RejectReason.OUT_OF_RANGE,
                    problem,
                    scan=scan.index,
                    kind="battery",
                    uid=r["id"],
                    fld=name,
                )
                v = None
        values.append(v)
    return (r["id"], scan.ts, *values, r.get("status"))


def _bank_row(batch: _Batch, scan: Scan, r: dict[str, Any]) -> tuple:
    values: list[float | None] = []
    for name in CMU_PARAMETERS:
        v = r.get(name)
        if v is not None:
            problem = out_of_range(name, v, "CMU")
            if problem:
                batch.reject(
                    RejectReason.OUT_OF_RANGE,
                    problem,
                    scan=scan.index,
                    kind="bank",
                    uid=r["id"],
                    fld=name,
                )
                v = None
        values.append(v)
    return (r["id"], scan.ts, *values, r.get("status"))


def _classify_battery_misses(
    batch: _Batch, gateway: Gateway, misses: list[tuple[Scan, dict[str, Any]]]
) -> None:
    """Ids not in the (cached) unit list: one query says why, or accepts a just-added battery."""
    ids = {r["id"] for _, r in misses}
    known = {
        pk: (gw, status, unit_type)
        for pk, gw, status, unit_type in Battery.objects.filter(pk__in=ids).values_list(
            "pk", "bus__gateway_id", "status", "model__unit_type"
        )
    }
    for scan, r in misses:
        uid = r["id"]
        if uid not in known:
            code, reason = RejectReason.UNKNOWN_UNIT, f"unknown battery {uid}"
        elif known[uid][0] != gateway.pk:
            code, reason = RejectReason.OTHER_GATEWAY, f"battery {uid} belongs to another gateway"
        elif known[uid][1] != BatteryStatus.IN_SERVICE:
            code, reason = RejectReason.NOT_IN_SERVICE, f"battery {uid} is {known[uid][1]}"
        else:  # added after the unit list was cached
            batch.battery_rows.append(_battery_row(batch, scan, r, known[uid][2]))
            continue
        batch.reject(code, reason, scan=scan.index, kind="battery", uid=uid)


def _classify_bank_misses(
    batch: _Batch, gateway: Gateway, misses: list[tuple[Scan, dict[str, Any]]]
) -> None:
    ids = {r["id"] for _, r in misses}
    known = dict(
        Bank.objects.filter(pk__in=ids, cmu_address__isnull=False).values_list(
            "pk", "bus__gateway_id"
        )
    )
    for scan, r in misses:
        uid = r["id"]
        if uid not in known:
            code, reason = RejectReason.UNKNOWN_UNIT, f"unknown bank {uid} (or it has no CMU)"
        elif known[uid] != gateway.pk:
            code, reason = RejectReason.OTHER_GATEWAY, f"bank {uid} belongs to another gateway"
        else:
            batch.bank_rows.append(_bank_row(batch, scan, r))
            continue
        batch.reject(code, reason, scan=scan.index, kind="bank", uid=uid)


def _count_rejections(gateway: Gateway, batch: _Batch, now: dt.datetime) -> None:
    """One upsert adding this request's rejections to the gateway's counters per reason."""
    if not batch.counts:
        return
    rows = [(gateway.pk, code, n, now, batch.last_detail[code]) for code, n in batch.counts.items()]
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO acquisition_ingestrejection AS c "  # noqa: S608 - placeholders only
            f"(gateway_id, reason, count, last_at, last_detail) VALUES {values} "
            "ON CONFLICT (gateway_id, reason) DO UPDATE SET count = c.count + excluded.count, "
            "last_at = excluded.last_at, last_detail = excluded.last_detail",
            [v for row in rows for v in row],
        )


# -- commands in the reply -------------------------------------------------------------------------


def relay_states(gateway: Gateway) -> list[bool]:
    """Hook for the alarms app: the relay outputs this gateway should hold (all off for now)."""
    return [False] * RELAY_COUNT


def pending_commands(
    gateway: Gateway, fleet: GatewayFleet | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Commands for the agent's next reply; DCR requests are claimed so they are sent once."""
    fleet = fleet or gateway_fleet(gateway)
    now = now or dt.datetime.now(dt.UTC)
    measure: list[int] = []
    if fleet.batteries:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE acquisition_dcrmeasurementrequest SET sent_at = %s "
                "WHERE sent_at IS NULL AND battery_id = ANY(%s) RETURNING battery_id",
                [now, list(fleet.batteries)],
            )
            measure = sorted({row[0] for row in cursor.fetchall()})
    return {"relays": relay_states(gateway), "measure_dcr": measure}


# -- hand-off to the alarms app --------------------------------------------------------------------


def _hand_off_payload(
    gateway: Gateway, batch: _Batch, envelope: Envelope, stamps: list[dt.datetime]
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


@cache
def _alarms_tasks_module_exists() -> bool:
    return importlib.util.find_spec("alarms.tasks") is not None


def hand_off(payload: dict[str, Any]) -> None:
    """Queue alarm evaluation of a stored batch, if the alarms app provides the task.

    Runs after commit. Until ``alarms.tasks.evaluate_batch`` exists this is a no-op.
    """
    if not _alarms_tasks_module_exists():
        log.debug("no alarms.tasks module: batch of gateway %s not handed off", payload["gateway"])
        return
    importlib.import_module("alarms.tasks")
    from bms_portal.celery import app

    task = app.tasks.get(ALARM_TASK)
    if task is None:
        log.debug("%s is not registered: batch not handed off", ALARM_TASK)
        return
    task.delay(payload)
