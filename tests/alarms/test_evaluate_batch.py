"""The evaluate_batch task: constant queries per batch, no duplicates under concurrency."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections

from alarms import actions
from alarms.choices import AlarmState, RuleKind
from alarms.models import Alarm
from alarms.tasks import evaluate_batch
from tests.alarms.conftest import T0, make_alarm_site, payload, store


def _queries(plant, positions, django_assert_max_num_queries) -> int:
    from django.test.utils import CaptureQueriesContext

    store(plant, T0, {p: {"voltage": 14.5} for p in positions})
    with CaptureQueriesContext(connection) as ctx:
        actions.evaluate_batch(payload(plant, T0), now=T0)
    return len(ctx.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_batch(db, django_assert_max_num_queries):
    small = make_alarm_site(batteries=4)
    large = make_alarm_site(batteries=120)
    few = _queries(small, [1], django_assert_max_num_queries)
    many = _queries(large, range(1, 121), django_assert_max_num_queries)
    assert many == few
    assert many <= 14


def test_the_task_evaluates_the_ingest_payload(plant):
    store(plant, T0, {1: {"voltage": 14.5}})
    evaluate_batch.delay(payload(plant, T0))
    assert Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH, state=AlarmState.ACTIVE).exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_evaluating_the_same_batch_raise_one_alarm_and_announce_it_once():
    plant = make_alarm_site()
    store(plant, T0, {p: {"voltage": 14.5} for p in range(1, 5)})
    body = payload(plant, T0)
    barrier = threading.Barrier(4)
    outcomes = []
    errors = []

    def work() -> None:
        try:
            barrier.wait()
            outcomes.append(actions.evaluate_batch(body, now=T0 + dt.timedelta(seconds=1)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH).count() == 4
    raised = [i for o in outcomes for i in o.raised]
    assert sorted(raised) == sorted(set(raised)), "each alarm reported raised by one worker only"
    assert len(raised) == Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH).count()
