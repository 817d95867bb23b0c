"""Built-in thresholds per chemistry, their inheritance, and ``effective_thresholds(battery)``.

Inheritance, most generic first: built-in (code, below) -> chemistry -> battery model -> site ->
bank -> battery. Each field of a rule ``(kind, severity)`` (enabled, limit, limit2, hysteresis,
delay) takes the value of the most specific level that sets it, so a site can change only the delay
of a rule and keep the chemistry's limit. The built-in defaults live in code, not in a data
migration: they follow the chemistry and the block size of every battery (cells = nominal voltage /
cell voltage), which a table of fixed numbers could not, and an upgrade can improve them without
touching anybody's overrides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from alarms.choices import RuleKind, Severity, ThresholdLevel
from alarms.models import Threshold
from alarms.rules import RULES, RuleSpec, Scale
from sites.choices import Chemistry

#: Nominal cell voltage per chemistry (LFP for Li-ion, the stationary kind).
CELL_VOLTS = {Chemistry.VRLA: 2.0, Chemistry.VLA: 2.0, Chemistry.NICD: 1.2, Chemistry.LI_ION: 3.2}

#: Per-cell voltage limits: (warning, critical) for high and low, and the micro/EMF bands.
#: VRLA floats at 2.25-2.30 V/cell, VLA at 2.17-2.25, NiCd at 1.40-1.45, LFP at 3.35-3.45.
_VOLTS: dict[str, dict[str, tuple[float, float]]] = {
    Chemistry.VRLA: {"high": (2.35, 2.40), "low": (2.18, 2.10), "micro": (2.10, 2.40),
                     "emf": (2.05, 2.20)},
    Chemistry.VLA: {"high": (2.30, 2.35), "low": (2.13, 2.07), "micro": (2.05, 2.35),
                    "emf": (2.03, 2.20)},
    Chemistry.NICD: {"high": (1.50, 1.55), "low": (1.35, 1.30), "micro": (1.30, 1.55),
                     "emf": (1.25, 1.45)},
    Chemistry.LI_ION: {"high": (3.55, 3.65), "low": (3.20, 3.00), "micro": (3.10, 3.60),
                       "emf": (3.15, 3.45)},
}  # fmt: skip
#: Temperature (C): (warning, critical) high and low.
_TEMPS: dict[str, dict[str, tuple[float, float]]] = {
    Chemistry.VRLA: {"high": (35, 45), "low": (5, -5)},
    Chemistry.VLA: {"high": (35, 45), "low": (5, -5)},
    Chemistry.NICD: {"high": (40, 50), "low": (-5, -10)},
    Chemistry.LI_ION: {"high": (45, 55), "low": (5, 0)},
}

W, C = Severity.WARNING, Severity.CRITICAL


@dataclass(frozen=True, slots=True)
class Builtin:
    limit: float | None
    limit2: float | None = None
    hysteresis: float = 0.0
    delay_s: int = 0


def builtin(kind: str, severity: str, chemistry: str) -> Builtin | None:
    """The built-in default of one rule for one chemistry; None: no such default (rule off)."""
    chem = chemistry if chemistry in _VOLTS else Chemistry.VRLA
    volts, temps = _VOLTS[chem], _TEMPS[chem]
    i = 0 if severity == W else 1
    table: dict[str, Builtin | None] = {
        RuleKind.VOLTAGE_HIGH: Builtin(volts["high"][i], hysteresis=0.01),
        RuleKind.VOLTAGE_LOW: Builtin(volts["low"][i], hysteresis=0.01),
        RuleKind.STRING_VOLTAGE_HIGH: Builtin(volts["high"][i], hysteresis=0.01),
        RuleKind.STRING_VOLTAGE_LOW: Builtin(volts["low"][i], hysteresis=0.01),
        RuleKind.TEMPERATURE_HIGH: Builtin(temps["high"][i], hysteresis=1.0),
        RuleKind.TEMPERATURE_LOW: Builtin(temps["low"][i], hysteresis=1.0),
        RuleKind.DCR_HIGH: None,  # no fleet-wide value makes sense: set it per model or bank
        RuleKind.DCR_RISE: Builtin((20.0, 50.0)[i], hysteresis=2.0),  # IEEE 1188 practice
        RuleKind.MICRO_VOLTAGE_BAND: (
            Builtin(volts["micro"][1], volts["micro"][0], 0.01, 300) if severity == W else None
        ),
        RuleKind.EMF_BAND: (
            Builtin(volts["emf"][1], volts["emf"][0], 0.01, 300) if severity == W else None
        ),
        RuleKind.VOLTAGE_DEVIATION: Builtin((2.0, 4.0)[i], hysteresis=0.5, delay_s=60),
        RuleKind.TEMPERATURE_DEVIATION: Builtin((3.0, 5.0)[i], hysteresis=0.5, delay_s=300),
        # a discharge is an event to know about at once (mains failure), hence a warning
        RuleKind.DISCHARGE: Builtin(-10.0, hysteresis=5.0) if severity == W else None,
        RuleKind.FLOAT_CURRENT_HIGH: (
            Builtin(5.0, hysteresis=1.0, delay_s=600) if severity == W else None
        ),
        # case 10 C above the room and the string current above 3x a typical 1 mA/Ah float
        RuleKind.THERMAL_RUNAWAY: Builtin(10.0, 3.0, hysteresis=3.0) if severity == C else None,
        RuleKind.FORECAST_RUL: Builtin((180.0, 30.0)[i], hysteresis=7.0),
        RuleKind.COMM_LOST_UNIT: Builtin(3.0) if severity == W else None,
        RuleKind.COMM_LOST_CMU: Builtin(3.0) if severity == W else None,
        RuleKind.COMM_LOST_GATEWAY: Builtin(3.0) if severity == C else None,
    }
    return table[kind]


@dataclass(slots=True)
class Resolved:
    """One rule's effective threshold (normalised units) and where each field comes from."""

    kind: str
    severity: str
    enabled: bool
    limit: float | None
    limit2: float | None
    hysteresis: float
    delay_s: int
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.sources.get("limit", "")

    @property
    def active(self) -> bool:
        return self.enabled and self.limit is not None


def scaled(value: float | None, scale: Scale, cells: float, capacity_ah: float) -> float | None:
    if value is None:
        return None
    if scale is Scale.CELLS:
        return value * cells
    if scale is Scale.CAPACITY:
        return value * capacity_ah / 1000.0
    return value


def absolute(spec: RuleSpec, r: Resolved, cells: float, capacity: float) -> tuple[Any, ...]:
    """(limit, limit2, hysteresis) in the object's units (V, A ...)."""
    return (
        scaled(r.limit, spec.scale, cells, capacity),
        scaled(r.limit2, spec.scale2, cells, capacity),
        scaled(r.hysteresis, spec.scale, cells, capacity) or 0.0,
    )


_FIELDS = ("enabled", "limit", "limit2", "hysteresis", "delay_s")
Key = tuple[str, Any]  # (level, id or chemistry)


def short_chemistry(chemistry: str) -> str:
    """'VRLA', 'VLA', 'NiCd', 'Li-ion' (the choice label without its explanation)."""
    return Chemistry(chemistry).label.split(" (")[0] if chemistry else ""


def _default_label(key: Key) -> str:
    if key[0] == ThresholdLevel.CHEMISTRY:
        return f"chemistry {short_chemistry(key[1])}"
    return f"{ThresholdLevel(key[0]).label} {key[1]}"


class Resolver:
    """Resolves rules for many objects from one query's worth of override rows, with a cache."""

    def __init__(self, rows: Iterable[Threshold], labels: dict[Key, str] | None = None) -> None:
        self.index: dict[Key, dict[tuple[str, str], Threshold]] = {}
        for row in rows:
            key: Key = (
                (ThresholdLevel.CHEMISTRY, row.chemistry)
                if row.chemistry
                else (row.level.value, getattr(row, f"{row.level.value}_id"))
            )
            self.index.setdefault(key, {})[(row.kind, row.severity)] = row
        self.labels = labels or {}
        self._cache: dict[tuple, Resolved] = {}

    def has_overrides(self, level: str, ident: Any) -> bool:
        return (level, ident) in self.index

    def resolve(
        self,
        kind: str,
        severity: str,
        *,
        chemistry: str,
        model_id: int | None = None,
        site_id: int | None = None,
        bank_id: int | None = None,
        battery_id: int | None = None,
    ) -> Resolved:
        # a level without any override row cannot change the result: leave it out of the key
        model_id, site_id, bank_id, battery_id = (
            ident if ident is not None and self.has_overrides(level, ident) else None
            for level, ident in (
                (ThresholdLevel.BATTERY_MODEL, model_id),
                (ThresholdLevel.SITE, site_id),
                (ThresholdLevel.BANK, bank_id),
                (ThresholdLevel.BATTERY, battery_id),
            )
        )
        ck = (kind, severity, chemistry, model_id, site_id, bank_id, battery_id)
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        base = builtin(kind, severity, chemistry)
        label = f"built-in default ({short_chemistry(chemistry) or 'no chemistry'})"
        r = Resolved(kind, severity, False, None, None, 0.0, 0)
        enabled: bool | None = None
        if base is not None:
            r.limit, r.limit2, r.hysteresis, r.delay_s = (
                base.limit,
                base.limit2,
                base.hysteresis,
                base.delay_s,
            )
            r.sources = {f: label for f in _FIELDS if f != "enabled"}
        levels: list[Key] = [
            (ThresholdLevel.CHEMISTRY, chemistry),
            (ThresholdLevel.BATTERY_MODEL, model_id),
            (ThresholdLevel.SITE, site_id),
            (ThresholdLevel.BANK, bank_id),
            (ThresholdLevel.BATTERY, battery_id),
        ]
        for key in levels:
            if key[1] is None:
                continue
            row = self.index.get(key, {}).get((kind, severity))
            if row is None:
                continue
            where = self.labels.get(key) or _default_label(key)
            for name in _FIELDS:
                value = getattr(row, name)
                if value is None:
                    continue
                if name == "enabled":
                    enabled = value
                else:
                    setattr(r, name, value)
                r.sources[name] = where
        r.enabled = enabled if enabled is not None else r.limit is not None
        if enabled is None:
            r.sources.setdefault("enabled", r.sources.get("limit", "not set"))
        self._cache[ck] = r
        return r


def level_labels(battery: Any) -> dict[Key, str]:
    """Readable names of the levels above one battery, for the threshold table."""
    bank, model = battery.bank, battery.model
    return {
        (
            ThresholdLevel.CHEMISTRY,
            model.chemistry,
        ): f"chemistry {short_chemistry(model.chemistry)}",
        (ThresholdLevel.BATTERY_MODEL, model.pk): f"battery model {model}",
        (ThresholdLevel.SITE, bank.site_id): f"site {bank.site.name}",
        (ThresholdLevel.BANK, bank.pk): f"bank {bank.name}",
        (ThresholdLevel.BATTERY, battery.pk): f"battery #{battery.position}",
    }


def overrides_for(
    chemistries: Iterable[str],
    model_ids: Iterable[int],
    site_ids: Iterable[int],
    bank_ids: Iterable[int],
    kinds: Iterable[str] | None = None,
) -> list[Threshold]:
    """Every override row that can apply to these objects and their batteries: one query."""
    from django.db.models import Q

    bank_list = list(bank_ids)
    q = (
        Q(chemistry__in=list(chemistries))
        | Q(battery_model_id__in=list(model_ids))
        | Q(site_id__in=list(site_ids))
        | Q(bank_id__in=bank_list)
        | Q(battery__bank_id__in=bank_list)  # the batteries of these banks, without 254 ids
    )
    qs = Threshold.objects.filter(q)
    if kinds is not None:
        qs = qs.filter(kind__in=list(kinds))
    return list(qs)


@dataclass(slots=True)
class EffectiveThreshold:
    """One row of the battery page's threshold table."""

    kind: str
    label: str
    scope: str
    severity: str
    enabled: bool
    limit: float | None
    limit2: float | None
    hysteresis: float
    delay_s: int
    unit: str
    abs_limit: float | None
    abs_limit2: float | None
    abs_unit: str
    source: str
    sources: dict[str, str]


def battery_cells(chemistry: str, nominal_voltage: float) -> float:
    return float(nominal_voltage) / CELL_VOLTS.get(chemistry, 2.0)


def effective_thresholds(battery: Any) -> list[EffectiveThreshold]:
    """Each rule that applies to ``battery`` (and to its bank), its value, and where it comes from.

    Two queries (the battery with its relations if not loaded, the override rows).
    """
    bank, model = battery.bank, battery.model
    bank_model = bank.battery_model or model
    chem = model.chemistry
    rows = overrides_for([chem], {model.pk, bank_model.pk}, [bank.site_id], [bank.pk])
    resolver = Resolver(rows, level_labels(battery))
    block_cells = battery_cells(chem, float(model.nominal_voltage))
    string_cells = battery_cells(chem, float(bank.nominal_voltage))
    capacity = float(bank_model.capacity_ah)
    out: list[EffectiveThreshold] = []
    for spec in RULES.values():
        for severity in (W, C):
            on_bank = spec.scope != "battery"
            r = resolver.resolve(
                spec.kind,
                severity,
                chemistry=chem,
                model_id=(bank_model.pk if on_bank else model.pk),
                site_id=bank.site_id,
                bank_id=bank.pk,
                battery_id=None if on_bank else battery.pk,
            )
            if r.limit is None and not r.sources:
                continue
            cells = string_cells if on_bank else block_cells
            lim, lim2, _ = absolute(spec, r, cells, capacity)
            out.append(
                EffectiveThreshold(
                    kind=spec.kind,
                    label=RuleKind(spec.kind).label,
                    scope=spec.scope,
                    severity=severity,
                    enabled=r.active,
                    limit=r.limit,
                    limit2=r.limit2,
                    hysteresis=r.hysteresis,
                    delay_s=r.delay_s,
                    unit=spec.unit,
                    abs_limit=lim,
                    abs_limit2=lim2,
                    abs_unit=spec.abs_unit,
                    source=r.source,
                    sources=dict(r.sources),
                )
            )
    return out
