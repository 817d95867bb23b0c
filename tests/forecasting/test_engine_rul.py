"""Remaining useful life: end-of-life rules and crossings."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.engine.model import Forecast
from forecasting.engine.rul import EolRule, estimate_rul, first_crossing, true_rul


def _forecast(slope: float, spread: float) -> Forecast:
    h = np.arange(7, 1096, 7)
    q50 = 4.0 * (1 + slope * h)[None, :]
    return Forecast(
        np.array(["b1"]),
        np.array([100]),
        h,
        np.array([4.0]),
        np.array([4.0]),
        q50 * (1 - spread),
        q50,
        q50 * (1 + spread),
    )


def test_rul_of_a_known_crossing_is_found_within_a_day():
    # 4.0 * (1 + 0.001 h) reaches 1.5 x baseline (6.0) at h = 500
    est = estimate_rul(_forecast(0.001, 0.05), EolRule.parse("rel>=1.5"))
    assert est.rul[0] == pytest.approx(500, abs=1)
    assert est.early[0] < 500 < est.late[0]
    assert not est.beyond_horizon[0]
    assert est.to_frame()["crossing_day"].iloc[0] == pytest.approx(600, abs=1)


def test_rul_is_beyond_horizon_when_no_crossing():
    est = estimate_rul(_forecast(0.0001, 0.01), EolRule.parse("rel>=1.5"))
    assert est.beyond_horizon[0]
    assert np.isnan(est.rul[0])


def test_absolute_falling_rule():
    h = np.arange(1, 101)
    path = 2.0 - 0.01 * h
    got = first_crossing(path[None, :], h, np.array([1.4]), rising=False, start=np.array([2.0]))
    assert got[0] == pytest.approx(60, abs=0.01)


def test_already_past_threshold_is_zero():
    got = first_crossing(np.ones((1, 3)), np.arange(1, 4), np.array([0.5]), True, np.array([1.0]))
    assert got[0] == 0


@pytest.mark.parametrize("text", ["rel>1.2", "foo", "abs<=", "rel>=-1", ""])
def test_bad_rules_are_rejected(text):
    with pytest.raises(ValueError, match="end-of-life rule"):
        EolRule.parse(text)


def test_observed_rul_ignores_a_single_noisy_day():
    v = np.ones(100)
    v[20] = 9.0  # one spike
    v[60:] = 2.0
    assert true_rul(v, 10, 1.5, True, 9) == 50
    assert true_rul(v, 70, 1.5, True, 9) is None
    assert np.isnan(true_rul(np.ones(50), 10, 1.5, True, 9))
