"""CSV export: streamed, scoped, with units in the header and UTC plus local times."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from acquisition import storage
from tests.acquisition.conftest import iso

T0 = dt.datetime(2026, 11, 22, 8, tzinfo=dt.UTC)


def fill(battery_id: int, n: int) -> None:
    rows = [
        (battery_id, T0 + dt.timedelta(seconds=10 * i), 13.512, 24.1, 4.321, 13.48, None, 0)
        for i in range(n)
    ]
    storage.ensure_partitions_for([T0.date()])
    storage.store_batch(rows, [])


def export(client: Any, **params: str) -> Any:
    params = {"start": iso(T0), "end": iso(T0 + dt.timedelta(days=1)), **params}
    return client.get("/export/readings.csv", params)


def read_csv(response: Any) -> list[list[str]]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(content)))


def test_csv_export_of_a_bank_is_streamed_with_units_and_local_time(
    client: Any, fleet: Any, monkeypatch: Any
) -> None:
    from acquisition import query

    monkeypatch.setattr(query, "CHUNK_ROWS", 3)
    first, second, _ = fleet.banks[0].batteries.order_by("position")
    fill(first.pk, 7)
    fill(second.pk, 2)
    client.force_login(fleet.viewer)
    response = export(client, bank=str(fleet.banks[0].pk))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    header, *rows = read_csv(response)
    assert header == [
        "battery_id",
        "bank_id",
        "position",
        "ts_utc",
        "ts_local",
        "voltage_v",
        "temperature_c",
        "dcr_mohm",
        "micro_voltage_v",
        "emf_v",
        "status",
    ]
    assert len(rows) == 9
    assert rows[0] == [
        str(first.pk),
        str(fleet.banks[0].pk),
        "1",
        "2026-11-22T08:00:00.000Z",
        "2026-11-22T09:00:00.000+01:00",
        "13.512",
        "24.1",
        "4.321",
        "13.48",
        "",
        "0",
    ]
    assert rows[6][3] == "2026-11-22T08:01:00.000Z"  # past two 3-row chunks, in order
    assert rows[7][0] == str(second.pk)


def test_csv_export_is_scoped_to_the_users_sites(client: Any, fleet: Any) -> None:
    client.force_login(fleet.manager)
    foreign_battery = fleet.banks[2].batteries.first()
    assert export(client, battery=str(foreign_battery.pk)).status_code == 404
    assert export(client, bank=str(fleet.banks[2].pk)).status_code == 404
    assert export(client, site=str(fleet.sites[2].pk)).status_code == 404
    assert export(client, site=str(fleet.sites[1].pk)).status_code == 200


def test_csv_export_bad_parameters_are_a_400_naming_the_parameter(client: Any, fleet: Any) -> None:
    client.force_login(fleet.admin)
    reply = client.get("/export/readings.csv", {"battery": "abc"})
    assert reply.status_code == 400
    assert reply.content.decode().startswith("battery: 'abc' is not an id")
    reply = client.get("/export/readings.csv", {"site": "1", "bank": "2"})
    assert "give exactly one" in reply.content.decode()
    reply = export(client, site=str(fleet.sites[0].pk), end=iso(T0 - dt.timedelta(days=1)))
    assert reply.content.decode() == "start: must be before end"


def test_csv_export_needs_a_signed_in_user(client: Any, fleet: Any) -> None:
    reply = export(client, site=str(fleet.sites[0].pk))
    assert reply.status_code == 302


def test_bank_readings_csv_has_string_columns(client: Any, fleet: Any) -> None:
    client.force_login(fleet.admin)
    reply = client.get("/export/bank-readings.csv", {"bank": fleet.banks[0].pk})
    header = read_csv(reply)[0]
    assert header == [
        "bank_id",
        "ts_utc",
        "ts_local",
        "string_voltage_v",
        "current_a",
        "ambient_c",
        "status",
    ]
