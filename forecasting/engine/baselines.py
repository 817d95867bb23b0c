"""Trend-extrapolation baselines for the back-test: what a careful engineer does with a spreadsheet.

Both fit the series' *whole* own history up to the origin (every observed day from age 0 to the
origin, ordinary least squares), then extrapolate:

- ``linear``: value = a + b * age;
- ``exponential``: value = a * exp(b * age), fitted as a straight line on log(value) (values must
  be positive; non-positive ones are ignored).

The whole history, not a recent window, is the choice of the published reference numbers
(data README: NASA linear fit, relative RUL error 0.47 at T=60 and 0.34 at T=80) and is what these
numbers reproduce. Trend fits give no interval, so their coverage is reported as null.
"""

from __future__ import annotations

import numpy as np

BASELINES = ("linear", "exponential")


def trend_path(
    values: np.ndarray, origin: int, horizons: np.ndarray, kind: str
) -> tuple[np.ndarray, float]:
    """Extrapolated values at origin + horizons, and the fitted value at the origin.

    ``values`` are one series' raw values by age in days (NaN where missing).
    """
    x = np.arange(origin + 1, dtype=float)
    y = np.asarray(values[: origin + 1], dtype=float)
    ok = np.isfinite(y)
    if kind == "exponential":
        ok &= y > 0
        y = np.log(np.where(ok, y, 1.0))
    elif kind != "linear":
        raise ValueError(f"unknown baseline {kind!r} (expected one of {', '.join(BASELINES)})")
    if ok.sum() < 2:
        nan = np.full(len(horizons), np.nan)
        return nan, float("nan")
    slope, intercept = np.polyfit(x[ok], y[ok], 1)
    future = intercept + slope * (origin + np.asarray(horizons, dtype=float))
    at_origin = intercept + slope * origin
    if kind == "exponential":
        return np.exp(future), float(np.exp(at_origin))
    return future, float(at_origin)
