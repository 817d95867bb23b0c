"""Fleet overview: scoping, status roll-up, worst battery, search/filter, pages, query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sites.status import site_status_rollup
from tests.conftest import make_bank, make_site
from tests.sites.pages_helpers import batteries_of, put_readings

pytestmark = pytest.mark.django_db


def _fleet_html(client, user, query: str = "") -> str:
    client.force_login(user)
    response = client.get(reverse("sites:fleet") + query)
    assert response.status_code == 200
    return response.content.decode()


def test_site_without_readings_is_offline_and_one_with_fresh_readings_is_ok(client, fleet):
    put_readings(batteries_of(fleet.banks[0]))
    rows = {r.slug: r for r in site_status_rollup([s.pk for s in fleet.sites])}
    assert rows["s1"].status == "ok"
    assert rows["s2"].status == "offline"
    assert rows["s1"].batteries == 3


def test_weak_battery_makes_its_site_alarm_and_is_named_as_worst_with_its_reason(client, fleet):
    weak = batteries_of(fleet.banks[0])[1]
    put_readings(batteries_of(fleet.banks[0]), **{f"b{weak.pk}": {"dcr": 6.4}})  # 160 %
    html = _fleet_html(client, fleet.manager)
    assert f"/batteries/{weak.pk}/" in html
    assert "DCR 160 % of baseline" in html
    row = site_status_rollup([fleet.sites[0].pk])[0]
    assert (row.status, row.worst_battery_id, row.worst_position) == ("alarm", weak.pk, 2)


def test_warning_level_from_dcr_rise_and_silent_unit_raises_alarm(fleet):
    batteries = batteries_of(fleet.banks[0])
    put_readings(batteries, **{f"b{batteries[0].pk}": {"dcr": 5.0}})  # 125 %
    assert site_status_rollup([fleet.sites[0].pk])[0].status == "warning"
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    put_readings(batteries_of(fleet.banks[1])[:1])
    put_readings(batteries_of(fleet.banks[1])[1:], ts=old)
    row = site_status_rollup([fleet.sites[1].pk])[0]
    assert (row.status, row.silent) == ("alarm", 2)


def test_status_filter_and_search_keep_the_users_scope(client, fleet):
    put_readings(batteries_of(fleet.banks[0]))
    html = _fleet_html(client, fleet.manager, "?status=ok")
    assert "/sites/s1/" in html and "/sites/s2/" not in html
    html = _fleet_html(client, fleet.manager, "?status=offline")
    assert "/sites/s2/" in html and "/sites/s1/" not in html and "/sites/s3/" not in html
    html = _fleet_html(client, fleet.viewer, "?q=Site")
    assert "/sites/s1/" in html and "/sites/s2/" not in html


def test_last_data_is_shown_in_the_sites_time_zone(client, fleet):
    ts = dt.datetime(2026, 1, 15, 12, 0, 5, tzinfo=dt.UTC)
    put_readings(batteries_of(fleet.banks[0]), ts=ts)
    html = _fleet_html(client, fleet.manager)
    assert "2026-01-15 13:00:05 CET" in html  # Europe/Paris


def test_fleet_is_paginated_by_fifty(client, fleet):
    for i in range(55):
        make_site(f"Zz site {i:02d}", slug=f"zz-{i:02d}")
    html = _fleet_html(client, fleet.admin, "?page=2")
    assert "page 2 of 2" in html
    assert html.count('href="/sites/') == 8  # 58 sites: 50 on page one


def _fleet_queries(client, user) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("sites:fleet")).status_code == 200
    return len(ctx.captured_queries)


def test_fleet_page_runs_the_same_queries_for_5_and_50_sites(client, fleet):
    for _ in range(2):
        make_bank(make_site(), batteries=2)
    put_readings(batteries_of(fleet.banks[0]))
    few = _fleet_queries(client, fleet.admin)
    for _ in range(45):
        make_bank(make_site(), batteries=2)
    assert _fleet_queries(client, fleet.admin) == few
    assert few <= 6
