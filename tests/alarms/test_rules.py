"""Every rule kind fires on its condition, holds inside the hysteresis band, clears past it.

The plant is four 12 V VRLA blocks (6 cells) on float at 13.62 V, 100 Ah, DCR baseline 4 mOhm, in
a 48 V string: the built-in limits become e.g. 14.10 V (2.35 V/cell) for a high-voltage warning.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from alarms.choices import AlarmState, RuleKind, Severity
from alarms.models import Alarm, Threshold
from tests.alarms.conftest import T0, evaluate

S = dt.timedelta(seconds=1)

# kind, scope ("battery" = position 1, "bank"), breach values, hold values, clear values
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (RuleKind.VOLTAGE_HIGH, "battery", {"voltage": 14.2}, {"voltage": 14.06}, {"voltage": 14.0}),
    (RuleKind.VOLTAGE_LOW, "battery", {"voltage": 12.9}, {"voltage": 13.1}, {"voltage": 13.2}),
    (RuleKind.TEMPERATURE_HIGH, "battery", {"temperature": 36}, {"temperature": 34.5},
     {"temperature": 33.9}),
    (RuleKind.TEMPERATURE_LOW, "battery", {"temperature": 4}, {"temperature": 5.5},
     {"temperature": 6.5}),
    (RuleKind.DCR_HIGH, "battery", {"dcr": 6.5}, {"dcr": 5.8}, {"dcr": 5.4}),
    (RuleKind.DCR_RISE, "battery", {"dcr": 5.0}, {"dcr": 4.75}, {"dcr": 4.6}),
    (RuleKind.MICRO_VOLTAGE_BAND, "battery", {"micro_voltage": 12.5}, {"micro_voltage": 12.62},
     {"micro_voltage": 13.0}),
    (RuleKind.EMF_BAND, "battery", {"emf": 13.3}, {"emf": 13.17}, {"emf": 13.0}),
    (RuleKind.VOLTAGE_DEVIATION, "battery", {"voltage": 14.0}, {"voltage": 13.9},
     {"voltage": 13.8}),
    (RuleKind.TEMPERATURE_DEVIATION, "battery", {"temperature": 28.5}, {"temperature": 27.6},
     {"temperature": 27.0}),
    (RuleKind.THERMAL_RUNAWAY, "runaway", {"temperature": 35.0}, {"temperature": 32.0},
     {"temperature": 30.0}),
    (RuleKind.STRING_VOLTAGE_HIGH, "bank", {"string_voltage": 56.5}, {"string_voltage": 56.3},
     {"string_voltage": 56.0}),
    (RuleKind.STRING_VOLTAGE_LOW, "bank", {"string_voltage": 52.2}, {"string_voltage": 52.4},
     {"string_voltage": 53.0}),
    (RuleKind.DISCHARGE, "bank", {"current": -2.0}, {"current": -0.8}, {"current": 0.1}),
    (RuleKind.FLOAT_CURRENT_HIGH, "bank", {"current": 0.6}, {"current": 0.45}, {"current": 0.3}),
]  # fmt: skip


def _scan(plant: Any, scope: str, values: dict[str, Any]) -> dict[str, Any]:
    if scope == "bank":
        return {"bank": values}
    if scope == "runaway":  # the string current rises with the case temperature
        return {"batteries": {1: values}, "bank": {"current": 0.4}}
    return {"batteries": {1: values}}


def _alarms(kind: str, object_id: int) -> list[Alarm]:
    return list(Alarm.objects.filter(kind=kind, object_id=object_id).order_by("id"))


@pytest.mark.parametrize(("kind", "scope", "breach", "hold", "clear"), CASES, ids=lambda v: str(v))
def test_each_rule_fires_holds_in_its_band_and_clears_past_hysteresis(
    plant, kind, scope, breach, hold, clear
):
    if kind == RuleKind.DCR_HIGH:  # no fleet-wide default: a site sets it
        Threshold.objects.create(
            kind=kind, severity=Severity.WARNING, site=plant.site, limit=6.0, hysteresis=0.5
        )
    obj = plant.bank.pk if scope == "bank" else plant.battery(1).pk
    evaluate(plant, T0, **_scan(plant, scope, {}))
    assert _alarms(kind, obj) == []

    evaluate(plant, T0 + 10 * S, **_scan(plant, scope, breach))
    # the delay (if any) has passed by the next scan an hour later
    evaluate(plant, T0 + 3600 * S, **_scan(plant, scope, breach))
    (alarm,) = _alarms(kind, obj)
    assert alarm.state == AlarmState.ACTIVE
    assert alarm.severity in (Severity.WARNING, Severity.CRITICAL)
    assert alarm.threshold is not None

    evaluate(plant, T0 + 3610 * S, **_scan(plant, scope, hold))
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.ACTIVE, "inside the clear band the alarm stays"

    evaluate(plant, T0 + 3620 * S, **_scan(plant, scope, clear))
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED
    assert alarm.cleared_at is not None


def test_a_value_past_the_critical_limit_raises_a_critical_alarm(plant):
    evaluate(plant, T0, {1: {"voltage": 14.5}})  # 2.42 V/cell > 2.40
    alarm = Alarm.objects.get(kind=RuleKind.VOLTAGE_HIGH, object_id=plant.battery(1).pk)
    assert (alarm.severity, alarm.state) == (Severity.CRITICAL, AlarmState.ACTIVE)
    assert alarm.threshold == pytest.approx(14.4)


def test_a_warning_that_worsens_becomes_critical_on_the_same_alarm(plant):
    evaluate(plant, T0, {1: {"voltage": 14.2}})
    evaluate(plant, T0 + 10 * S, {1: {"voltage": 14.5}})
    (alarm,) = Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH)
    assert alarm.severity == Severity.CRITICAL


def test_a_condition_that_returns_after_clearing_is_a_new_alarm(plant):
    evaluate(plant, T0, {1: {"voltage": 14.2}})
    evaluate(plant, T0 + 10 * S, {1: {"voltage": 13.6}})
    evaluate(plant, T0 + 20 * S, {1: {"voltage": 14.2}})
    states = [a.state for a in _alarms(RuleKind.VOLTAGE_HIGH, plant.battery(1).pk)]
    assert states == [AlarmState.CLEARED, AlarmState.ACTIVE]


def test_the_forecast_rule_reads_the_forecasting_hook(plant, monkeypatch):
    b1 = plant.battery(1).pk
    days = {b1: 100.0}
    monkeypatch.setattr("alarms.evaluation.forecasting_rul_days", lambda ids: dict(days))
    evaluate(plant, T0)
    (alarm,) = _alarms(RuleKind.FORECAST_RUL, b1)
    assert (alarm.severity, alarm.value) == (Severity.WARNING, 100.0)
    days[b1] = 185.0  # inside the 7-day clear band
    evaluate(plant, T0 + 10 * S)
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.ACTIVE
    days[b1] = 200.0
    evaluate(plant, T0 + 20 * S)
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED


def test_without_forecasts_the_forecast_rule_raises_nothing(plant):
    evaluate(plant, T0)
    assert not Alarm.objects.filter(kind=RuleKind.FORECAST_RUL).exists()


def test_a_healthy_scan_raises_nothing(plant):
    evaluate(plant, T0)
    evaluate(plant, T0 + 3600 * S)
    assert list(Alarm.objects.all()) == []
