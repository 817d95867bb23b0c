"""Float-voltage alarms are held during a discharge or a DCR test until the string recovers;
maintenance windows hold notifications (and, when asked, alarms)."""

from __future__ import annotations

import datetime as dt

from acquisition.registermap import BmuStatus
from alarms.choices import AlarmState, RuleKind
from alarms.models import Alarm, MaintenanceWindow
from tests.alarms.conftest import T0, evaluate

S = dt.timedelta(seconds=1)
M = dt.timedelta(minutes=1)


def test_low_voltage_during_a_discharge_raises_no_float_voltage_alarm(plant):
    evaluate(plant, T0, {1: {"voltage": 12.2}}, {"current": -50.0, "string_voltage": 49.0})
    kinds = set(Alarm.objects.values_list("kind", flat=True))
    assert RuleKind.DISCHARGE in kinds
    assert RuleKind.VOLTAGE_LOW not in kinds
    assert RuleKind.STRING_VOLTAGE_LOW not in kinds


def test_float_voltage_alarms_stay_held_until_the_string_has_recovered(plant):
    evaluate(plant, T0, bank={"current": -50.0})
    evaluate(plant, T0 + 10 * S, {1: {"voltage": 12.9}}, {"current": 5.0})  # discharge over
    assert Alarm.objects.get(kind=RuleKind.DISCHARGE).state == AlarmState.CLEARED
    evaluate(plant, T0 + 20 * M, {1: {"voltage": 12.9}}, {"current": 5.0}, now=T0 + 20 * M)
    assert not Alarm.objects.filter(kind=RuleKind.VOLTAGE_LOW).exists(), "still recovering"
    evaluate(plant, T0 + 31 * M, {1: {"voltage": 12.9}}, {"current": 0.1})
    assert Alarm.objects.get(kind=RuleKind.VOLTAGE_LOW).state == AlarmState.ACTIVE


def test_an_active_float_voltage_alarm_is_neither_cleared_nor_renewed_during_a_discharge(plant):
    evaluate(plant, T0, {1: {"voltage": 14.2}})
    evaluate(plant, T0 + 10 * S, {1: {"voltage": 12.0}}, {"current": -40.0})
    assert Alarm.objects.get(kind=RuleKind.VOLTAGE_HIGH).state == AlarmState.ACTIVE


def test_a_dcr_test_holds_the_voltage_rules_of_the_tested_battery(plant):
    evaluate(plant, T0, {1: {"voltage": 12.5, "status": int(BmuStatus.DCR_IN_PROGRESS)}})
    assert not Alarm.objects.filter(kind=RuleKind.VOLTAGE_LOW).exists()
    evaluate(plant, T0 + 10 * S, {1: {"voltage": 12.5, "status": 0}})
    assert Alarm.objects.filter(kind=RuleKind.VOLTAGE_LOW).exists()


def test_a_maintenance_window_that_suppresses_alarms_holds_evaluation(plant):
    MaintenanceWindow.objects.create(
        site=plant.site,
        bank=plant.bank,
        starts_at=T0 - M,
        ends_at=T0 + 60 * M,
        reason="block replacement",
        suppress_alarms=True,
    )
    evaluate(plant, T0, {1: {"voltage": 14.5}})
    assert not Alarm.objects.exists()
    evaluate(plant, T0 + 61 * M, {1: {"voltage": 14.5}})
    assert Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH, state=AlarmState.ACTIVE).exists()


def test_a_maintenance_window_without_suppression_still_records_alarms(plant):
    MaintenanceWindow.objects.create(
        site=plant.site, starts_at=T0 - M, ends_at=T0 + 60 * M, reason="inspection"
    )
    evaluate(plant, T0, {1: {"voltage": 14.5}})
    assert Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH).exists()
