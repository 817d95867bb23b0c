"""Redis (the Celery broker, no persistence) restarts: workers and portal reconnect, and an alarm
evaluation whose message Redis forgot still runs, once.

Simulator (TCP, real time) -> agent -> portal (gunicorn) -> private redis-server -> Celery worker
(with beat) -> loopback SMTP. The gateway reports by exception (heartbeat 300 s), so a batch that
is not evaluated is not followed by another one carrying the same values.

1. Redis restarts while the worker idles; a fault on battery A then goes through the restarted
   Redis (portal and worker reconnected): its alarm is raised and announced.
2. The worker is stopped (a deploy, a backlog); a fault on battery B is stored and its evaluation
   queued in Redis; the agent stops so no later batch can stand in for it; Redis restarts and the
   message is gone. The next worker's sweep queues the evaluation again from the database
   (``acquisition.AlarmHandoff``): B's alarm is raised and announced, once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from django.db.models import Count

from acquisition.models import AlarmHandoff, Reading
from alarms.choices import AlarmState, DeliveryStatus, RuleKind, Severity
from alarms.models import Alarm, Notification, Threshold
from tests.acquisition.conftest import database_url
from tests.acquisition.e2e_helpers import (
    SCAN_INTERVAL_S,
    Portal,
    agent,
    make_e2e_site,
    simulator,
    stop_process,
    tail,
    wait_for,
)
from tests.acquisition.simulator_helpers import free_port
from tests.alarms.conftest import subscribe
from tests.alarms.test_e2e_alarm import _http
from tests.resilience.helpers import celery_worker

UNITS = 6
FAULT_A, FAULT_B = 3, 6  # Modbus addresses (batteries at 2..7)


def _high_alarm(battery_id: int) -> Alarm | None:
    return Alarm.objects.filter(
        kind=RuleKind.VOLTAGE_HIGH, battery_id=battery_id, state=AlarmState.ACTIVE
    ).first()


def _announced(alarm: Alarm) -> bool:
    return alarm.notifications.filter(status=DeliveryStatus.SENT).exists()


@pytest.mark.slow
def test_an_evaluation_lost_with_a_redis_restart_is_queued_again_and_runs_once(
    transactional_db: Any, tmp_path: Path, private_redis: Any, smtp_server: Any
) -> None:
    sim_port = free_port()
    site = make_e2e_site(UNITS, heartbeat_s=300, host="127.0.0.1", port=sim_port)
    for severity, per_cell in ((Severity.WARNING, 2.32), (Severity.CRITICAL, 2.34)):
        Threshold.objects.create(
            kind=RuleKind.VOLTAGE_HIGH, severity=severity, site=site.site, limit=per_cell
        )
    subscribe(site.site, "oncall@example.test")
    battery = {b.bmu_address: b for b in site.batteries}
    a, b = battery[FAULT_A].pk, battery[FAULT_B].pk
    broker = {"CELERY_BROKER_URL": private_redis.url, "REDIS_URL": "", "ALARMS_DEBOUNCE_S": "0"}
    worker_env = {
        **broker,
        "DATABASE_URL": database_url(),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "ALARMS_SWEEP_S": "2",
        "ALARMS_HANDOFF_RETRY_S": "3",
    }
    queued = lambda: redis.Redis.from_url(private_redis.url).llen("alarms")  # noqa: E731
    portal = Portal(tmp_path, env=broker)
    with (
        simulator(
            tmp_path, site.scenario, "--tcp", f"127.0.0.1:{sim_port}", time_factor=1.0
        ) as control,
        portal,
        agent(tmp_path, portal.url, site.token) as running_agent,
    ):
        sim = f"http://127.0.0.1:{control}"
        first_log = tmp_path / "worker-1.log"
        logs = lambda: (  # noqa: E731
            f"agent:\n{tail(running_agent.log)}\nportal:\n{tail(portal.log)}\n"
            f"worker:\n{tail(first_log)}"
        )
        try:
            with celery_worker(first_log, worker_env, beat=True) as worker:
                wait_for(
                    lambda: (
                        Reading.objects.filter(battery_id=a).exists()
                        and not AlarmHandoff.objects.exists()
                    ),
                    2 * SCAN_INTERVAL_S + 10,
                    "first upload evaluated",
                )
                # 1. Redis restarts under an idle worker; the next fault goes through it.
                private_redis.stop()
                private_redis.start()
                _http(f"{sim}/fault", {"address": FAULT_A, "kind": "dry_out", "severity": 3.0})
                alarm_a = wait_for(lambda: _high_alarm(a), 2 * SCAN_INTERVAL_S + 30, "alarm A")
                wait_for(lambda: _announced(alarm_a), 30, "alarm A announced")
                assert worker.poll() is None

                # 2. The worker stops; B's evaluation is queued in Redis, and Redis forgets it.
                stop_process(worker, timeout=30)
            _http(f"{sim}/fault", {"address": FAULT_B, "kind": "dry_out", "severity": 3.0})
            handoff = wait_for(
                lambda: AlarmHandoff.objects.filter(payload__batteries__contains=[b]).first(),
                2 * SCAN_INTERVAL_S + 10,
                "B's faulted reading stored, its evaluation owed",
            )
            wait_for(queued, 10, "B's evaluation queued in Redis")
        except AssertionError as exc:
            pytest.fail(f"{exc}\n{logs()}")
        stop_process(running_agent.proc)  # no later batch may evaluate B in place of the lost one
    private_redis.stop()
    private_redis.start()
    assert queued() == 0, "the restarted Redis kept nothing"
    assert _high_alarm(b) is None

    second_log = tmp_path / "worker-2.log"
    with celery_worker(second_log, worker_env, beat=True):
        try:
            alarm_b = wait_for(lambda: _high_alarm(b), 60, "alarm B from the re-queued evaluation")
            wait_for(lambda: _announced(alarm_b), 30, "alarm B announced")
            wait_for(lambda: not AlarmHandoff.objects.exists(), 30, "every evaluation done")
        except AssertionError as exc:
            pytest.fail(f"{exc}\nworker:\n{tail(second_log)}")
    assert "re-queued" in tail(second_log, 1_000_000), "B came back through the sweep"
    assert not AlarmHandoff.objects.filter(pk=handoff.pk).exists()

    per_object = Alarm.objects.values("kind", "battery_id", "bank_id", "gateway_id").annotate(
        n=Count("id")
    )
    assert {row["n"] for row in per_object} == {1}, "each alarm raised once"
    for alarm in (alarm_a, alarm_b):
        assert alarm.notifications.count() == 1, f"{alarm} announced once"
    sent = Notification.objects.filter(status=DeliveryStatus.SENT).count()
    assert len(smtp_server.inbox.messages) == sent, "one e-mail per message, none twice"
    bodies = smtp_server.inbox.bodies()
    for alarm in (alarm_a, alarm_b):
        mentions = [body for body in bodies if f"/batteries/{alarm.battery_id}/" in body]
        assert len(mentions) >= 1
