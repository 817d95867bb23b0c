"""``/metrics``: who may read it, what it says, and a constant number of queries."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from acquisition.models import IngestRejection, RejectReason
from alarms.choices import (
    AlarmState,
    AttemptStatus,
    Channel,
    DeliveryStatus,
    MessageKind,
    RuleKind,
    Scope,
    Severity,
)
from alarms.models import Alarm, Notification, NotificationAttempt
from bms_portal import metrics
from bms_portal.models import WorkerHeartbeat
from tests.acquisition.conftest import body, full_scan, make_gateway_setup, now_ms, post
from tests.conftest import make_gateway, make_site, redis_url

OUTSIDE = "203.0.113.5"


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, f"{series} missing in:\n{text}"
    return float(match.group(1))


@pytest.mark.django_db
def test_refused_from_outside_without_the_token(client: Any) -> None:
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 403


@pytest.mark.django_db
def test_refused_through_a_proxy_even_from_loopback(client: Any) -> None:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDE)
    assert response.status_code == 403


@pytest.mark.django_db
def test_bearer_token_opens_it_from_anywhere(client: Any, settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    wrong = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer nope")
    right = client.get(
        "/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer s3cret-metrics-token"
    )
    assert wrong.status_code == 403
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain; version=0.0.4")


@pytest.mark.django_db
def test_loopback_may_read_it_unless_turned_off(client: Any, settings: Any) -> None:
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    settings.METRICS_ALLOW_LOOPBACK = False
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def _alarm(site: Any, battery: Any, latency_s: float, now: dt.datetime) -> Alarm:
    return Alarm.objects.create(
        kind=RuleKind.VOLTAGE_HIGH,
        scope=Scope.BATTERY,
        object_id=battery.pk,
        site=site,
        bank=battery.bank,
        battery=battery,
        severity=Severity.WARNING,
        state=AlarmState.ACTIVE,
        raised_at=now - dt.timedelta(seconds=latency_s),
        activated_at=now,
    )


def _notification_failure(site: Any, now: dt.datetime) -> None:
    message = Notification.objects.create(
        site=site,
        kind=MessageKind.ALARM,
        channel=Channel.EMAIL,
        target="ops@example.com",
        subject="alarm",
        body="-",
        status=DeliveryStatus.FAILED,
        next_attempt_at=now,
    )
    NotificationAttempt.objects.create(
        notification=message,
        number=1,
        channel=Channel.EMAIL,
        target="ops@example.com",
        status=AttemptStatus.ERROR,
        error="refused",
        duration_ms=12,
        started_at=now,
    )


@pytest.mark.django_db(transaction=True)
def test_the_exposition_reports_the_fleet(client: Any) -> None:
    setup = make_gateway_setup(batteries=4)
    scan_ts = now_ms() - dt.timedelta(seconds=20)
    day = scan_ts.date().isoformat()
    stored = f'bms_ingest_readings_total{{kind="battery",day="{day}"}}'
    banks = f'bms_ingest_readings_total{{kind="bank",day="{day}"}}'
    before = client.get("/metrics").content.decode()  # partitions outlive earlier tests
    stored_before = _value(before, stored) if stored in before else 0
    banks_before = _value(before, banks) if banks in before else 0
    assert post(client, setup.token, body(full_scan(setup, scan_ts))).status_code == 200
    now = timezone.now()
    IngestRejection.objects.create(
        gateway=setup.gateway, reason=RejectReason.OUT_OF_RANGE, count=5, last_at=now
    )
    Alarm.objects.all().delete()  # whatever the ingest's evaluation raised: only ours count
    for latency in (1.0, 2.0, 3.0):
        battery = setup.batteries[int(latency)]
        _alarm(setup.site, battery, latency, now)
    _notification_failure(setup.site, now)
    WorkerHeartbeat.objects.create(queue="alarms", hostname="w1", seen_at=now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")

    deadline = time.monotonic() + 5
    while True:
        text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
        if stored in text and _value(text, stored) > stored_before:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert _value(text, stored) - stored_before == 4
    assert _value(text, banks) - banks_before == 1
    assert _value(text, 'bms_ingest_rejected_total{reason="out_of_range"}') == 5
    assert _value(text, "bms_alarm_latency_seconds_count") == 3
    assert _value(text, 'bms_alarm_latency_seconds{quantile="0.5"}') == pytest.approx(2.0)
    assert _value(text, "bms_alarm_latency_max_seconds") == pytest.approx(3.0)
    assert _value(text, 'bms_notifications{status="failed"}') == 1
    assert _value(text, 'bms_notification_attempts_total{channel="email",status="error"}') == 1
    gw = setup.gateway
    labels = f'{{gateway="{gw.pk}",name="{gw.name}",site="{setup.site.slug}"}}'
    assert 0 <= _value(text, f"bms_agent_last_seen_age_seconds{labels}") < 60
    assert _value(text, f"bms_agent_outbox_depth{labels}") == 0
    assert _value(text, 'bms_worker_heartbeat_age_seconds{queue="alarms"}') < 60
    assert "# TYPE bms_ingest_readings_total counter" in text


@pytest.mark.django_db
def test_the_number_of_queries_does_not_grow_with_the_fleet() -> None:
    site = make_site()
    make_gateway(site)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            metrics.collect()
        return len(queries)

    small = count()
    for _ in range(20):
        make_gateway(make_site())
    assert count() == small <= 7


@pytest.mark.django_db
def test_queue_depths_come_from_the_broker(settings: Any) -> None:
    base = redis_url()
    if base is None:
        pytest.skip("no Redis on 127.0.0.1:6379")
    url = base.rsplit("/", 1)[0] + "/11"
    client = redis.Redis.from_url(url)
    if client.dbsize():
        pytest.skip(f"Redis {url} is not empty; not touching someone else's data")
    settings.CELERY_BROKER_URL = url
    try:
        client.rpush("alarms", "a", "b")
        client.rpush("forecasting\x06\x163", "c")
        client.hset("unacked", "tag", "x")
        text = metrics.collect()
    finally:
        client.delete("alarms", "forecasting\x06\x163", "unacked")
    assert _value(text, "bms_broker_up") == 1
    assert _value(text, 'bms_queue_depth{queue="alarms"}') == 2
    assert _value(text, 'bms_queue_depth{queue="forecasting"}') == 1
    assert _value(text, 'bms_queue_depth{queue="default"}') == 0
    assert _value(text, "bms_queue_unacked") == 1


@pytest.mark.django_db
def test_an_unreachable_broker_is_reported_not_raised(settings: Any) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    assert _value(metrics.collect(), "bms_broker_up") == 0
