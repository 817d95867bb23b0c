"""Threshold inheritance (built-in -> chemistry -> model -> site -> bank -> battery) and delays."""

from __future__ import annotations

import datetime as dt

import pytest

from alarms import actions
from alarms.choices import AlarmState, RuleKind, Severity
from alarms.models import Alarm, Threshold
from alarms.thresholds import effective_thresholds
from sites.choices import Chemistry, UnitType
from tests.alarms.conftest import T0, evaluate, make_alarm_site
from tests.conftest import make_bank, make_battery_model

S = dt.timedelta(seconds=1)


def _row(battery, kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING):
    return next(
        t for t in effective_thresholds(battery) if t.kind == kind and t.severity == severity
    )


def test_built_in_limits_follow_chemistry_and_block_size(plant):
    row = _row(plant.battery(1))
    assert row.limit == pytest.approx(2.35)  # V per cell
    assert row.abs_limit == pytest.approx(14.1)  # six cells
    assert row.source.startswith("built-in")
    nicd = make_battery_model(UnitType.L, chemistry=Chemistry.NICD, nominal_voltage=1.2)
    bank = make_bank(plant.site, bus=plant.bank.bus, batteries=1, model=nicd, cmu_address=None,
                     first_address=50)  # fmt: skip
    assert _row(bank.batteries.get()).abs_limit == pytest.approx(1.50)


def test_each_level_overrides_the_one_below_and_the_page_names_the_source(plant):
    battery = plant.battery(1)
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, chemistry=Chemistry.VRLA, limit=2.33
    )
    assert _row(battery).limit == 2.33
    assert _row(battery).source == "chemistry VRLA"
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, battery_model=battery.model,
        limit=2.32,
    )  # fmt: skip
    assert _row(battery).source.startswith("battery model")
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, site=plant.site, limit=2.31
    )
    assert _row(battery).source == f"site {plant.site.name}"
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, bank=plant.bank, limit=2.30
    )
    assert _row(battery).source == f"bank {plant.bank.name}"
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, battery=battery, limit=2.29
    )
    row = _row(battery)
    assert (row.limit, row.abs_limit, row.source) == (2.29, pytest.approx(13.74), "battery #1")
    assert _row(plant.battery(2)).limit == 2.30, "the battery override is only for battery #1"


def test_a_level_may_change_only_the_delay_and_keep_the_inherited_limit(plant):
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, site=plant.site, delay_s=120
    )
    row = _row(plant.battery(1))
    assert (row.limit, row.delay_s) == (2.35, 120)
    assert row.sources["limit"].startswith("built-in")
    assert row.sources["delay_s"] == f"site {plant.site.name}"


def test_a_disabled_rule_raises_nothing(plant):
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, bank=plant.bank, enabled=False
    )
    assert not _row(plant.battery(1)).enabled
    evaluate(plant, T0, {1: {"voltage": 14.2}})
    assert not Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH).exists()


def test_the_evaluation_uses_the_override_of_the_batterys_own_site(db):
    strict, lax = make_alarm_site(), make_alarm_site()
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, site=strict.site, limit=2.30
    )
    for plant in (strict, lax):
        evaluate(plant, T0, {1: {"voltage": 13.9}})  # 2.317 V/cell
    assert Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH).get().site == strict.site
    alarm = Alarm.objects.get(kind=RuleKind.VOLTAGE_HIGH)
    assert alarm.threshold == pytest.approx(13.8)
    assert alarm.threshold_source == f"site {strict.site.name}"


def test_the_delay_is_honoured_before_an_alarm_becomes_active(plant):
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, site=plant.site, delay_s=60
    )
    evaluate(plant, T0, {1: {"voltage": 14.2}})
    alarm = Alarm.objects.get(kind=RuleKind.VOLTAGE_HIGH)
    assert alarm.state == AlarmState.PENDING
    evaluate(plant, T0 + 30 * S, {1: {"voltage": 14.2}})
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.PENDING
    evaluate(plant, T0 + 61 * S, {1: {"voltage": 14.2}})
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.ACTIVE


def test_a_condition_that_stops_within_its_delay_leaves_no_alarm(plant):
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, site=plant.site, delay_s=60
    )
    evaluate(plant, T0, {1: {"voltage": 14.2}})
    evaluate(plant, T0 + 30 * S, {1: {"voltage": 13.6}})
    assert not Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH).exists()


def test_the_sweep_promotes_a_pending_alarm_when_no_new_reading_arrives(plant):
    """Report by exception: an unchanged value is not sent again, so the sweep ends the delay."""
    Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, site=plant.site, delay_s=60
    )
    evaluate(plant, T0, {1: {"voltage": 14.2}})
    actions.sweep(now=T0 + 30 * S)
    assert Alarm.objects.get(kind=RuleKind.VOLTAGE_HIGH).state == AlarmState.PENDING
    actions.sweep(now=T0 + 61 * S)
    assert Alarm.objects.get(kind=RuleKind.VOLTAGE_HIGH).state == AlarmState.ACTIVE


def test_a_threshold_row_must_name_exactly_one_level(plant):
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    row = Threshold(kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, limit=2.3)
    with pytest.raises(ValidationError):
        row.clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Threshold.objects.create(
            kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, site=plant.site,
            bank=plant.bank, limit=2.3,
        )  # fmt: skip
