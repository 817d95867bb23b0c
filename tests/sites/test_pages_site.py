"""Site dashboard, its live JSON and CSV: content, scoping, time zone, bank state, queries."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sites.status import bank_state
from tests.conftest import make_bank, make_bus, make_gateway
from tests.sites.pages_helpers import batteries_of, put_bank_reading, put_readings

pytestmark = pytest.mark.django_db


@pytest.fixture
def chicago(fleet):
    site = fleet.sites[0]
    site.time_zone = "America/Chicago"
    site.save()
    return fleet


def test_live_table_lists_every_battery_with_dcr_percent_and_site_local_time(client, chicago):
    bank = chicago.banks[0]
    ts = dt.datetime(2026, 7, 1, 12, 0, 0, tzinfo=dt.UTC)
    put_readings(batteries_of(bank), ts=ts, dcr=5.0)
    client.force_login(chicago.manager)
    html = client.get(reverse("sites:site", args=["s1"])).content.decode()
    assert html.count('<tr data-id="') == 3
    assert "125.0" in html  # DCR % of the 4.000 mOhm baseline
    assert "2026-07-01 07:00:00 CDT" in html


def test_json_endpoint_has_banks_batteries_and_local_times(client, chicago):
    bank = chicago.banks[0]
    put_readings(batteries_of(bank), ts=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    put_bank_reading(bank, -30.0)
    client.force_login(chicago.viewer)
    data = client.get(reverse("sites:site-live-json", args=["s1"])).json()
    assert data["time_zone"] == "America/Chicago"
    assert [b["position"] for b in data["batteries"]] == [1, 2, 3]
    assert data["batteries"][0]["ts_local"] == "2026-01-01 21:04:05 CST"
    assert data["batteries"][0]["level"] == "offline"  # that reading is long past
    assert data["banks"][0]["state"] == "discharging"


@pytest.mark.parametrize(
    ("who", "slug", "status"), [("viewer", "s2", 404), ("outsider", "s1", 404)]
)
def test_json_and_csv_of_another_site_are_404(client, fleet, who, slug, status):
    client.force_login(getattr(fleet, who))
    assert client.get(reverse("sites:site-live-json", args=[slug])).status_code == status
    assert client.get(reverse("sites:site-live-csv", args=[slug])).status_code == status


def test_anonymous_json_request_is_sent_to_login(client, fleet):
    response = client.get(reverse("sites:site-live-json", args=["s1"]))
    assert response.status_code == 302


def test_csv_download_has_header_and_one_row_per_battery(client, chicago):
    put_readings(batteries_of(chicago.banks[0]), ts=dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC))
    client.force_login(chicago.manager)
    response = client.get(reverse("sites:site-live-csv", args=["s1"]))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["Bank", "Position", "Voltage (V)", "Temperature (C)"]
    assert len(rows) == 4
    assert rows[1][9] == "2026-07-01 07:00:00 CDT"
    assert rows[1][10] == "2026-07-01T12:00:00Z"


@pytest.mark.parametrize(
    ("current", "state"),
    [(0.2, "floating"), (-0.3, "floating"), (5.0, "charging"), (-12.0, "discharging")],
)
def test_bank_state_follows_the_sign_and_size_of_the_current(current, state):
    assert bank_state(current, 100) == state


def test_bank_cards_show_string_values_and_state(client, fleet):
    put_bank_reading(fleet.banks[0], 8.0)
    client.force_login(fleet.manager)
    html = client.get(reverse("sites:site", args=["s1"])).content.decode()
    assert "54.2" in html and "charging" in html


def _site_queries(client, user) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("sites:site", args=["s1"])).status_code == 200
    return len(ctx.captured_queries)


def test_site_page_queries_do_not_grow_with_batteries(client, fleet):
    client.force_login(fleet.manager)
    few = _site_queries(client, fleet.manager)
    for _ in range(4):
        bus = make_bus(make_gateway(fleet.sites[0])[0])
        make_bank(fleet.sites[0], bus=bus, batteries=10)
    assert _site_queries(client, fleet.manager) == few
