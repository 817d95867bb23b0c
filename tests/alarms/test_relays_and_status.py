"""Relay states for the ingest reply, and the status roll-up other pages use."""

from __future__ import annotations

import datetime as dt

from alarms.choices import RelayCondition, RuleKind, Status
from alarms.models import Alarm, RelayMapping
from alarms.relays import relay_panel, relay_states
from alarms.status import bank_statuses, battery_statuses, site_statuses, worst
from sites.models import Gateway
from tests.alarms.conftest import T0, evaluate

S = dt.timedelta(seconds=1)


def test_relays_follow_the_default_mapping(plant):
    assert relay_states(plant.gateway) == [False, False, False, False]
    evaluate(plant, T0, {1: {"voltage": 14.2}})  # warning
    assert relay_states(plant.gateway) == [False, True, False, False]
    evaluate(plant, T0 + 10 * S, {1: {"temperature": 35.0}}, {"current": 0.4})  # runaway
    assert relay_states(plant.gateway) == [True, True, False, True]


def test_a_gateway_can_map_its_relays_to_other_conditions(plant):
    RelayMapping.objects.create(
        gateway=plant.gateway,
        relay_1=RelayCondition.NONE,
        relay_2=RelayCondition.NONE,
        relay_3=RelayCondition.NONE,
        relay_4=RelayCondition.ANY_CRITICAL,
    )
    evaluate(plant, T0, {1: {"voltage": 14.5}})
    assert relay_states(plant.gateway) == [False, False, False, True]


def test_relays_release_when_the_alarm_clears(plant):
    evaluate(plant, T0, {1: {"voltage": 14.5}})
    evaluate(plant, T0 + 10 * S, {1: {"voltage": 13.6}})
    assert relay_states(plant.gateway) == [False, False, False, False]


def test_the_relay_panel_shows_asked_and_reported_states(plant):
    Gateway.objects.filter(pk=plant.gateway.pk).update(
        agent_state={"relays": [True, False, False, False]}
    )
    plant.gateway.refresh_from_db()
    rows = relay_panel(plant.gateway)
    assert [(r.number, r.commanded, r.reported) for r in rows] == [
        (1, False, True),
        (2, False, False),
        (3, False, False),
        (4, False, False),
    ]
    assert rows[0].condition == "any critical alarm"


def test_status_rolls_up_from_battery_to_bank_to_site_to_fleet(plant, django_assert_num_queries):
    b1, b2 = plant.battery(1), plant.battery(2)
    evaluate(plant, T0, {1: {"voltage": 14.5}, 2: {"temperature": 36}})
    with django_assert_num_queries(1):
        batteries = battery_statuses([b1.pk, b2.pk, plant.battery(3).pk])
    assert batteries == {b1.pk: Status.ALARM, b2.pk: Status.WARNING, plant.battery(3).pk: Status.OK}
    assert bank_statuses([plant.bank.pk]) == {plant.bank.pk: Status.ALARM}
    with django_assert_num_queries(1):
        sites = site_statuses([plant.site.pk])
    assert sites == {plant.site.pk: Status.ALARM}
    assert worst([Status.OK, Status.WARNING]) == Status.WARNING
    assert worst([]) == Status.OK


def test_acknowledged_alarms_still_count_but_cleared_ones_do_not(plant):
    evaluate(plant, T0, {1: {"voltage": 14.5}})
    Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH).update(state="acknowledged")
    assert site_statuses([plant.site.pk])[plant.site.pk] == Status.ALARM
    evaluate(plant, T0 + 10 * S, {1: {"voltage": 13.6}})
    assert site_statuses([plant.site.pk])[plant.site.pk] == Status.OK
