"""Diagnosis names the cause of each synthetic fault signature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.engine.diagnosis import diagnose

DAYS = 90


def healthy(seed: int = 0) -> pd.DataFrame:
    """A 12 V block on float for 90 days that matches its bank, with measurement noise."""
    rng = np.random.default_rng(seed)
    n = DAYS

    def noisy(level: float, sd: float) -> np.ndarray:
        return level + rng.normal(0, sd, n)

    return pd.DataFrame(
        {
            "voltage": noisy(13.62, 0.005),
            "temperature": noisy(24.0, 0.2),
            "dcr": noisy(4.0, 0.01),
            "micro_v": noisy(12.40, 0.005),
            "emf": noisy(12.85, 0.005),
            "bank_voltage": noisy(13.62, 0.002),
            "bank_temperature": noisy(24.0, 0.1),
            "bank_dcr": noisy(4.0, 0.005),
            "bank_micro_v": noisy(12.40, 0.002),
            "bank_emf": noisy(12.85, 0.002),
            "float_current": noisy(0.5, 0.01),
        }
    )


RAMP = np.linspace(0, 1, DAYS)


def dry_out(df):
    df["dcr"] *= 1 + 0.38 * RAMP
    df["voltage"] *= 1 + 0.015 * RAMP
    df["temperature"] += 1.5 * RAMP + 0.5


def sulfation(df):
    df["dcr"] *= 1 + 0.25 * RAMP
    df["emf"] *= 1 - 0.02 * RAMP
    df["micro_v"] *= 1 - 0.03 * RAMP
    df["voltage"] *= 1 - 0.008 * RAMP


def grid_corrosion(df):
    df["dcr"] *= 1 + 0.12 * RAMP
    df["voltage"] *= 1.004


def thermal_runaway(df):
    df["temperature"] += 15 * RAMP**2
    df["float_current"] *= 1 + 5 * RAMP**2
    df["dcr"] *= 1 + 0.05 * RAMP


def overcharge(df):
    df["voltage"] *= 1.025


def undercharge(df):
    df["voltage"] *= 0.975


def open_cell(df):
    df.loc[DAYS - 10 :, "dcr"] = np.nan
    df.loc[DAYS - 10 :, "voltage"] = 6.0


def shorted_cell(df):
    df.loc[DAYS // 2 :, "voltage"] -= 2.2
    df.loc[DAYS // 2 :, "bank_voltage"] += 2.2 / 39


def connection(df):
    df.loc[DAYS // 2 :, "dcr"] *= 1.3


def erratic_connection(df):
    rng = np.random.default_rng(5)
    df["dcr"] *= 1 + np.abs(rng.normal(0, 0.2, DAYS))


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (dry_out, "dry_out"),
        (sulfation, "sulfation"),
        (grid_corrosion, "grid_corrosion"),
        (thermal_runaway, "thermal_runaway"),
        (overcharge, "overcharge"),
        (undercharge, "undercharge"),
        (open_cell, "open_cell"),
        (shorted_cell, "shorted_cell"),
        (connection, "connection"),
        (erratic_connection, "connection"),
    ],
)
def test_each_signature_is_named(fault, cause):
    df = healthy()
    fault(df)
    result = diagnose(df, nominal_voltage=12)
    assert result.cause == cause, (result.cause, result.scores, result.evidence)
    assert result.evidence and all(isinstance(e, str) for e in result.evidence)


def test_a_healthy_battery_has_no_cause():
    result = diagnose(healthy(), nominal_voltage=12)
    assert result.cause == "none"


def test_dry_out_evidence_reads_as_plain_words():
    df = healthy()
    dry_out(df)
    text = diagnose(df, nominal_voltage=12).evidence[0]
    assert "DCR +" in text and "float voltage changed +" in text and "warmer than the bank" in text


def test_model_contributions_are_added_when_a_model_is_given():
    from forecasting.engine.model import EngineConfig, QuantileForecaster
    from tests.forecasting.helpers import knee_series

    history = knee_series(n=4, days=200)
    config = EngineConfig(
        origin_step=10, horizon_step=10, num_boost_round=20, calibration_folds=0, num_threads=1
    )
    model = QuantileForecaster.fit(history, "value", config)
    df = healthy()
    dry_out(df)
    one = history[history["series_id"] == "b0"]
    result = diagnose(df, nominal_voltage=12, model=model, model_input=one)
    assert len(result.contributions) == 5
    assert result.evidence[-1].startswith("forecast drivers:")


def test_an_aged_block_with_a_calibration_offset_is_not_called_sulfated():
    """Blocks of one string sit +-0.5 % apart (charger sharing, BMU calibration): not a fault."""
    df = healthy()
    grid_corrosion(df)
    df["emf"] *= 0.994
    df["micro_v"] *= 0.994
    df["voltage"] *= 0.995 / 1.004
    result = diagnose(df, dcr_baseline=4.0, nominal_voltage=12)
    assert result.cause == "grid_corrosion", (result.cause, result.scores)
    assert result.evidence[0].startswith("DCR +")
    assert "above its baseline" in result.evidence[0]


def test_sulfation_needs_a_real_drop_below_the_bank():
    df = healthy()
    sulfation(df)
    assert diagnose(df, dcr_baseline=4.0, nominal_voltage=12).cause == "sulfation"
