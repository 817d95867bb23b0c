"""Replacement plan (HTML, CSV), forecast pages and the scatter app's access checks."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from forecasting import dash_apps
from forecasting.models import ForecastModel, RemainingLife
from sites.reports.content import forecasting_summary
from sites.reports.periods import Period
from tests.conftest import Fleet


def add_life(battery: Any, days: int | None, cause: str = "dry_out") -> RemainingLife:
    model = ForecastModel.objects.get_or_create(
        parameter="dcr", version=1, defaults={"payload": "{}"}
    )[0]
    today = timezone.now().date()
    return RemainingLife.objects.create(
        battery=battery,
        model=model,
        origin=today,
        dcr_pct=140.0 if days is not None else 101.0,
        days=days,
        replace_on=today + dt.timedelta(days=days) if days is not None else None,
        beyond_horizon=days is None,
        cause=cause if days is not None else "none",
        evidence="DCR +30 % in 90 days",
    )


@pytest.fixture
def planned(fleet: Fleet) -> Fleet:
    """Site 1: batteries due in 30 / 150 / never; site 2: one due in 300 days."""
    b1 = list(fleet.banks[0].batteries.all())
    add_life(b1[0], 30)
    add_life(b1[1], 150, "sulfation")
    add_life(b1[2], None)
    add_life(fleet.banks[1].batteries.first(), 300)
    return fleet


def test_site_plan_lists_batteries_by_window(client: Any, planned: Fleet) -> None:
    client.force_login(planned.viewer)
    response = client.get(reverse("forecasting:site-plan", args=["s1"]))
    assert response.status_code == 200
    groups = dict(response.context["groups"])
    assert [r.life.battery.position for r in groups["3 months"]] == [1]
    assert [r.life.battery.position for r in groups["6 months"]] == [2]
    assert groups["12 months"] == []


def test_plan_csv_is_scoped(client: Any, planned: Fleet) -> None:
    client.force_login(planned.viewer)
    response = client.get(reverse("forecasting:plan"), {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["site"], r["position"], r["window"]) for r in rows] == [
        ("Site 1", "1", "3 months"),
        ("Site 1", "2", "6 months"),
    ]
    client.force_login(planned.manager)
    rows = list(csv.DictReader(io.StringIO(client.get("/forecasts/?format=csv").content.decode())))
    assert {r["site"] for r in rows} == {"Site 1", "Site 2"}


def test_other_sites_are_404(client: Any, planned: Fleet) -> None:
    client.force_login(planned.viewer)
    assert client.get(reverse("forecasting:site-plan", args=["s2"])).status_code == 404
    assert (
        client.get(reverse("forecasting:site-plan", args=["s2"]) + "?format=csv").status_code == 404
    )
    assert client.get(reverse("forecasting:site-scatter", args=["s2"])).status_code == 404
    bank2 = planned.banks[1].pk
    assert client.get(reverse("forecasting:bank-scatter", args=[bank2])).status_code == 404
    assert (
        client.get(reverse("forecasting:bank-scatter", args=[planned.banks[0].pk])).status_code
        == 200
    )


def test_scatter_callback_refuses_another_sites_bank(planned: Fleet) -> None:
    own = dash_apps.update_chart(
        f"/forecasts/banks/{planned.banks[0].pk}/chart/", user=planned.viewer
    )
    assert sorted(t.name for t in own.data) == [
        "dry-out",
        "no deterioration found",
        "sulfation",
    ]  # one trace per cause: three batteries
    other = dash_apps.update_chart(
        f"/forecasts/banks/{planned.banks[1].pk}/chart/", user=planned.viewer
    )
    assert not other.data and other.layout.annotations[0].text == "Not found"
    site = dash_apps.update_chart("/forecasts/sites/s2/chart/", user=planned.viewer)
    assert not site.data
    click = {"points": [{"customdata": planned.banks[1].batteries.first().pk}]}
    path = f"/forecasts/banks/{planned.banks[1].pk}/chart/"
    assert dash_apps.open_battery(click, path, user=planned.viewer) is dash_apps.no_update
    mine = planned.banks[0].batteries.first()
    path = f"/forecasts/banks/{planned.banks[0].pk}/chart/"
    click = {"points": [{"customdata": mine.pk}]}
    assert dash_apps.open_battery(click, path, user=planned.viewer) == mine.get_absolute_url()


def test_battery_page_shows_forecast_section(client: Any, planned: Fleet) -> None:
    client.force_login(planned.viewer)
    battery = planned.banks[0].batteries.first()
    html = client.get(battery.get_absolute_url()).content.decode()
    assert 'id="forecast"' in html and "Dry-out" in html.replace("dry-out", "Dry-out")


def test_report_summary_lists_due_batteries(planned: Fleet) -> None:
    now = timezone.now()
    period = Period("daily", now - dt.timedelta(days=1), now, dt.UTC)
    summary = forecasting_summary([planned.sites[0].pk], period)
    assert summary.available and [r["position"] for r in summary.rows] == [1, 2]
