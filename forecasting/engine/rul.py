"""Remaining useful life: where a forecast path first crosses an end-of-life threshold.

An end-of-life rule is relative to the series' early baseline (``rel>=1.5``: DCR 150 % of baseline,
the replacement trigger; ``rel>=1.2`` the warning; ``rel<=0.8`` for capacity) or absolute
(``abs<=1.4``, in the parameter's units). The RUL median is the first horizon where the q50 path
crosses; for a rising parameter the q90 path crosses first (early bound) and the q10 path last
(late bound), the other way round for a falling one. Crossings are interpolated linearly between
grid horizons (and from the current level at horizon 0), so a weekly grid is precise to a day.
No crossing inside the grid: "beyond horizon" (NaN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .model import Forecast

_RULE = re.compile(r"^\s*(rel|abs)\s*(>=|<=)\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class EolRule:
    kind: str  # "rel" (times the early baseline) or "abs" (parameter units)
    op: str  # ">=" (rising parameter, e.g. DCR) or "<=" (falling, e.g. capacity)
    value: float

    @classmethod
    def parse(cls, text: str) -> EolRule:
        match = _RULE.match(text or "")
        if not match:
            raise ValueError(
                f"invalid end-of-life rule {text!r}: expected rel>=X, rel<=X, abs>=X or abs<=X "
                "(e.g. rel>=1.2 for 120 % of the early baseline, abs<=1.4 for 1.4 units)"
            )
        kind, op, value = match.group(1), match.group(2), float(match.group(3))
        if kind == "rel" and value <= 0:
            raise ValueError(f"invalid end-of-life rule {text!r}: a relative threshold must be > 0")
        return cls(kind, op, value)

    @property
    def rising(self) -> bool:
        return self.op == ">="

    def threshold(self, baseline: np.ndarray | float) -> np.ndarray:
        """The threshold in the parameter's own units for series with these baselines."""
        base = np.asarray(baseline, dtype=float)
        return base * self.value if self.kind == "rel" else np.full(base.shape, self.value)

    def crossed(self, values: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
        return values >= threshold if self.rising else values <= threshold

    def __str__(self) -> str:
        return f"{self.kind}{self.op}{self.value:g}"


def first_crossing(
    paths: np.ndarray, horizons: np.ndarray, threshold: np.ndarray, rising: bool, start: np.ndarray
) -> np.ndarray:
    """First horizon (interpolated) where each row of ``paths`` (n, H) crosses; NaN: never.

    ``start`` is the level at horizon 0: a series already past the threshold has RUL 0.
    """
    thr = np.asarray(threshold, dtype=float)[:, None]
    full = np.column_stack([start, paths])
    h = np.concatenate([[0.0], np.asarray(horizons, dtype=float)])
    hit = full >= thr if rising else full <= thr
    any_hit = hit.any(axis=1)
    j = np.argmax(hit, axis=1)
    rows = np.arange(len(full))
    out = np.full(len(full), np.nan)
    at_start = any_hit & (j == 0)
    out[at_start] = 0.0
    mid = any_hit & (j > 0)
    r, k = rows[mid], j[mid]
    y0, y1 = full[r, k - 1], full[r, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(y1 != y0, (thr[r, 0] - y0) / (y1 - y0), 1.0)
    out[mid] = h[k - 1] + np.clip(frac, 0, 1) * (h[k] - h[k - 1])
    return out


@dataclass
class RulEstimate:
    """RUL in days per series; NaN means "beyond horizon" (no crossing inside the forecast)."""

    series_ids: np.ndarray
    origin_day: np.ndarray
    rul: np.ndarray  # median path crossing
    early: np.ndarray  # interval bound reached first
    late: np.ndarray  # interval bound reached last
    horizon: int  # longest horizon searched

    @property
    def beyond_horizon(self) -> np.ndarray:
        return ~np.isfinite(self.rul)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "series_id": self.series_ids,
                "origin_day": self.origin_day,
                "rul_days": self.rul,
                "rul_early": self.early,
                "rul_late": self.late,
                "beyond_horizon": self.beyond_horizon,
                "crossing_day": self.origin_day + self.rul,
            }
        )


def estimate_rul(forecast: Forecast, rule: EolRule) -> RulEstimate:
    """RUL median and interval of every series of a forecast."""
    thr = rule.threshold(forecast.baseline)
    start = forecast.level

    def cross(path: np.ndarray) -> np.ndarray:
        return first_crossing(path, forecast.horizons, thr, rule.rising, start)

    mid = cross(forecast.q50)
    hi, lo = cross(forecast.q90), cross(forecast.q10)
    early, late = (hi, lo) if rule.rising else (lo, hi)
    return RulEstimate(
        forecast.series_ids, forecast.origin_day, mid, early, late, int(forecast.horizons.max())
    )


def true_rul(
    values: np.ndarray, origin: int, threshold: float, rising: bool, smooth_days: int
) -> float | None:
    """Observed RUL of one series (values by age) from an origin; for back-tests.

    The observed crossing is the first day after the origin where the centred rolling median of
    ``smooth_days`` days crosses (one noisy reading is not end of life). Returns NaN when the
    series never crosses after the origin, None when it had already crossed at the origin.
    """
    smooth = pd.Series(values).rolling(smooth_days, center=True, min_periods=1).median().to_numpy()
    hit = smooth >= threshold if rising else smooth <= threshold
    if hit[origin]:
        return None
    after = np.flatnonzero(hit[origin + 1 :])
    return float(after[0] + 1) if len(after) else float("nan")
