"""What each rule kind measures and how its limit is compared: the registry ``RULES``.

The evaluation (``evaluation.py``) is generic: for every object it asks each rule of the object's
scope for its metric, compares it with the effective thresholds (``thresholds.py``) and turns the
result into alarm changes. Adding a rule kind means one ``RuleKind`` value, one ``RuleSpec`` here
and one built-in default in ``thresholds.py`` (docs/alarms.md, "How to add a new rule kind").
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alarms.choices import RuleKind, Scope


class Direction(enum.Enum):
    ABOVE = "above"  # breached when value > limit; clears at value <= limit - hysteresis
    BELOW = "below"  # breached when value < limit; clears at value >= limit + hysteresis
    OUTSIDE = "outside"  # band [limit2, limit]; clears back inside the band narrowed by hysteresis
    RUNAWAY = "runaway"  # value (T - ambient) > limit and string current > limit2


class Scale(enum.Enum):
    """How a stored (normalised) limit becomes the object's absolute value."""

    NONE = "none"
    CELLS = "cells"  # V per cell x cells of the block (battery) or of the string (bank)
    CAPACITY = "capacity"  # mA per Ah x capacity (Ah) / 1000 -> A


@dataclass(frozen=True, slots=True)
class RuleSpec:
    kind: RuleKind
    scope: Scope
    direction: Direction
    unit: str  # unit of the stored limit
    abs_unit: str  # unit of the value and of the scaled limit
    scale: Scale = Scale.NONE
    scale2: Scale = Scale.NONE
    float_voltage: bool = False  # held during a discharge (and its recovery) or a DCR test
    metric: Callable[[Any], float | None] | None = None  # None: fed by a special path
    limit_label: str = "limit"
    limit2_label: str = ""


def _attr(name: str) -> Callable[[Any], float | None]:
    return lambda ctx: getattr(ctx, name)


def _dcr_rise(ctx: Any) -> float | None:
    if ctx.dcr is None or not ctx.baseline:
        return None
    return (ctx.dcr / ctx.baseline - 1.0) * 100.0


def _deviation(value: str, mean: str, relative: bool) -> Callable[[Any], float | None]:
    def metric(ctx: Any) -> float | None:
        v, m = getattr(ctx, value), getattr(ctx, mean)
        if v is None or m is None or ctx.bank_size < 2:
            return None
        if relative:
            return abs(v - m) / m * 100.0 if m else None
        return abs(v - m)

    return metric


def _above_ambient(ctx: Any) -> float | None:
    if ctx.temperature is None or ctx.ambient is None:
        return None
    return ctx.temperature - ctx.ambient


B, K, G = Scope.BATTERY, Scope.BANK, Scope.GATEWAY
A, BL, OUT = Direction.ABOVE, Direction.BELOW, Direction.OUTSIDE

RULES: dict[str, RuleSpec] = {
    spec.kind: spec
    for spec in (
        RuleSpec(RuleKind.VOLTAGE_HIGH, B, A, "V/cell", "V", Scale.CELLS, float_voltage=True,
                 metric=_attr("voltage")),
        RuleSpec(RuleKind.VOLTAGE_LOW, B, BL, "V/cell", "V", Scale.CELLS, float_voltage=True,
                 metric=_attr("voltage")),
        RuleSpec(RuleKind.TEMPERATURE_HIGH, B, A, "C", "C", metric=_attr("temperature")),
        RuleSpec(RuleKind.TEMPERATURE_LOW, B, BL, "C", "C", metric=_attr("temperature")),
        RuleSpec(RuleKind.DCR_HIGH, B, A, "mOhm", "mOhm", metric=_attr("dcr")),
        RuleSpec(RuleKind.DCR_RISE, B, A, "%", "%", metric=_dcr_rise,
                 limit_label="rise over baseline"),
        RuleSpec(RuleKind.MICRO_VOLTAGE_BAND, B, OUT, "V/cell", "V", Scale.CELLS, Scale.CELLS,
                 float_voltage=True, metric=_attr("micro_voltage"), limit_label="high",
                 limit2_label="low"),
        RuleSpec(RuleKind.EMF_BAND, B, OUT, "V/cell", "V", Scale.CELLS, Scale.CELLS,
                 metric=_attr("emf"), limit_label="high", limit2_label="low"),
        RuleSpec(RuleKind.VOLTAGE_DEVIATION, B, A, "%", "%", float_voltage=True,
                 metric=_deviation("voltage", "mean_voltage", relative=True),
                 limit_label="deviation from bank mean"),
        RuleSpec(RuleKind.TEMPERATURE_DEVIATION, B, A, "C", "C",
                 metric=_deviation("temperature", "mean_temperature", relative=False),
                 limit_label="deviation from bank mean"),
        RuleSpec(RuleKind.THERMAL_RUNAWAY, B, Direction.RUNAWAY, "C", "C", Scale.NONE,
                 Scale.CAPACITY, metric=_above_ambient, limit_label="above ambient",
                 limit2_label="and string current above (mA/Ah)"),
        RuleSpec(RuleKind.FORECAST_RUL, B, BL, "days", "days",
                 limit_label="remaining life below"),
        RuleSpec(RuleKind.COMM_LOST_UNIT, B, A, "scans", "scans", limit_label="silent for"),
        RuleSpec(RuleKind.STRING_VOLTAGE_HIGH, K, A, "V/cell", "V", Scale.CELLS,
                 float_voltage=True, metric=_attr("string_voltage")),
        RuleSpec(RuleKind.STRING_VOLTAGE_LOW, K, BL, "V/cell", "V", Scale.CELLS,
                 float_voltage=True, metric=_attr("string_voltage")),
        RuleSpec(RuleKind.DISCHARGE, K, BL, "mA/Ah", "A", Scale.CAPACITY,
                 metric=_attr("current"), limit_label="string current below"),
        RuleSpec(RuleKind.FLOAT_CURRENT_HIGH, K, A, "mA/Ah", "A", Scale.CAPACITY,
                 float_voltage=True, metric=_attr("current")),
        RuleSpec(RuleKind.COMM_LOST_CMU, K, A, "scans", "scans", limit_label="silent for"),
        RuleSpec(RuleKind.COMM_LOST_GATEWAY, G, A, "scans", "scans",
                 limit_label="silent for (after the heartbeat)"),
    )
}  # fmt: skip

BATTERY_RULES = [s for s in RULES.values() if s.scope == Scope.BATTERY and s.metric]
BANK_RULES = [s for s in RULES.values() if s.scope == Scope.BANK and s.metric]


def breached(spec: RuleSpec, value: float, limit: float, limit2: float | None, aux: Any) -> bool:
    """Is the condition present? ``aux`` is the string current for the thermal-runaway rule."""
    if spec.direction is Direction.ABOVE:
        return value > limit
    if spec.direction is Direction.BELOW:
        return value < limit
    if spec.direction is Direction.OUTSIDE:
        return value > limit or (limit2 is not None and value < limit2)
    return value > limit and aux is not None and limit2 is not None and aux > limit2


def recovered(
    spec: RuleSpec, value: float, limit: float, limit2: float | None, hysteresis: float
) -> bool:
    """Is the value back past the clear band (limit -/+ hysteresis)? Between the two: no change."""
    if spec.direction in (Direction.ABOVE, Direction.RUNAWAY):
        return value <= limit - hysteresis
    if spec.direction is Direction.BELOW:
        return value >= limit + hysteresis
    low_ok = limit2 is None or value >= limit2 + hysteresis
    return low_ok and value <= limit - hysteresis


def crossed_limit(spec: RuleSpec, value: float, limit: float, limit2: float | None) -> float:
    """The limit to quote in a message (the lower bound when a band is left downwards)."""
    if spec.direction is Direction.OUTSIDE and limit2 is not None and value < limit2:
        return limit2
    return limit
