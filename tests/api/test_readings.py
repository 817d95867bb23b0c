"""Readings through the API: cursor pages, downsampling, parameter selection, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from acquisition import storage
from tests.acquisition.conftest import iso
from tests.api.conftest import API, token_client

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)


def fill(battery_id: int, n: int, step: dt.timedelta = dt.timedelta(minutes=1)) -> None:
    rows = [
        (battery_id, T0 + i * step, 13.0 + i / 10, 20.0, 4.321, 13.0, None, 0) for i in range(n)
    ]
    storage.ensure_partitions_for([T0.date()])
    storage.store_batch(rows, [])


def fill_bank(bank_id: int, n: int) -> None:
    rows = [(bank_id, T0 + dt.timedelta(minutes=i), 54.0 + i, -1.5, 22.0, 0) for i in range(n)]
    storage.ensure_partitions_for([T0.date()])
    storage.store_batch([], rows)


def _url(kind: str, pk: int) -> str:
    return f"{API}{kind}/{pk}/readings/"


def _range(**more: str) -> dict[str, str]:
    return {"start": iso(T0), "end": iso(T0 + dt.timedelta(hours=1)), **more}


def test_raw_readings_come_in_cursor_pages(fleet):
    battery = fleet.banks[0].batteries.first()
    fill(battery.pk, 5)
    api = token_client(fleet.viewer)
    page = api.get(_url("batteries", battery.pk), _range(page_size="2", parameters="voltage"))
    seen = []
    while True:
        assert page.status_code == 200, page.content
        body = page.json()
        seen += [row["voltage"] for row in body["results"]]
        if body["next"] is None:
            break
        assert "page_size=2" in body["next"]
        page = api.get(body["next"])
    assert seen == [13.0, 13.1, 13.2, 13.3, 13.4]


def test_a_cursor_that_is_not_ours_is_a_400(fleet):
    battery = fleet.banks[0].batteries.first()
    response = token_client(fleet.viewer).get(_url("batteries", battery.pk), {"cursor": "@@"})
    assert response.status_code == 400 and "cursor" in response.json()["detail"]


def test_five_minute_buckets_are_computed_from_raw_readings(fleet):
    battery = fleet.banks[0].batteries.first()
    fill(battery.pk, 10)
    body = (
        token_client(fleet.viewer)
        .get(_url("batteries", battery.pk), _range(interval="5min", parameters="voltage"))
        .json()
    )
    assert [(r["ts"], r["n"]) for r in body["results"]] == [
        ("2026-11-21T10:00:00Z", 5),
        ("2026-11-21T10:05:00Z", 5),
    ]
    assert body["results"][0]["voltage"] == {"min": 13.0, "avg": 13.2, "max": 13.4}
    assert body["next"] is None


def test_daily_readings_come_from_the_rollups(fleet):
    battery = fleet.banks[0].batteries.first()
    fill(battery.pk, 3)
    storage.backfill_rollups(T0.replace(hour=0), T0.replace(hour=0) + dt.timedelta(days=1))
    body = (
        token_client(fleet.viewer)
        .get(_url("batteries", battery.pk), _range(interval="day", parameters="dcr"))
        .json()
    )
    (day,) = body["results"]
    assert day["ts"] == "2026-11-21T00:00:00Z" and day["n"] == 3
    assert day["dcr"] == {"min": 4.321, "avg": 4.321, "max": 4.321}


def test_too_long_a_range_for_five_minute_buckets_is_a_400(fleet):
    battery = fleet.banks[0].batteries.first()
    params = {"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z", "interval": "5min"}
    response = token_client(fleet.viewer).get(_url("batteries", battery.pk), params)
    assert response.status_code == 400 and "start" in response.json()["detail"]


def test_bank_readings_raw_and_hourly(fleet):
    bank = fleet.banks[0]
    fill_bank(bank.pk, 3)
    api = token_client(fleet.viewer)
    raw = api.get(_url("banks", bank.pk), _range(parameters="string_voltage")).json()
    assert [r["string_voltage"] for r in raw["results"]] == [54.0, 55.0, 56.0]
    hourly = api.get(_url("banks", bank.pk), _range(interval="hour", parameters="current")).json()
    assert hourly["results"][0]["current"] == {"min": -1.5, "avg": -1.5, "max": -1.5}


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_by_format_or_accept_with_the_chosen_parameters(fleet):
    battery = fleet.banks[0].batteries.first()
    fill(battery.pk, 3)
    api = token_client(fleet.viewer)
    url = _url("batteries", battery.pk)
    by_format = _csv(api.get(url, _range(format="csv", parameters="voltage,status")))
    by_accept = _csv(api.get(url, _range(parameters="voltage,status"), HTTP_ACCEPT="text/csv"))
    assert by_format == by_accept
    header, *rows = by_format
    assert header == [
        "battery_id",
        "bank_id",
        "position",
        "ts_utc",
        "ts_local",
        "voltage_v",
        "status",
    ]
    assert rows[0][3:] == ["2026-11-21T10:00:00.000Z", "2026-11-21T11:00:00.000+01:00", "13.0", "0"]
    assert len(rows) == 3


def test_csv_of_buckets(fleet):
    battery = fleet.banks[0].batteries.first()
    fill(battery.pk, 10)
    api = token_client(fleet.viewer)
    params = _range(format="csv", interval="5min", parameters="voltage")
    header, *rows = _csv(api.get(_url("batteries", battery.pk), params))
    assert header == [
        "battery_id",
        "ts_utc",
        "ts_local",
        "n",
        "voltage_v_min",
        "voltage_v_avg",
        "voltage_v_max",
    ]
    assert rows[1][3:] == ["5", "13.5", "13.7", "13.9"]


def test_readings_of_a_page_use_a_constant_number_of_queries(fleet, django_assert_max_num_queries):
    battery = fleet.banks[0].batteries.first()
    fill(battery.pk, 50)
    api = token_client(fleet.viewer)
    with django_assert_max_num_queries(7):
        assert api.get(_url("batteries", battery.pk), _range()).status_code == 200
