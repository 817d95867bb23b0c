"""A Celery worker is killed (SIGKILL, parent and child) in the middle of an alarm evaluation: the
task, acknowledged late, goes to the next worker and raises the alarm once, announced once.

Real parts: a private redis-server as broker, ``celery -A bms_portal worker`` processes on the test
database, a loopback SMTP server. The evaluation is caught mid-task by a real lock: the test holds
``LOCK TABLE alarms_alarm IN SHARE ROW EXCLUSIVE MODE`` (reads go on, inserts wait), so the
worker's transaction is open, waiting on its INSERT of the alarm, when it is killed. The killed
transaction never commits; Redis hands the unacknowledged message to a new worker once
``CELERY_VISIBILITY_TIMEOUT_S`` has passed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery import Celery
from django.utils import timezone

from alarms.choices import AlarmState, RuleKind
from alarms.models import Alarm, Notification
from tests.acquisition.conftest import database_url
from tests.acquisition.e2e_helpers import tail, wait_for
from tests.alarms.conftest import make_alarm_site, payload, store, subscribe
from tests.resilience.helpers import celery_worker, kill_session

VISIBILITY_S = 4


def _blocked_on_alarm_insert(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query ILIKE %s",
        ["%INSERT INTO%alarms_alarm%"],
    ).fetchone()
    return bool(row and row[0])


def _backends_of(conn: psycopg.Connection[Any], application: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state <> 'idle' AND pid <> pg_backend_pid() AND query ILIKE %s",
        [application],
    ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.slow
def test_an_evaluation_killed_with_its_worker_is_rerun_once_by_the_next_worker(
    transactional_db: Any, tmp_path: Path, private_redis: Any, smtp_server: Any
) -> None:
    plant = make_alarm_site()
    subscribe(plant.site, "oncall@example.test")
    now = timezone.now()
    store(plant, now, {2: {"voltage": 14.5}})  # above the VRLA float limit: critical at once
    env = {
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": private_redis.url,
        "REDIS_URL": "",
        "CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
        "ALARMS_DEBOUNCE_S": "0",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "LOG_LEVEL": "INFO",
    }
    first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"
    with psycopg.connect(database_url(), autocommit=True) as watcher:
        locker = psycopg.connect(database_url())
        try:
            locker.execute("LOCK TABLE alarms_alarm IN SHARE ROW EXCLUSIVE MODE")
            with celery_worker(first_log, env) as first:
                Celery(broker=private_redis.url).send_task(
                    "alarms.tasks.evaluate_batch", args=[payload(plant, now)], queue="alarms"
                )
                try:
                    wait_for(
                        lambda: _blocked_on_alarm_insert(watcher),
                        60,
                        "the worker waiting on its alarm INSERT",
                    )
                except AssertionError as exc:
                    pytest.fail(f"{exc}\n{tail(first_log)}")
                kill_session(first)
                killed_at = time.monotonic()
        finally:
            locker.rollback()  # the lock goes; the killed worker's transaction must not commit
            locker.close()
        wait_for(
            lambda: (
                not _blocked_on_alarm_insert(watcher)
                and not _backends_of(watcher, "%alarms_alarm%")
            ),
            30,
            "the killed worker's database session gone",
        )
    assert not Alarm.objects.exists(), "the killed evaluation committed nothing"
    assert "alarms.tasks.evaluate_batch" in tail(first_log, 100_000)

    # A worker started before the visibility timeout would not see the message until its next
    # periodic restore (minutes): start one once the timeout has passed, as a restarted host would.
    wait_for(lambda: time.monotonic() > killed_at + VISIBILITY_S + 0.5, VISIBILITY_S + 5, "timeout")
    with celery_worker(second_log, env):
        try:
            alarm = wait_for(
                lambda: Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH).first(),
                60,
                "the alarm raised by the redelivered task",
            )
            wait_for(lambda: smtp_server.inbox.messages, 60, "the alarm e-mail accepted by SMTP")
            # Let the worker finish everything queued (a second run would announce again).
            wait_for(private_redis.idle, 60, "no task queued or running")
        except AssertionError as exc:
            pytest.fail(f"{exc}\n{tail(second_log)}")
    # 14.5 V among blocks at 13.62 V: too high (active at once) and deviating (pending, delayed)
    battery = plant.battery(2).pk
    assert sorted(Alarm.objects.values_list("kind", "battery_id", "state")) == [
        (RuleKind.VOLTAGE_DEVIATION, battery, AlarmState.PENDING),
        (RuleKind.VOLTAGE_HIGH, battery, AlarmState.ACTIVE),
    ], "each alarm raised once"
    assert alarm.kind == RuleKind.VOLTAGE_HIGH
    assert len(smtp_server.inbox.messages) == 1, "announced once"
    assert Notification.objects.filter(site=plant.site).count() == 1
