"""Communication loss: a unit the agent reports silent, a unit or gateway not heard for too long."""

from __future__ import annotations

import datetime as dt

from alarms import actions
from alarms.choices import AlarmState, RuleKind, Severity, Status
from alarms.models import Alarm
from alarms.status import bank_statuses, battery_statuses, site_statuses
from sites.models import Gateway
from tests.alarms.conftest import T0, evaluate, payload, store

S = dt.timedelta(seconds=1)


def _seen(plant, at):
    Gateway.objects.filter(pk=plant.gateway.pk).update(last_seen_at=at)


def test_a_unit_reported_silent_for_three_scans_is_an_alarm_until_it_answers_again(plant):
    b2 = plant.battery(2)
    evaluate(plant, T0)
    _seen(plant, T0 + 10 * S)
    actions.evaluate_batch(payload(plant, T0 + 10 * S, silent=[b2.pk]), now=T0 + 10 * S)
    alarm = Alarm.objects.get(kind=RuleKind.COMM_LOST_UNIT, object_id=b2.pk)
    assert alarm.state == AlarmState.PENDING, "one silent scan is not an alarm yet"
    actions.sweep(now=T0 + 41 * S)
    alarm.refresh_from_db()
    assert (alarm.state, alarm.severity) == (AlarmState.ACTIVE, Severity.WARNING)
    assert battery_statuses([b2.pk])[b2.pk] == Status.OFFLINE
    evaluate(plant, T0 + 50 * S)  # heard again
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED


def test_a_unit_silent_once_and_back_within_three_scans_leaves_no_alarm(plant):
    b2 = plant.battery(2)
    evaluate(plant, T0)
    actions.evaluate_batch(payload(plant, T0 + 10 * S, silent=[b2.pk]), now=T0 + 10 * S)
    evaluate(plant, T0 + 20 * S)
    assert not Alarm.objects.filter(kind=RuleKind.COMM_LOST_UNIT).exists()


def test_the_sweep_finds_a_unit_not_heard_for_a_heartbeat_and_n_scans(plant):
    b3 = plant.battery(3)
    store(plant, T0)
    from acquisition.models import LatestReading

    LatestReading.objects.filter(battery=b3).update(ts=T0 - 400 * S)
    _seen(plant, T0)
    actions.sweep(now=T0 + 5 * S)  # 300 s heartbeat + 3 x 10 s scans < 405 s
    alarm = Alarm.objects.get(kind=RuleKind.COMM_LOST_UNIT)
    assert (alarm.object_id, alarm.state) == (b3.pk, AlarmState.ACTIVE)
    assert Alarm.objects.count() == 1
    store(plant, T0 + 10 * S)
    actions.sweep(now=T0 + 11 * S)
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED


def test_a_silent_gateway_is_one_critical_alarm_not_one_per_unit(plant):
    store(plant, T0 - 400 * S)
    _seen(plant, T0 - 400 * S)
    actions.sweep(now=T0)
    alarm = Alarm.objects.get()
    assert (alarm.kind, alarm.severity, alarm.object_id) == (
        RuleKind.COMM_LOST_GATEWAY,
        Severity.CRITICAL,
        plant.gateway.pk,
    )
    assert site_statuses([plant.site.pk])[plant.site.pk] == Status.OFFLINE
    assert bank_statuses([plant.bank.pk])[plant.bank.pk] == Status.OFFLINE
    _seen(plant, T0 + 10 * S)
    evaluate(plant, T0 + 10 * S)  # the gateway talks again
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED
    assert site_statuses([plant.site.pk])[plant.site.pk] == Status.OK


def test_a_gateway_that_never_reported_raises_nothing(plant):
    actions.sweep(now=T0)
    assert not Alarm.objects.exists()


def test_a_silent_cmu_is_a_bank_alarm(plant):
    evaluate(plant, T0)
    actions.evaluate_batch(
        payload(plant, T0 + 10 * S, silent_banks=[plant.bank.pk]), now=T0 + 10 * S
    )
    actions.sweep(now=T0 + 45 * S)
    alarm = Alarm.objects.get(kind=RuleKind.COMM_LOST_CMU)
    assert (alarm.object_id, alarm.state) == (plant.bank.pk, AlarmState.ACTIVE)
