"""Read API: readings (raw and rollups) and latest values, scoped to the caller's sites."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from acquisition import storage
from acquisition.models import LatestReading
from tests.acquisition.conftest import iso

T0 = dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)


def fill(battery_id: int, n: int = 3, voltages: Sequence[float] | None = None) -> None:
    """Readings 10 minutes apart from T0; voltages 13, 14, 15... unless given."""
    volts = voltages if voltages is not None else [13.0 + i for i in range(n)]
    rows = [
        (battery_id, T0 + dt.timedelta(minutes=10 * i), v, 20.0, 4.321, 13.0, 13.1, 0)
        for i, v in enumerate(volts)
    ]
    storage.ensure_partitions_for([T0.date()])
    storage.store_batch(rows, [])


def readings_url(battery_id: int, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/batteries/{battery_id}/readings/?{query}"


def test_raw_readings_of_a_battery_in_a_range(client: Any, fleet: Any) -> None:
    battery = fleet.banks[0].batteries.first()
    fill(battery.pk)
    client.force_login(fleet.viewer)
    reply = client.get(
        readings_url(
            battery.pk,
            start=iso(T0),
            end=iso(T0 + dt.timedelta(minutes=15)),
            parameters="voltage,dcr",
        )
    )
    assert reply.status_code == 200
    data = reply.json()
    assert data["parameters"] == ["voltage", "dcr"]
    assert [r["voltage"] for r in data["results"]] == [13.0, 14.0]
    assert data["results"][0] == {"ts": "2026-11-21T10:00:00Z", "voltage": 13.0, "dcr": 4.321}


def hourly(client: Any, fleet: Any, battery_id: int, parameters: str) -> Any:
    """Roll up T0's hour and GET it for ``battery_id`` as the fleet's admin."""
    storage.rollup("hour", T0, T0 + dt.timedelta(hours=1))
    client.force_login(fleet.admin)
    end = iso(T0 + dt.timedelta(hours=1))
    url = readings_url(battery_id, start=iso(T0), end=end, interval="hour", parameters=parameters)
    return client.get(url)


def test_hourly_readings_come_from_the_rollups(client: Any, fleet: Any) -> None:
    battery = fleet.banks[0].batteries.first()
    fill(battery.pk)
    (bucket,) = hourly(client, fleet, battery.pk, "voltage").json()["results"]
    assert bucket["n"] == 3
    assert bucket["voltage"] == {"min": 13.0, "avg": 14.0, "max": 15.0}


def test_an_hourly_mean_is_given_with_the_readings_six_digits(client: Any, fleet: Any) -> None:
    battery = fleet.banks[0].batteries.first()
    fill(battery.pk, voltages=[13.001, 13.002, 13.004])
    reply = hourly(client, fleet, battery.pk, "voltage,dcr")
    # the text itself: 13.002333... rounded as a real prints, not 13.00233 or 13.002333333
    assert b'"voltage":{"min":13.001,"avg":13.0023,"max":13.004}' in reply.content
    assert b'"dcr":{"min":4.321,"avg":4.321,"max":4.321}' in reply.content


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"interval": "week"}, "interval:"),
        ({"parameters": "voltage,colour"}, "parameters: unknown colour"),
        ({"start": "yesterday"}, "start:"),
        ({"start": "2026-11-21T10:00:00"}, "start: '2026-11-21T10:00:00' has no UTC offset"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(
    client: Any, fleet: Any, params: dict[str, str], message: str
) -> None:
    battery = fleet.banks[0].batteries.first()
    client.force_login(fleet.manager)
    reply = client.get(readings_url(battery.pk, **params))
    assert reply.status_code == 400
    body = reply.json()
    field, _, text = message.partition(":")
    assert body["error"] == "invalid"
    assert field in body["detail"], body
    assert text.strip() in " ".join(body["detail"][field]), body


def test_a_manager_of_site_1_gets_404_for_a_site_3_battery(client: Any, fleet: Any) -> None:
    foreign = fleet.banks[2].batteries.first()
    client.force_login(fleet.manager)
    assert client.get(readings_url(foreign.pk)).status_code == 404
    assert client.get(f"/api/v1/banks/{fleet.banks[2].pk}/readings/").status_code == 404
    assert client.get(f"/api/v1/latest/?site={fleet.sites[2].pk}").status_code == 404
    assert client.get(f"/api/v1/latest/?bank={fleet.banks[2].pk}").status_code == 404


def test_anonymous_callers_get_no_readings(client: Any, fleet: Any) -> None:
    battery = fleet.banks[0].batteries.first()
    assert client.get(readings_url(battery.pk)).status_code in (401, 403)


def test_latest_values_of_a_site_flag_stale_units(client: Any, fleet: Any) -> None:
    fresh, old, never = fleet.banks[0].batteries.order_by("position")
    now = dt.datetime.now(dt.UTC).replace(microsecond=123_456)  # a time with a fraction
    LatestReading.objects.create(battery=fresh, ts=now, voltage=13.5, status=0, updated=now)
    an_hour_ago = (now - dt.timedelta(hours=1)).replace(microsecond=0)
    LatestReading.objects.create(battery=old, ts=an_hour_ago, voltage=12.9, status=0, updated=now)
    client.force_login(fleet.viewer)
    reply = client.get(f"/api/v1/latest/?site={fleet.sites[0].pk}")
    assert reply.status_code == 200
    (bank,) = reply.json()["banks"]
    by_id = {b["battery"]: b for b in bank["batteries"]}
    assert by_id[fresh.pk]["voltage"] == 13.5
    assert by_id[fresh.pk]["stale"] is False
    assert by_id[old.pk]["stale"] is True
    assert by_id[never.pk] | {"stale": True} == by_id[never.pk]
    assert by_id[never.pk]["ts"] is None
    # times as the rest of the API writes them: UTC with Z, a fraction only when there is one
    assert by_id[fresh.pk]["ts"] == now.strftime("%Y-%m-%dT%H:%M:%S.123456Z")
    assert by_id[old.pk]["ts"] == an_hour_ago.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_latest_needs_exactly_one_of_site_or_bank(client: Any, fleet: Any) -> None:
    client.force_login(fleet.admin)
    reply = client.get("/api/v1/latest/")
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "invalid",
        "detail": {"site": ["give exactly one of site, bank"]},
    }


def test_latest_of_a_site_uses_a_constant_number_of_queries(
    client: Any, fleet: Any, django_assert_max_num_queries: Any
) -> None:
    client.force_login(fleet.admin)
    with django_assert_max_num_queries(6):
        client.get(f"/api/v1/latest/?site={fleet.sites[0].pk}")
