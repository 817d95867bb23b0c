"""The demo flow of the forecasting issue: accelerated ageing -> training -> forecasts on pages.

The demo fleet is seeded, ``simulate_history`` runs the first demo site's simulator scenario over
the year before today (the same physics, units and injected dry-out the live simulator serves),
``forecast --train --predict`` trains the fleet models and forecasts the site, and then: the battery
with the injected dry-out is diagnosed as drying out, every battery has a remaining-life estimate
(so the scatter chart shows every one), and the battery page shows the curves with their interval
and the crossing dates. ``make demo`` runs the same commands with two years of history.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from acquisition.models import DailyRollup, HourlyRollup
from acquisition.simulator.scenario import Scenario
from acquisition.simulator.simulator import Simulator
from forecasting import dash_apps
from forecasting.models import Forecast, ForecastModel, RemainingLife
from sites import demo
from sites.models import Battery
from tests.conftest import make_user

DAYS = 240
ENGINE = {
    "max_rows": 15_000,
    "num_boost_round": 40,
    "calibration_boost_round": 20,
    "calibration_folds": 2,
    "num_threads": 2,
}


@pytest.fixture
def aged_demo(db: Any, settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.FORECASTING_ENGINE = ENGINE
    sites = demo.seed()
    demo.write_runtime_files(sites, tmp_path, "http://127.0.0.1:9")
    first = sites[0].site
    scenario_file = tmp_path / f"sim-{first.slug}.json"
    out = io.StringIO()
    call_command(
        "simulate_history",
        site=first.slug,
        scenario=str(scenario_file),
        days=DAYS,
        step_hours=12,
        stdout=out,
    )
    call_command("forecast", train="always", predict=True, site=[first.slug], stdout=out)
    weak = Battery.objects.in_service().get(bank__site=first, bank__name="String A", position=7)
    return {"site": first, "weak": weak, "scenario": scenario_file, "log": out.getvalue()}


@pytest.mark.django_db(transaction=True)
def test_injected_dry_out_is_diagnosed_and_every_battery_forecast(
    aged_demo: dict[str, Any], client: Any
) -> None:
    site, weak = aged_demo["site"], aged_demo["weak"]
    batteries = list(Battery.objects.in_service().filter(bank__site=site))
    assert "simulated 240 of 240 days" in aged_demo["log"]

    # the injected fault is named, with its evidence in plain words
    life = RemainingLife.objects.get(battery=weak)
    assert life.cause == "dry_out", (life.cause, life.evidence)
    assert "warmer than the bank" in life.evidence and "forecast drivers" in life.evidence
    assert life.dcr_pct > 140
    assert life.replace_on is not None and life.warning_on is not None
    assert life.warning_on <= life.replace_on
    # no battery without a fault is called drying out
    dry = RemainingLife.objects.filter(battery__bank__site=site, cause="dry_out")
    assert list(dry.values_list("battery_id", flat=True)) == [weak.pk]

    # every battery has a remaining life and a DCR forecast whose quantiles never cross
    lives = RemainingLife.objects.filter(battery__in=batteries)
    assert lives.count() == len(batteries)
    for fc in Forecast.objects.filter(battery__in=batteries, parameter="dcr"):
        q10, q50, q90 = (np.array(q) for q in (fc.q10, fc.q50, fc.q90))
        assert (q10 <= q50 + 1e-9).all() and (q50 <= q90 + 1e-9).all()
        assert max(fc.horizons) == 1095
    assert Forecast.objects.filter(battery__in=batteries, parameter="dcr").count() == len(batteries)

    # the simulator's DCR does not move with temperature: the model says so and corrects nothing
    dcr_model = ForecastModel.objects.get(parameter="dcr")
    assert dcr_model.temperature_coefficient is None
    assert dcr_model.metrics["temperature_fit"].startswith("no clear temperature effect")

    # the site's scatter chart has a point for every battery, the weak one coloured dry-out
    figure = dash_apps.figure(site.name, dash_apps.lives_of("site", site))
    points = sum(len(trace.x) for trace in figure.data)
    assert points == len(batteries)
    assert any("dry" in (trace.name or "").lower() for trace in figure.data)

    # the battery page shows the diagnosis, the crossing dates and a curve per parameter
    client.force_login(make_user("boss", superuser=True))
    html = client.get(weak.get_absolute_url()).content.decode()
    assert "<dd>dry-out</dd>" in html
    assert life.replace_on.strftime("%Y-%m-%d") in html
    if life.replace_on <= life.origin:  # the injected dry-out is past the line already
        assert "now: already past +50 %" in html
    assert life.warning_on.strftime("%Y-%m-%d") in html
    for parameter in ("dcr", "voltage", "emf", "micro_voltage"):
        start = html.index(f'<script id="forecast-curve-data-{parameter}"')
        payload = html[html.index(">", start) + 1 : html.index("</script>", start)]
        traces = json.loads(payload)["data"]
        names = [trace["name"] for trace in traces]
        assert names[0] == "history (daily mean)" and "10-90 % interval" in names
        assert len(traces[0]["y"]) == DAYS  # every simulated day on the history line


@pytest.mark.django_db(transaction=True)
def test_history_ends_where_the_live_simulator_begins(aged_demo: dict[str, Any]) -> None:
    """Same units, same calibration, same fault: the live DCR continues the history."""
    weak = aged_demo["weak"]
    scenario = Scenario.from_file(aged_demo["scenario"])
    live = Simulator(scenario).snapshot()["units"][str(weak.bmu_address)]
    last_day = DailyRollup.objects.filter(battery=weak).order_by("-bucket").first()
    assert last_day is not None
    assert last_day.dcr_avg == pytest.approx(live["dcr"], rel=0.05)
    assert last_day.temperature_avg == pytest.approx(live["temperature"], abs=2.5)
    days = DailyRollup.objects.filter(battery=weak).count()
    assert days == DAYS
    assert HourlyRollup.objects.filter(battery=weak).count() == DAYS * 2
    # a second run leaves the history alone; --replace rewrites it
    out = io.StringIO()
    call_command(
        "simulate_history",
        site=aged_demo["site"].slug,
        scenario=str(aged_demo["scenario"]),
        days=DAYS,
        step_hours=12,
        stdout=out,
    )
    assert "nothing written" in out.getvalue()
    assert DailyRollup.objects.filter(battery=weak).count() == DAYS
    # make demo's later starts: the models exist, so nothing is trained again
    versions = set(ForecastModel.objects.values_list("parameter", "version"))
    call_command("forecast", train="missing", stdout=out)
    assert "every parameter has a model: nothing to train" in out.getvalue()
    assert set(ForecastModel.objects.values_list("parameter", "version")) == versions


@pytest.mark.django_db
def test_simulate_history_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no site with slug 'nowhere'"):
        call_command("simulate_history", site="nowhere", scenario=str(tmp_path / "x.json"))
    sites = demo.seed()
    slug = sites[0].site.slug
    with pytest.raises(CommandError, match="--step-hours must divide 24"):
        call_command("simulate_history", site=slug, scenario="x.json", step_hours=5)
    bad = tmp_path / "bad.json"
    bad.write_text('{"banks": []}')
    with pytest.raises(CommandError, match="--scenario: banks: must be a non-empty list"):
        call_command("simulate_history", site=slug, scenario=str(bad))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"banks": [{"first_address": 200, "count": 2}]}))
    with pytest.raises(CommandError, match="has a BMU address the scenario serves"):
        call_command("simulate_history", site=slug, scenario=str(other))
    with pytest.raises(CommandError, match="no trained model yet"):
        call_command("forecast", predict=True)
