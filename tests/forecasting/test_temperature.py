"""DCR temperature correction: measured from the data, applied only when the data show it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.engine.temperature import correct, estimate


def fleet(coefficient: float, n: int = 20, days: int = 200, seed: int = 0) -> pd.DataFrame:
    """Daily DCR of ``n`` ageing batteries in rooms with seasons; DCR moves with temperature."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        t = np.arange(days)
        temp = 24 + 5 * np.sin(2 * np.pi * t / 365) + rng.normal(0, 1.0, days)
        true = 4.0 * (1 + 0.1 * t / 365)
        dcr = true * np.exp(coefficient * (temp - 25)) * (1 + rng.normal(0, 0.002, days))
        rows.append(pd.DataFrame({"series_id": i, "day": t, "dcr": dcr, "temperature": temp}))
    return pd.concat(rows, ignore_index=True)


def test_a_real_temperature_effect_is_measured_and_removed() -> None:
    data = fleet(-0.008)
    fit = estimate(data)
    assert fit.coefficient == pytest.approx(-0.008, abs=0.0005)
    assert "%/C" in fit.reason
    corrected = correct(data, fit.coefficient)
    # at 25 C the seasons are gone: what is left follows the ageing trend
    true = 4.0 * (1 + 0.1 * corrected["day"] / 365)
    assert np.abs(corrected["dcr"] / true - 1).max() < 0.01
    assert np.abs(data["dcr"] / true - 1).max() > 0.03


def test_no_effect_means_no_correction() -> None:
    data = fleet(0.0)
    fit = estimate(data)
    assert fit.coefficient is None and "no clear temperature effect" in fit.reason
    assert correct(data, fit.coefficient) is data


def test_too_little_data_is_said() -> None:
    fit = estimate(fleet(-0.008, n=1, days=50))
    assert fit.coefficient is None and fit.reason.startswith("only 49 day pairs")
    assert estimate(fleet(-0.008).drop(columns="temperature")).reason == "no temperature column"
