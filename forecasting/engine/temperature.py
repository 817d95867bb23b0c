"""Temperature correction of DCR, where the data allows it.

A lead-acid block's internal resistance falls as it warms (IEEE 1188 asks for ohmic readings to be
trended at a consistent temperature; vendors quote roughly 0.5-1 % per C). A fleet's daily DCR
means therefore carry the room's seasons on top of the ageing trend, and a forecaster would read
a warm summer as a battery getting better.

We do not assume a coefficient: :func:`estimate` measures it from the data, pooling the day-to-day
changes of every battery (first differences remove each battery's level and its slow ageing
trend), as the least-squares slope of ``d ln(DCR)`` on ``d temperature``. It is used only when the
data allow: enough day pairs with temperature moving, and a slope clearly different from zero
(|t| >= ``MIN_T``). :func:`correct` then expresses each daily DCR at 25 C:
``dcr * exp(-k * (temperature - 25))``. A fleet whose DCR does not move with temperature (the
demo's simulator, or BMUs that already correct internally) gets ``None`` and is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REFERENCE_C = 25.0
MIN_PAIRS = 200  # day pairs with both values and a temperature change
MIN_T = 5.0  # |slope / standard error| needed to call the effect real
MAX_ABS = 0.05  # a coefficient beyond 5 %/C is not a temperature effect: refuse it


@dataclass(frozen=True)
class TemperatureFit:
    coefficient: float | None  # d ln(DCR) / dC; None: not applied
    t_stat: float
    pairs: int
    reason: str  # why it is (not) applied, for the model's metrics and the logs


def estimate(
    frame: pd.DataFrame, *, value: str = "dcr", series_col: str = "series_id", day_col: str = "day"
) -> TemperatureFit:
    """Pooled within-battery slope of ``ln(value)`` on temperature, from consecutive days."""
    if "temperature" not in frame.columns:
        return TemperatureFit(None, 0.0, 0, "no temperature column")
    df = frame[[series_col, day_col, value, "temperature"]].dropna()
    df = df[df[value] > 0].sort_values([series_col, day_col])
    same = (df[series_col].to_numpy()[1:] == df[series_col].to_numpy()[:-1]) & (
        np.diff(df[day_col].to_numpy()) == 1
    )
    d_r = np.diff(np.log(df[value].to_numpy(dtype=float)))[same]
    d_t = np.diff(df["temperature"].to_numpy(dtype=float))[same]
    moving = np.abs(d_t) > 1e-6
    d_r, d_t = d_r[moving], d_t[moving]
    n = len(d_t)
    if n < MIN_PAIRS:
        return TemperatureFit(None, 0.0, n, f"only {n} day pairs with a temperature change")
    sxx = float(np.sum(d_t * d_t))
    k = float(np.sum(d_t * d_r) / sxx)
    resid = d_r - k * d_t
    se = float(np.sqrt(np.sum(resid * resid) / max(n - 1, 1) / sxx))
    t = k / se if se > 0 else float("inf")
    if abs(t) < MIN_T:
        return TemperatureFit(None, t, n, f"no clear temperature effect (t = {t:.1f})")
    if abs(k) > MAX_ABS:
        return TemperatureFit(None, t, n, f"implausible coefficient {k * 100:+.1f} %/C")
    return TemperatureFit(k, t, n, f"{k * 100:+.2f} %/C from {n} day pairs (t = {t:.1f})")


def correct(frame: pd.DataFrame, coefficient: float | None, *, value: str = "dcr") -> pd.DataFrame:
    """``frame`` with ``value`` expressed at 25 C (days without a temperature keep their value)."""
    if not coefficient or "temperature" not in frame.columns:
        return frame
    out = frame.copy()
    delta = (out["temperature"].astype(float) - REFERENCE_C).fillna(0.0)
    out[value] = out[value].astype(float) * np.exp(-coefficient * delta)
    return out


__all__ = ["TemperatureFit", "correct", "estimate"]
