"""The quantile forecaster: non-crossing quantiles, no look-ahead, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.engine.features import FeatureBuilder, build_panel
from forecasting.engine.model import EngineConfig, QuantileForecaster
from tests.forecasting.helpers import knee_series

FAST = EngineConfig(
    origin_step=10,
    horizon_step=10,
    max_horizon=400,
    num_boost_round=40,
    calibration_folds=2,
    num_threads=1,
)


@pytest.fixture(scope="module")
def trained() -> tuple[QuantileForecaster, pd.DataFrame]:
    df = knee_series(n=6, days=400)
    return QuantileForecaster.fit(df, "value", FAST), df


def test_quantiles_never_cross(trained):
    model, df = trained
    fc = model.predict(df, horizons=np.arange(1, 400, 3), origins=np.full(6, 150))
    assert np.all(fc.q10 <= fc.q50)
    assert np.all(fc.q50 <= fc.q90)
    frame = fc.to_frame()
    assert {"series_id", "origin_day", "horizon", "day", "q10", "q50", "q90"} <= set(frame.columns)


def test_median_path_is_monotone_only_when_asked(trained):
    model, df = trained
    model.config.monotone = "increasing"
    try:
        fc = model.predict(df, horizons=np.arange(1, 400, 3))
        assert np.all(np.diff(fc.q50, axis=1) >= 0)
    finally:
        model.config.monotone = None


def test_features_at_an_origin_ignore_later_days():
    df = knee_series(n=3, days=300)
    changed = df.copy()
    later = changed["day"] > 120
    changed.loc[later, "value"] = changed.loc[later, "value"] * 5 + 1
    s, o = np.arange(3), np.full(3, 120)
    a, base_a, lvl_a = FeatureBuilder(build_panel(df, "value")).build(s, o)
    b, base_b, lvl_b = FeatureBuilder(build_panel(changed, "value")).build(s, o)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(base_a, base_b)
    np.testing.assert_array_equal(lvl_a, lvl_b)


def test_early_origin_baseline_uses_only_days_seen():
    df = knee_series(n=2, days=100)
    changed = df.copy()
    changed.loc[changed["day"].between(11, 29), "value"] *= 3  # inside the baseline window
    s, o = np.arange(2), np.full(2, 10)
    _, base_a, _ = FeatureBuilder(build_panel(df, "value")).build(s, o)
    _, base_b, _ = FeatureBuilder(build_panel(changed, "value")).build(s, o)
    np.testing.assert_array_equal(base_a, base_b)


def test_model_round_trips_through_json(trained, tmp_path):
    model, df = trained
    model.save(tmp_path / "m.json")
    again = QuantileForecaster.load(tmp_path / "m.json")
    a = model.predict(df, horizons=[7, 30, 365])
    b = again.predict(df, horizons=[7, 30, 365])
    np.testing.assert_allclose(a.q50, b.q50)
    np.testing.assert_allclose(a.q90, b.q90)


def test_dates_and_covariates_are_accepted():
    df = knee_series(n=4, days=200)
    df["day"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(df["day"], unit="D")
    df["temperature"] = 25.0
    df["chemistry"] = "vrla"
    df["bank_id"] = df["series_id"].map({"b0": 1, "b1": 1, "b2": 2, "b3": 2})
    model = QuantileForecaster.fit(df, "value", FAST)
    assert {"temp_30", "degree_days_all", "bank_deviation", "chemistry"} <= set(model.feature_names)
    fc = model.predict(df, horizons=[7, 14])
    assert np.isfinite(fc.q50).all()
    top = model.contributions(
        model.feature_frame(build_panel(df, "value"), np.array([0]), np.array([150]))[0], 30
    )
    assert len(top[0]) == 5
