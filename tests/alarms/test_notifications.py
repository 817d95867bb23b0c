"""E-mail notifications through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.utils import timezone

from alarms import actions
from alarms.choices import AttemptStatus, DeliveryStatus, RuleKind, SubscriptionRole
from alarms.models import Alarm, MaintenanceWindow, Notification
from tests.alarms.conftest import evaluate, subscribe

S = dt.timedelta(seconds=1)
H = dt.timedelta(hours=1)


@pytest.fixture
def t0():
    """Notification tests run on the real clock: the eager flush task reads it."""
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a domain call and the tasks it queues on commit (eager Celery)."""

    def call(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return call


def test_an_alarm_e_mail_names_site_bank_battery_value_threshold_and_a_link(plant, smtp, run, t0):
    subscribe(plant.site, "oncall@example.test")
    run(evaluate, plant, t0, {2: {"voltage": 14.32}})
    (message,) = smtp.inbox.messages
    body = smtp.inbox.bodies()[0]
    battery = plant.battery(2)
    assert message["To"] == "oncall@example.test"
    assert "block voltage high" in message["Subject"]
    assert plant.site.name in body
    assert plant.bank.name in body
    assert f"#2, serial {battery.serial}" in body
    assert "14.32 V" in body
    assert "Threshold: 14.1 V (built-in default (VRLA))" in body
    assert f"https://bms.example.test/batteries/{battery.pk}/" in body
    n = Notification.objects.get()
    assert n.status == DeliveryStatus.SENT
    assert n.attempt_rows.get().status == AttemptStatus.OK


def test_a_burst_of_alarms_at_one_site_becomes_one_message(plant, smtp, run, t0, settings):
    settings.ALARMS_DEBOUNCE_S = 30
    subscribe(plant.site, "oncall@example.test")
    for i, position in enumerate((1, 2, 3)):
        run(evaluate, plant, t0 + i * 5 * S, {p: {"voltage": 14.5} for p in range(1, position + 1)})
    assert smtp.inbox.messages == [], "nothing before the debounce window ends"
    run(actions.notify_due, now=t0 + 31 * S)
    (message,) = smtp.inbox.messages
    assert "3 alarms at" in message["Subject"]
    body = smtp.inbox.bodies()[0]
    assert body.count("block voltage high") == 3
    run(actions.notify_due, now=t0 + 62 * S)
    assert len(smtp.inbox.messages) == 1, "nothing is announced twice"


def test_reminders_repeat_until_the_alarm_is_acknowledged(plant, smtp, run, t0, settings):
    settings.ALARMS_REMINDER_HOURS = 4
    subscribe(plant.site, "oncall@example.test")
    run(evaluate, plant, t0, {1: {"voltage": 14.5}})
    run(actions.notify_due, now=t0 + 3 * H)
    assert len(smtp.inbox.messages) == 1
    # a minute's margin: the first message is stamped with the real clock, a little after t0
    run(actions.notify_due, now=t0 + 4 * H + 60 * S)
    assert len(smtp.inbox.messages) == 2
    assert smtp.inbox.messages[1]["Subject"].startswith("[BMS] Reminder: CRITICAL")
    alarm = Alarm.objects.get(kind=RuleKind.VOLTAGE_HIGH)
    assert actions.acknowledge(alarm, plant_manager(plant), "replacing the charger board")
    run(actions.notify_due, now=t0 + 9 * H)
    run(actions.notify_due, now=t0 + 20 * H)
    assert len(smtp.inbox.messages) == 2, "no reminder after the acknowledgement"


def test_an_unacknowledged_alarm_escalates_to_the_second_contact(plant, smtp, run, t0, settings):
    settings.ALARMS_ESCALATE_AFTER_MIN = 30
    subscribe(plant.site, "oncall@example.test")
    subscribe(plant.site, "boss@example.test", role=SubscriptionRole.ESCALATION)
    run(evaluate, plant, t0, {1: {"voltage": 14.5}})
    assert [m["To"] for m in smtp.inbox.messages] == ["oncall@example.test"]
    run(actions.notify_due, now=t0 + 29 * 60 * S)
    assert len(smtp.inbox.messages) == 1
    run(actions.notify_due, now=t0 + 31 * 60 * S)
    assert smtp.inbox.messages[-1]["To"] == "boss@example.test"
    assert "ESCALATION" in smtp.inbox.messages[-1]["Subject"]
    run(actions.notify_due, now=t0 + 90 * 60 * S)
    assert len(smtp.inbox.messages) == 2, "escalated once"


def test_an_alarm_acknowledged_in_time_does_not_escalate(plant, smtp, run, t0, settings):
    settings.ALARMS_ESCALATE_AFTER_MIN = 30
    subscribe(plant.site, "boss@example.test", role=SubscriptionRole.ESCALATION)
    run(evaluate, plant, t0, {1: {"voltage": 14.5}})
    actions.acknowledge(Alarm.objects.get(kind=RuleKind.VOLTAGE_HIGH), plant_manager(plant))
    run(actions.notify_due, now=t0 + 31 * 60 * S)
    assert smtp.inbox.messages == []


def test_with_the_smtp_server_down_attempts_are_recorded_retried_and_delivered_once_back(
    plant, smtp, run, t0
):
    subscribe(plant.site, "oncall@example.test")
    smtp.stop()
    run(evaluate, plant, t0, {1: {"voltage": 14.5}})
    n = Notification.objects.get()
    assert (n.status, n.attempts) == (DeliveryStatus.RETRY, 1)
    assert "Connection refused" in n.attempt_rows.get().error
    run(actions.notify_due, now=t0 + 10 * S)
    n.refresh_from_db()
    assert n.attempts == 1, "not retried before its backoff"
    run(actions.notify_due, now=t0 + 31 * S)
    n.refresh_from_db()
    assert (n.status, n.attempts) == (DeliveryStatus.RETRY, 2)
    smtp.start()
    run(actions.notify_due, now=t0 + 92 * S)  # 30 s, then 60 s
    n.refresh_from_db()
    assert n.status == DeliveryStatus.SENT
    rows = list(n.attempt_rows.values_list("number", "status"))
    assert rows == [(1, AttemptStatus.ERROR), (2, AttemptStatus.ERROR), (3, AttemptStatus.OK)]
    assert all(r.duration_ms >= 0 for r in n.attempt_rows.all())
    assert len(smtp.inbox.messages) == 1


def test_a_message_that_never_gets_through_is_marked_failed_and_logged(
    plant, smtp, run, t0, settings, caplog
):
    settings.ALARMS_NOTIFY_MAX_ATTEMPTS = 3
    subscribe(plant.site, "oncall@example.test")
    smtp.stop()
    with caplog.at_level(logging.ERROR, logger="alarms.notifications.delivery"):
        run(evaluate, plant, t0, {1: {"voltage": 14.5}})
        for minutes in (1, 3, 10, 60):
            run(actions.notify_due, now=t0 + minutes * 60 * S)
    n = Notification.objects.get()
    assert (n.status, n.attempts) == (DeliveryStatus.FAILED, 3)
    assert n.last_error
    assert "FAILED for good after 3 attempts" in caplog.text


def test_no_message_during_a_maintenance_window_but_one_after_it(plant, smtp, run, t0):
    subscribe(plant.site, "oncall@example.test")
    MaintenanceWindow.objects.create(
        site=plant.site, starts_at=t0 - H, ends_at=t0 + H, reason="battery replacement"
    )
    run(evaluate, plant, t0, {1: {"voltage": 14.5}})
    run(actions.notify_due, now=t0 + 30 * 60 * S)
    assert smtp.inbox.messages == []
    run(actions.notify_due, now=t0 + H + S)
    run(actions.notify_due, now=t0 + H + 2 * S)
    assert len(smtp.inbox.messages) == 1


def test_a_contact_for_critical_alarms_only_is_not_told_about_warnings(plant, smtp, run, t0):
    subscribe(plant.site, "critical@example.test", min_severity="critical")
    run(evaluate, plant, t0, {1: {"voltage": 14.2}})
    assert smtp.inbox.messages == []


def plant_manager(plant):
    from sites.choices import Role
    from tests.conftest import grant, make_user

    user = make_user(f"manager-{plant.site.pk}")
    grant(user, plant.site, Role.MANAGER)
    return user
