"""Training, prediction and the alarm hook on a small synthetic fleet of daily rollups."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from acquisition.models import DailyRollup
from alarms.forecast import forecasting_rul_days
from forecasting import tasks
from forecasting.models import Forecast, ForecastModel, RemainingLife
from tests.conftest import make_bank, make_site

DAYS = 400
SMALL_ENGINE = {
    "num_boost_round": 25,
    "calibration_boost_round": 15,
    "calibration_folds": 2,
    "max_origins": 6,
    "horizons_per_origin": 10,
    "num_threads": 1,
    "monotone": "increasing",
}


def write_rollups(batteries: list[Any], fast: set[int], seed: int = 0) -> None:
    """DAYS of daily means ending yesterday: slow DCR ageing, a fast rise for ``fast`` ids."""
    rng = np.random.default_rng(seed)
    end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    t = np.arange(DAYS, dtype=float)
    rows = []
    for b in batteries:
        speed = rng.uniform(0.8, 1.2)
        rel = 1 + 0.05 * speed * t / 365
        if b.pk in fast:
            rel = rel + 0.45 * np.clip((t - 250) / 150, 0, None) ** 1.5
        dcr = 4.0 * rel * (1 + rng.normal(0, 0.005, DAYS))
        for i in range(DAYS):
            rows.append(
                DailyRollup(
                    battery_id=b.pk,
                    bucket=end - dt.timedelta(days=DAYS - i),
                    n=24,
                    dcr_avg=dcr[i],
                    voltage_avg=13.5 + rng.normal(0, 0.005),
                    temperature_avg=25 + rng.normal(0, 0.3),
                    emf_avg=12.8 + rng.normal(0, 0.005),
                )
            )
    DailyRollup.objects.bulk_create(rows, batch_size=5000)


@pytest.fixture
def trained_fleet(db: Any, settings: Any) -> dict[str, Any]:
    """Two sites (12 batteries); the first battery of site A rises fast. Trained + predicted."""
    settings.FORECASTING_ENGINE = SMALL_ENGINE
    site_a, site_b = make_site("A", slug="fa"), make_site("B", slug="fb")
    bank_a = make_bank(site_a, batteries=6)
    bank_b = make_bank(site_b, batteries=6)
    batteries = list(bank_a.batteries.all()) + list(bank_b.batteries.all())
    fast = batteries[0]
    write_rollups(batteries, {fast.pk})
    tasks.train.delay()  # eager: trains, then predicts every site
    return {
        "sites": [site_a, site_b],
        "banks": [bank_a, bank_b],
        "fast": fast,
        "batteries": batteries,
    }


def test_training_stores_versioned_models_with_metrics(trained_fleet: dict[str, Any]) -> None:
    dcr = ForecastModel.objects.get(parameter="dcr")
    assert dcr.version == 1
    assert dcr.training_rows > 0 and dcr.training_series == 12
    assert {"fit_mae", "fit_coverage_80", "scales"} <= set(dcr.metrics)
    assert set(ForecastModel.objects.values_list("parameter", flat=True)) == {
        "dcr",
        "voltage",
        "emf",
    }
    tasks.train.delay()
    assert ForecastModel.objects.filter(parameter="dcr").latest().version == 2


def test_predict_site_stores_ordered_quantiles_and_life(trained_fleet: dict[str, Any]) -> None:
    assert Forecast.objects.filter(parameter="dcr").count() == 12
    for fc in Forecast.objects.all():
        q10, q50, q90 = map(np.asarray, (fc.q10, fc.q50, fc.q90))
        assert len(q50) == len(fc.horizons) > 50
        assert (q10 <= q50 + 1e-9).all() and (q50 <= q90 + 1e-9).all()
    assert RemainingLife.objects.count() == 12
    site_a = trained_fleet["sites"][0]
    assert tasks.predict_site.delay(site_a.pk).get() == 6


def test_fast_riser_is_replaced_first_and_diagnosed(trained_fleet: dict[str, Any]) -> None:
    fast = RemainingLife.objects.get(battery=trained_fleet["fast"])
    others = RemainingLife.objects.exclude(battery=trained_fleet["fast"])
    assert fast.replace_on is not None and fast.days is not None
    assert fast.dcr_pct > 130
    for other in others:
        assert other.replace_on is None or other.replace_on > fast.replace_on
    assert fast.warning_on is None or fast.warning_on <= fast.replace_on
    assert fast.cause != "none"
    assert "DCR" in fast.evidence and "forecast drivers" in fast.evidence


def test_alarm_hook_returns_days(trained_fleet: dict[str, Any]) -> None:
    ids = [b.pk for b in trained_fleet["batteries"]]
    days = forecasting_rul_days(ids)
    fast = trained_fleet["fast"].pk
    assert fast in days and days[fast] >= 0
    assert all(isinstance(v, float) for v in days.values())


def test_battery_page_draws_the_forecast_curve(client: Any, trained_fleet: dict[str, Any]) -> None:
    from tests.conftest import make_user

    client.force_login(make_user("boss", superuser=True))
    html = client.get(trained_fleet["fast"].get_absolute_url()).content.decode()
    assert "forecasting/forecast_curve.js" in html
    # one curve per parameter with a model, each with its figure data, DCR first
    ids = re.findall(r'<script id="forecast-curve-data-(\w+)" type="application/json">', html)
    assert ids == ["dcr", "voltage", "emf", "micro_voltage"][: len(ids)] and ids[0] == "dcr"
    assert all(f'data-figure="forecast-curve-data-{p}"' in html for p in ids)
    assert "beyond three years" in html or "Replace by" in html
