"""Bank and battery pages with their Dash charts: content, offline assets, callback scoping,
history sources and the 5,000-point cap."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.urls import reverse

from sites.dash_apps import bank_chart, battery_history
from sites.history import MAX_POINTS, battery_series
from sites.models import BatteryReplacement
from tests.sites.pages_helpers import batteries_of, now_s, put_readings

pytestmark = pytest.mark.django_db

FOREIGN_URL = re.compile(r"""https?://(?!127\.0\.0\.1|localhost|testserver)[^\s"'<>]+""")


def _pages(fleet) -> list[str]:
    battery = batteries_of(fleet.banks[0])[0]
    return [
        reverse("sites:fleet"),
        reverse("sites:site", args=["s1"]),
        reverse("sites:bank", args=[fleet.banks[0].pk]),
        reverse("sites:battery", args=[battery.pk]),
    ]


def test_no_page_refers_to_another_host(client, fleet):
    client.force_login(fleet.manager)
    for url in _pages(fleet):
        html = client.get(url).content.decode()
        assert FOREIGN_URL.findall(html) == [], url
        assert "python_version" not in html


def test_bank_and_battery_pages_embed_their_dash_app_in_the_page(client, fleet):
    client.force_login(fleet.manager)
    bank_html = client.get(reverse("sites:bank", args=[fleet.banks[0].pk])).content.decode()
    assert "react-entry-point" in bank_html and "/django_plotly_dash/app/bank_chart/" in bank_html
    assert "<iframe" not in bank_html
    battery = batteries_of(fleet.banks[0])[0]
    html = client.get(reverse("sites:battery", args=[battery.pk])).content.decode()
    assert "/django_plotly_dash/app/battery_history/" in html


def test_breadcrumbs_follow_fleet_site_bank_battery(client, fleet):
    client.force_login(fleet.manager)
    battery = batteries_of(fleet.banks[0])[0]
    html = client.get(reverse("sites:battery", args=[battery.pk])).content.decode()
    crumbs = html[
        html.index('class="breadcrumbs"') : html.index("</nav>", html.index("breadcrumbs"))
    ]
    assert crumbs.index('href="/"') < crumbs.index('href="/sites/s1/"')
    assert crumbs.index('href="/sites/s1/"') < crumbs.index(f'href="/banks/{fleet.banks[0].pk}/"')


def test_battery_page_shows_record_replacements_and_forecast_placeholder(client, fleet):
    old, new = batteries_of(fleet.banks[0])[:2]
    BatteryReplacement.objects.create(
        bank=fleet.banks[0],
        position=new.position,
        removed=old,
        installed=new,
        replaced_on=dt.date(2025, 3, 4),
        reason="DCR 160 %",
    )
    client.force_login(fleet.manager)
    html = client.get(reverse("sites:battery", args=[new.pk])).content.decode()
    assert "2025-03-04" in html and "DCR 160 %" in html
    assert 'id="forecast"' in html
    assert "4.000 mOhm" in html and "2024-01-01" in html


def test_bank_chart_callback_rechecks_access_for_the_requesting_user(fleet):
    put_readings(batteries_of(fleet.banks[0]))
    path = f"/banks/{fleet.banks[0].pk}/"
    own = bank_chart.update_chart(path, "voltage", "scatter", user=fleet.viewer)
    assert len(own.data[0].x) == 3
    other = bank_chart.update_chart(
        f"/banks/{fleet.banks[1].pk}/", "voltage", "scatter", user=fleet.viewer
    )
    assert other.data == () and "not found" in other.layout.annotations[0].text


def test_bank_chart_draws_mean_and_thresholds(fleet):
    batteries = batteries_of(fleet.banks[0])
    put_readings(batteries, **{f"b{batteries[2].pk}": {"dcr": 6.4}})
    fig = bank_chart.update_chart(
        f"/banks/{fleet.banks[0].pk}/", "dcr_pct", "bar", user=fleet.manager
    )
    lines = [s.y0 for s in fig.layout.shapes]
    assert 120.0 in lines and 150.0 in lines
    assert fig.data[0].marker.color[2] == "#c53030"  # the weak block stands out


def test_click_on_a_point_opens_only_a_battery_of_that_visible_bank(fleet):
    battery = batteries_of(fleet.banks[0])[1]
    click = {"points": [{"customdata": battery.pk}]}
    path = f"/banks/{fleet.banks[0].pk}/"
    assert bank_chart.open_battery(click, path, user=fleet.viewer) == f"/batteries/{battery.pk}/"
    other = batteries_of(fleet.banks[1])[0]
    click = {"points": [{"customdata": other.pk}]}
    assert bank_chart.open_battery(click, path, user=fleet.viewer) is bank_chart.no_update


def test_dash_update_endpoint_answers_an_empty_chart_for_another_sites_bank(client, fleet):
    put_readings(batteries_of(fleet.banks[1]))
    client.force_login(fleet.viewer)
    body = {
        "output": "bank-chart.figure",
        "outputs": {"id": "bank-chart", "property": "figure"},
        "inputs": [
            {"id": "page", "property": "pathname", "value": f"/banks/{fleet.banks[1].pk}/"},
            {"id": "parameter", "property": "value", "value": "voltage"},
            {"id": "kind", "property": "value", "value": "scatter"},
        ],
        "changedPropIds": ["page.pathname"],
        "state": [],
    }
    url = "/django_plotly_dash/app/bank_chart/_dash-update-component"
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    figure = response.json()["response"]["bank-chart"]["figure"]
    assert figure["data"] == []
    client.force_login(fleet.manager)
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert len(response.json()["response"]["bank-chart"]["figure"]["data"][0]["x"]) == 3


def test_battery_history_callback_scopes_and_draws_the_series(fleet):
    battery = batteries_of(fleet.banks[0])[0]
    put_readings([battery], ts=now_s() - dt.timedelta(minutes=20))
    put_readings([battery])
    fig, source, comparison = battery_history.update_charts(
        f"/batteries/{battery.pk}/",
        "hour",
        ["voltage", "dcr"],
        ["voltage", "temperature"],
        "twin",
        user=fleet.viewer,
    )
    assert "2 points from raw readings" in source and "Europe/Paris" in source
    assert len(fig.data) == 2 and len(fig.data[0].x) == 2
    assert comparison.data[1].yaxis == "y2"
    other = batteries_of(fleet.banks[1])[0]
    fig, source, _ = battery_history.update_charts(
        f"/batteries/{other.pk}/", "hour", ["voltage"], [], "normalised", user=fleet.viewer
    )
    assert fig.data == () and source == ""


def test_long_ranges_read_rollups_and_no_trace_exceeds_the_cap(fleet):
    battery = batteries_of(fleet.banks[0])[0]
    start = now_s() - dt.timedelta(hours=23)
    for i in range(0, 6000, 600):
        put_readings([battery], ts=start + dt.timedelta(seconds=10 * i))
    from acquisition import storage

    ts = start
    rows = []
    while ts < now_s():
        rows.append((battery.pk, ts, 13.5, 24.0, 4.0, 13.48, 13.53, 0))
        ts += dt.timedelta(seconds=13)
    storage.ensure_partitions_for({r[1].date() for r in rows})
    from django.db import transaction

    with transaction.atomic():
        storage.store_batch(rows, [])
    day = battery_series(battery.pk, "day")
    assert "averages" in day.source and 0 < len(day) <= MAX_POINTS
    storage.rollup("hour", start - dt.timedelta(hours=1), now_s() + dt.timedelta(hours=1))
    storage.rollup("day", start - dt.timedelta(days=1), now_s() + dt.timedelta(days=1))
    assert battery_series(battery.pk, "week").source == "hourly rollups"
    assert 20 <= len(battery_series(battery.pk, "week")) <= 25
    assert battery_series(battery.pk, "year").source == "daily rollups"
    assert battery_series(battery.pk, "all").source == "daily rollups"


def test_battery_page_leads_to_its_effective_thresholds_and_their_sources(client, fleet):
    battery = batteries_of(fleet.banks[0])[0]
    client.force_login(fleet.viewer)
    page = client.get(reverse("sites:battery", args=[battery.pk])).content.decode()
    link = re.search(r'id="thresholds-link" href="([^"]+)"', page).group(1)
    thresholds = client.get(link).content.decode()
    assert "block voltage high" in thresholds
    assert "built-in default (VRLA)" in thresholds


def test_site_page_leads_to_its_alarms_and_dry_contact_states(client, fleet):
    client.force_login(fleet.manager)
    page = client.get(reverse("sites:site", args=["s1"])).content.decode()
    link = re.search(r'id="site-alarms-link" href="([^"]+)"', page).group(1)
    alarms_page = client.get(link).content.decode()
    gateway = fleet.sites[0].gateways.get()
    assert f"Dry contacts of gateway {gateway.name}" in alarms_page
