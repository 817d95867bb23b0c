"""Evaluation of one stored batch: latest values + effective thresholds -> observations.

An *observation* says, for one (rule kind, object): which severity is breached now (or none),
whether the value is back past the clear band, or that the rule is *held* (suppressed: a discharge
and its recovery, a DCR test, a maintenance window that suppresses alarms). ``transitions.py``
turns observations into alarm changes in bulk. Everything here is plain Python over data loaded by
``loading.py`` in a constant number of queries, so the cost per batch does not grow with queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from acquisition.registermap import BmuStatus
from alarms import conf
from alarms.choices import SEVERITY_RANK, RuleKind, Scope, Severity
from alarms.forecast import forecasting_rul_days
from alarms.loading import (
    BankCtx,
    BatteryCtx,
    GatewayCtx,
    OpenAlarm,
    level_labels,
    load_fleet,
    load_maintenance,
    load_open_alarms,
)
from alarms.rules import BANK_RULES, BATTERY_RULES, RULES, RuleSpec, breached, crossed_limit
from alarms.rules import recovered as is_recovered
from alarms.thresholds import Resolved, Resolver, absolute, overrides_for

SEVERITIES = (Severity.WARNING, Severity.CRITICAL)


@dataclass(slots=True)
class Observation:
    kind: str
    scope: str
    object_id: int
    site_id: int
    bank_id: int | None
    battery_id: int | None
    gateway_id: int | None
    severity: str | None  # breached severity now, None when not breached
    recovered: bool  # back past the clear band of every enabled threshold
    held: bool  # suppressed: no change to an open alarm, no new alarm
    value: float | None
    threshold: float | None
    unit: str
    source: str
    delay_s: int
    ts: dt.datetime


@dataclass(slots=True)
class Batch:
    """The evaluation's inputs, loaded once."""

    gateway: GatewayCtx | None
    banks: dict[int, BankCtx]
    batteries: dict[int, BatteryCtx]
    open: dict[tuple[str, int], OpenAlarm]
    resolver: Resolver
    held_sites: set[int]
    held_banks: set[int]
    rul: dict[int, float]
    limits: dict[tuple, Limits] = field(default_factory=dict)


def load_batch(payload: dict[str, Any], now: dt.datetime) -> Batch:
    """Everything one evaluation reads: 6-7 queries whatever the batch size."""
    gateway_id = int(payload["gateway"])
    silent = payload.get("silent") or {}
    battery_ids = sorted({*payload.get("batteries", []), *silent.get("batteries", [])})
    bank_ids = sorted({*payload.get("banks", []), *silent.get("banks", [])})
    gateway, banks, batteries = load_fleet(gateway_id, battery_ids, bank_ids)
    site_ids = sorted(
        {k.site_id for k in banks.values()} | ({gateway.site_id} if gateway else set())
    )
    rows = overrides_for(
        {k.chemistry for k in banks.values()} | {b.chemistry for b in batteries.values()},
        {b.model_id for b in batteries.values()}
        | {k.model_id for k in banks.values() if k.model_id},
        site_ids,
        list(banks),
    )
    since = now - dt.timedelta(minutes=conf.recovery_min())
    open_alarms = load_open_alarms([*banks, *batteries], gateway_id, since)
    held_sites: set[int] = set()
    held_banks: set[int] = set()
    for site_id, bank_id, suppress in load_maintenance(site_ids, now):
        if suppress:
            (held_banks.add(bank_id) if bank_id else held_sites.add(site_id))
    rul = forecasting_rul_days(list(batteries)) if batteries else {}
    resolver = Resolver(rows, level_labels(banks))
    return Batch(gateway, banks, batteries, open_alarms, resolver, held_sites, held_banks, rul)


def _thresholds(batch: Batch, spec: RuleSpec, ctx: Any, bank: BankCtx) -> list[Resolved]:
    on_battery = spec.scope == Scope.BATTERY
    return [
        batch.resolver.resolve(
            spec.kind,
            sev,
            chemistry=ctx.chemistry,
            model_id=ctx.model_id,
            site_id=bank.site_id,
            bank_id=bank.id,
            battery_id=ctx.id if on_battery else None,
        )
        for sev in SEVERITIES
    ]


Limits = list[tuple[Resolved, float, float | None, float]]


def _limits(batch: Batch, spec: RuleSpec, ctx: Any, bank: BankCtx) -> Limits:
    """The enabled thresholds of one rule for one object, in absolute units, cached per batch.

    Batteries of one bank and model share them (unless a battery has its own overrides), so a
    254-unit scan resolves each rule a handful of times, not 254 times.
    """
    own = spec.scope == Scope.BATTERY and batch.resolver.has_overrides("battery", ctx.id)
    key = (spec.kind, ctx.model_id, bank.id, ctx.id if own else None, ctx.cells)
    hit = batch.limits.get(key)
    if hit is not None:
        return hit
    out: Limits = []
    for r in _thresholds(batch, spec, ctx, bank):
        if r.active:
            lim, lim2, hyst = absolute(spec, r, ctx.cells, bank.capacity_ah)
            out.append((r, lim, lim2, hyst))
    batch.limits[key] = out
    return out


def judge(
    spec: RuleSpec, value: float, aux: Any, limits: Limits
) -> tuple[str | None, bool, float | None, Resolved | None]:
    """(breached severity, recovered, crossed limit, threshold used) for one value."""
    severity: str | None = None
    used: Resolved | None = None
    limit_hit: float | None = None
    recovered = True
    for r, lim, lim2, hyst in limits:
        worse = severity is None or SEVERITY_RANK[r.severity] > SEVERITY_RANK[severity]
        if worse and breached(spec, value, lim, lim2, aux):
            severity, used, limit_hit = r.severity, r, crossed_limit(spec, value, lim, lim2)
        if recovered and not is_recovered(spec, value, lim, lim2, hyst):
            recovered = False
    return severity, recovered and severity is None, limit_hit, used


def _observe(
    spec: RuleSpec,
    ctx: Any,
    bank: BankCtx,
    value: float | None,
    held: bool,
    batch: Batch,
) -> Observation | None:
    """An observation when something may change: a breach, or an open alarm to update."""
    if value is None or ctx.ts is None:
        return None
    is_open = (spec.kind, ctx.id) in batch.open
    limits = _limits(batch, spec, ctx, bank)
    if not limits and not is_open:
        return None
    severity, rec, limit, used = judge(spec, value, getattr(ctx, "current", None), limits)
    if severity is None and not is_open:
        return None
    is_battery = spec.scope == Scope.BATTERY
    return Observation(
        kind=spec.kind,
        scope=spec.scope,
        object_id=ctx.id,
        site_id=bank.site_id,
        bank_id=bank.id,
        battery_id=ctx.id if is_battery else None,
        gateway_id=None,
        severity=severity,
        recovered=rec,
        held=held,
        value=value,
        threshold=limit,
        unit=spec.abs_unit,
        source=used.source if used else "",
        delay_s=used.delay_s if used else 0,
        ts=ctx.ts,
    )


def _discharging(batch: Batch, bank: BankCtx, now: dt.datetime) -> bool:
    """A discharge is running, or ended less than the recovery time ago (string recovering)."""
    alarm = batch.open.get((RuleKind.DISCHARGE, bank.id))
    if alarm is not None and alarm.state != "pending":
        return True
    recent = batch.open.get(("recent_discharge", bank.id))
    if recent is not None:
        return True
    limits = _limits(batch, RULES[RuleKind.DISCHARGE], bank, bank)
    if not limits or bank.current is None:
        return False
    return any(bank.current < lim for _, lim, _, _ in limits)


def observe(batch: Batch, payload: dict[str, Any], now: dt.datetime) -> list[Observation]:
    out: list[Observation] = []
    for bank in batch.banks.values():
        held_all = bank.site_id in batch.held_sites or bank.id in batch.held_banks
        discharging = _discharging(batch, bank, now)
        dcr_test = any(
            b.status is not None and b.status & BmuStatus.DCR_IN_PROGRESS for b in bank.batteries
        )
        for spec in BANK_RULES:
            held = held_all or (spec.float_voltage and (discharging or dcr_test))
            value = spec.metric(bank) if spec.metric else None
            obs = _observe(spec, bank, bank, value, held, batch)
            if obs:
                out.append(obs)
        for b in bank.batteries:
            own_test = b.status is not None and bool(b.status & BmuStatus.DCR_IN_PROGRESS)
            for spec in BATTERY_RULES:
                held = held_all or (spec.float_voltage and (discharging or own_test))
                value = spec.metric(b) if spec.metric else None
                obs = _observe(spec, b, bank, value, held, batch)
                if obs:
                    out.append(obs)
            days = batch.rul.get(b.id)
            if days is not None:
                obs = _observe(RULES[RuleKind.FORECAST_RUL], b, bank, days, held_all, batch)
                if obs:
                    out.append(obs)
    out.extend(observe_comm(batch, payload))
    return out


def _comm_threshold(batch: Batch, kind: str, ctx: Any, bank: BankCtx) -> Resolved | None:
    """Communication loss has one severity per object: warning if enabled, else critical."""
    for r in _thresholds(batch, RULES[kind], ctx, bank):
        if r.active:
            return r
    return None


def observe_comm(batch: Batch, payload: dict[str, Any]) -> list[Observation]:
    """Units the agent reported silent start a (pending) comm-loss alarm; units heard clear it.

    The delay is N scans of the gateway; the periodic sweep promotes the pending row when it has
    passed (the agent reports a still-silent unit again only at its heartbeat).
    """
    gw = batch.gateway
    if gw is None:
        return []
    silent = payload.get("silent") or {}
    ts = dt.datetime.fromisoformat(payload["start"]) if payload.get("start") else None
    heard_batteries = set(payload.get("batteries", []))
    heard_banks = set(payload.get("banks", []))
    out: list[Observation] = []

    def add(kind: str, scope: str, ctx: Any, bank: BankCtx, is_silent: bool) -> None:
        if not is_silent and (kind, ctx.id) not in batch.open:
            return  # heard, and nothing to clear
        r = _comm_threshold(batch, kind, ctx, bank)
        if is_silent and (r is None or ts is None):
            return
        n = r.limit if r and r.limit is not None else 0
        held = bank.site_id in batch.held_sites or bank.id in batch.held_banks
        out.append(
            Observation(
                kind=kind,
                scope=scope,
                object_id=ctx.id,
                site_id=bank.site_id,
                bank_id=bank.id,
                battery_id=ctx.id if scope == Scope.BATTERY else None,
                gateway_id=None,
                severity=r.severity if (is_silent and r) else None,
                recovered=not is_silent,
                held=held,
                value=None,
                threshold=n,
                unit="scans",
                source=r.source if r else "",
                delay_s=int(n * gw.scan_interval_s),
                ts=ts or dt.datetime.now(dt.UTC),
            )
        )

    for bid in silent.get("batteries", []):
        b = batch.batteries.get(bid)
        if b is not None and b.bank_id in batch.banks:
            add(RuleKind.COMM_LOST_UNIT, Scope.BATTERY, b, batch.banks[b.bank_id], True)
    for bid in heard_batteries:
        b = batch.batteries.get(bid)
        if b is not None and b.bank_id in batch.banks:
            add(RuleKind.COMM_LOST_UNIT, Scope.BATTERY, b, batch.banks[b.bank_id], False)
    for kid in silent.get("banks", []):
        if kid in batch.banks:
            add(RuleKind.COMM_LOST_CMU, Scope.BANK, batch.banks[kid], batch.banks[kid], True)
    for kid in heard_banks:
        if kid in batch.banks:
            add(RuleKind.COMM_LOST_CMU, Scope.BANK, batch.banks[kid], batch.banks[kid], False)
    gw_alarm = batch.open.get((RuleKind.COMM_LOST_GATEWAY, gw.id))
    if gw_alarm is not None:  # the gateway is talking again
        out.append(
            Observation(
                kind=RuleKind.COMM_LOST_GATEWAY,
                scope=Scope.GATEWAY,
                object_id=gw.id,
                site_id=gw.site_id,
                bank_id=None,
                battery_id=None,
                gateway_id=gw.id,
                severity=None,
                recovered=True,
                held=False,
                value=None,
                threshold=None,
                unit="scans",
                source="",
                delay_s=0,
                ts=dt.datetime.now(dt.UTC),
            )
        )
    return out
