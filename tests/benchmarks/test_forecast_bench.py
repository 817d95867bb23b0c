"""Forecasting benchmarks: train and predict a 10,000-battery fleet, back-test the real data.

No database and no Django models: the engine is plain numpy/pandas/LightGBM. Training subsamples
origins (``max_origins`` per battery, ``horizons_per_origin``), an engine setting documented in
docs/forecasting.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from forecasting.engine.model import PRODUCTION_HORIZONS, EngineConfig, QuantileForecaster
from forecasting.engine.rul import EolRule, estimate_rul
from forecasting.engine.synthetic import TARGETS, synthetic_fleet
from tests.benchmarks.conftest import bench_line

BATTERIES = 10_000
DAYS = 1095
FLEET_CONFIG = EngineConfig(max_origins=4, horizons_per_origin=8, num_threads=2)
DATA = Path("/work/shared/data/battery-aging")


@pytest.fixture(scope="module")
def fleet():
    return synthetic_fleet(BATTERIES, DAYS, seed=1)


@pytest.fixture(scope="module")
def models(fleet):
    started = time.perf_counter()
    trained = {t: QuantileForecaster.fit(fleet[t], t, FLEET_CONFIG) for t in TARGETS}
    return trained, time.perf_counter() - started


@pytest.mark.benchmark
def test_forecast_train(models):
    trained, seconds = models
    assert set(trained) == set(TARGETS)
    bench_line("forecast_train", batteries=BATTERIES, days=DAYS, seconds=seconds)


@pytest.mark.benchmark
def test_forecast_predict(fleet, models):
    trained, _ = models
    started = time.perf_counter()
    forecasts = {t: trained[t].predict(fleet[t], PRODUCTION_HORIZONS) for t in TARGETS}
    rul = estimate_rul(forecasts["dcr"], EolRule.parse("rel>=1.5"))
    seconds = time.perf_counter() - started
    assert forecasts["dcr"].q50.shape == (BATTERIES, len(PRODUCTION_HORIZONS))
    assert np.all(forecasts["dcr"].q10 <= forecasts["dcr"].q90)
    assert len(rul.rul) == BATTERIES
    bench_line("forecast_predict", batteries=BATTERIES, seconds=seconds)


@pytest.mark.benchmark
@pytest.mark.parametrize(
    ("name", "csv", "target", "eol"),
    [
        ("calce", "calce_cs2.csv", "resistance_ohm", "rel>=1.2"),
        ("nasa", "nasa_pcoe_capacity.csv", "capacity_ah", "abs<=1.4"),
    ],
)
def test_forecast_backtest(name, csv, target, eol):
    from forecasting.engine import backtest

    if not (DATA / csv).exists():
        pytest.skip(f"{DATA / csv} not present")
    df = backtest.load_csv(str(DATA / csv), "cell", "cycle", target)
    report = backtest.run_backtest(df, EolRule.parse(eol))
    rel = {m: round(v["rul_rel_error"], 3) for m, v in report["models"].items()}
    bench_line(
        f"forecast_backtest_{name}",
        seconds=report["seconds"],
        coverage_80=round(report["models"]["lightgbm"]["coverage_80"], 3),
        **{f"rul_rel_{m}": v for m, v in rel.items()},
    )
