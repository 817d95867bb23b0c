"""POST /api/v1/ingest/: storing, retries, per-reading rejections, replies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection

from acquisition.models import (
    DcrMeasurementRequest,
    IngestRejection,
    LatestBankReading,
    LatestReading,
    Reading,
    RejectReason,
)
from sites.choices import BatteryStatus
from sites.models import Gateway
from tests.acquisition.conftest import (
    bank_reading,
    battery_reading,
    body,
    full_scan,
    make_gateway_setup,
    now_ms,
    post,
    scan,
)


def stored(battery_id: int) -> list[Reading]:
    return list(Reading.objects.filter(battery_id=battery_id).order_by("ts"))


def test_ingest_stores_readings_and_updates_latest_values(client: Any, setup: Any) -> None:
    t0 = now_ms() - dt.timedelta(seconds=20)
    t1 = t0 + dt.timedelta(seconds=10)
    first = setup.batteries[0]
    reply = post(
        client,
        setup.token,
        body(
            full_scan(setup, t0),
            scan(t1, [battery_reading(first.pk, voltage=13.6, dcr=4.5)]),
        ),
    )
    assert reply.status_code == 200, reply.content
    data = reply.json()
    assert data["accepted"] == 4 + 1 + 1
    assert data["duplicates"] == 0
    assert data["rejected"] == []
    rows = stored(first.pk)
    assert [r.ts for r in rows] == [t0, t1]
    assert rows[1].voltage == pytest.approx(13.6, abs=1e-5)
    latest = LatestReading.objects.get(battery=first)
    assert latest.ts == t1
    assert latest.dcr == pytest.approx(4.5, abs=1e-5)
    assert LatestReading.objects.get(battery=setup.batteries[1]).ts == t0
    assert LatestBankReading.objects.get(bank=setup.bank).current == pytest.approx(-12.3, abs=1e-5)


def test_latest_values_never_move_back_in_time(client: Any, setup: Any) -> None:
    new, old = now_ms(), now_ms() - dt.timedelta(minutes=5)
    battery = setup.batteries[0]
    post(client, setup.token, body(scan(new, [battery_reading(battery.pk, voltage=13.0)])))
    post(client, setup.token, body(scan(old, [battery_reading(battery.pk, voltage=12.0)])))
    latest = LatestReading.objects.get(battery=battery)
    assert latest.ts == new
    assert latest.voltage == pytest.approx(13.0, abs=1e-5)


def test_a_retried_batch_stores_nothing_twice_and_counts_duplicates(
    client: Any, setup: Any
) -> None:
    payload = body(full_scan(setup, now_ms()))
    assert post(client, setup.token, payload).json()["accepted"] == 5
    again = post(client, setup.token, payload).json()
    assert again["accepted"] == 0
    assert again["duplicates"] == 5
    assert len(stored(setup.batteries[0].pk)) == 1


def test_out_of_range_value_is_rejected_and_the_rest_of_the_reading_kept(
    client: Any, setup: Any
) -> None:
    battery = setup.batteries[0]
    reply = post(
        client, setup.token, body(scan(now_ms(), [battery_reading(battery.pk, voltage=31.2)]))
    )
    data = reply.json()
    assert data["accepted"] == 1
    assert data["rejected"] == [
        {
            "scan": 0,
            "kind": "battery",
            "id": battery.pk,
            "field": "voltage",
            "reason": "voltage 31.2 V outside the H-type measuring range 5.0-16.0 V",
        }
    ]
    (row,) = stored(battery.pk)
    assert row.voltage is None
    assert row.dcr == pytest.approx(4.321, abs=1e-5)


def test_bad_readings_are_rejected_with_reasons_while_good_ones_are_stored(
    client: Any, setup: Any
) -> None:
    other = make_gateway_setup()
    replaced = setup.batteries[3]
    replaced.status = BatteryStatus.REPLACED
    replaced.save()
    good = setup.batteries[0]
    now = now_ms()
    payload = body(
        scan(
            now,
            [
                battery_reading(good.pk),
                battery_reading(999_999),
                battery_reading(other.batteries[0].pk),
                battery_reading(replaced.pk),
            ],
        ),
        scan(now + dt.timedelta(hours=1), [battery_reading(good.pk)]),
        scan(now - dt.timedelta(days=3650), [battery_reading(good.pk)]),
    )
    data = post(client, setup.token, payload).json()
    assert data["accepted"] == 1
    reasons = {(r["scan"], r["kind"], r["id"]): r["reason"] for r in data["rejected"]}
    assert reasons[(0, "battery", 999_999)] == "unknown battery 999999"
    assert reasons[(0, "battery", other.batteries[0].pk)] == (
        f"battery {other.batteries[0].pk} belongs to another gateway"
    )
    assert reasons[(0, "battery", replaced.pk)] == f"battery {replaced.pk} is replaced"
    assert "in the future" in reasons[(1, "scan", None)]
    assert "retention window" in reasons[(2, "scan", None)]
    assert [r.ts for r in stored(good.pk)] == [now]
    assert stored(other.batteries[0].pk) == []
    counts = dict(
        IngestRejection.objects.filter(gateway=setup.gateway).values_list("reason", "count")
    )
    assert counts == {
        RejectReason.UNKNOWN_UNIT: 1,
        RejectReason.OTHER_GATEWAY: 1,
        RejectReason.NOT_IN_SERVICE: 1,
        RejectReason.FUTURE: 1,
        RejectReason.TOO_OLD: 1,
    }


def test_rejections_are_counted_across_requests_and_logged(
    client: Any, setup: Any, caplog: Any
) -> None:
    for i in range(2):
        post(
            client,
            setup.token,
            body(scan(now_ms() + dt.timedelta(seconds=i), [battery_reading(424242)])),
        )
    assert IngestRejection.objects.get(gateway=setup.gateway).count == 2
    assert "unknown_unit=1" in caplog.text


def test_ingest_records_gateway_last_seen_and_agent_state(client: Any, setup: Any) -> None:
    payload = body(full_scan(setup, now_ms()), batch="batch-42")
    payload["agent"]["outbox_depth"] = 17
    post(client, setup.token, payload)
    gateway = Gateway.objects.get(pk=setup.gateway.pk)
    assert gateway.last_seen_at is not None
    assert gateway.agent_state["outbox_depth"] == 17
    assert gateway.agent_state["batch"] == "batch-42"


def test_reply_carries_config_version_and_a_requested_dcr_measurement_once(
    client: Any, setup: Any
) -> None:
    config = client.get("/api/v1/agent/config/", HTTP_AUTHORIZATION=f"Bearer {setup.token}").json()
    DcrMeasurementRequest.objects.create(battery=setup.batteries[1])
    first = post(client, setup.token, body(full_scan(setup, now_ms()))).json()
    assert first["config_version"] == config["config_version"]
    assert first["commands"] == {"relays": [False] * 4, "measure_dcr": [setup.batteries[1].pk]}
    second = post(client, setup.token, body()).json()
    assert second["commands"]["measure_dcr"] == []
    assert DcrMeasurementRequest.objects.get().sent_at is not None


def test_a_gateway_claims_only_the_dcr_requests_of_its_own_batteries(
    client: Any, setup: Any
) -> None:
    other = make_gateway_setup()
    DcrMeasurementRequest.objects.create(battery=other.batteries[0])
    DcrMeasurementRequest.objects.create(battery=setup.batteries[2])
    mine = post(client, setup.token, body()).json()
    assert mine["commands"]["measure_dcr"] == [setup.batteries[2].pk]
    pending = DcrMeasurementRequest.objects.filter(sent_at__isnull=True)
    assert list(pending.values_list("battery_id", flat=True)) == [other.batteries[0].pk]
    theirs = post(client, other.token, body()).json()
    assert theirs["commands"]["measure_dcr"] == [other.batteries[0].pk]
    assert not pending.exists()


def test_an_empty_batch_is_a_heartbeat(client: Any, setup: Any) -> None:
    data = post(client, setup.token, body()).json()
    assert data["accepted"] == 0
    assert Gateway.objects.get(pk=setup.gateway.pk).last_seen_at is not None


def test_ingest_creates_the_partition_of_a_day_that_has_none(client: Any, setup: Any) -> None:
    old = now_ms() - dt.timedelta(days=40)
    name = f"acquisition_reading_p{old:%Y%m%d}"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
    data = post(client, setup.token, body(full_scan(setup, old))).json()
    assert data["accepted"] == 5
    assert [r.ts for r in stored(setup.batteries[0].pk)] == [old]


def test_a_254_reading_scan_uses_the_same_few_queries_as_a_small_one(
    client: Any, db: Any, django_assert_max_num_queries: Any
) -> None:
    from tests.conftest import make_bank, make_bus

    big = make_gateway_setup(batteries=200)
    second = make_bank(big.site, bus=make_bus(big.gateway), batteries=52)
    ids = list(
        Reading._meta.get_field("battery")
        .related_model.objects.filter(bus__gateway=big.gateway)
        .values_list("pk", flat=True)
    )
    banks = [bank_reading(big.bank.pk), bank_reading(second.pk)]
    assert len(ids) + len(banks) == 254
    now = now_ms()
    post(client, big.token, body(scan(now, [battery_reading(i) for i in ids[:3]])))  # warm cache
    with django_assert_max_num_queries(12) as small:
        later = now + dt.timedelta(seconds=10)
        post(client, big.token, body(scan(later, [battery_reading(i) for i in ids[:3]], banks)))
    with django_assert_max_num_queries(12) as large:
        later = now + dt.timedelta(seconds=20)
        reply = post(client, big.token, body(scan(later, [battery_reading(i) for i in ids], banks)))
    assert reply.json()["accepted"] == 254
    assert len(large.captured_queries) == len(small.captured_queries)


def test_a_scan_rewrites_the_latest_rows_in_place(client: Any, db: Any) -> None:
    """Every scan rewrites each unit's latest row: the new version must fit on the old one's
    page (a HOT update, no new primary-key entry), or the live table and its index grow with
    every scan. Migration 0005 keeps half of each page free for that."""
    big = make_gateway_setup(batteries=200)
    now = now_ms()

    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                "WHERE relname = 'acquisition_latestreading'"
            )
            return cursor.fetchone()

    post(client, big.token, body(full_scan(big, now - dt.timedelta(seconds=10))))
    before = updates()
    reply = post(client, big.token, body(full_scan(big, now)))
    assert reply.json()["accepted"] == 201
    updated, hot = (after - was for after, was in zip(updates(), before, strict=True))
    assert updated == 200
    assert hot == updated
