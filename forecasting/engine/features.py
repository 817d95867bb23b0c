"""Features of one parameter's daily history, computed at forecast origins.

The input is a long table of daily aggregates, one row per (series, day): the parameter's value,
optional covariates (``temperature``; ``bank_mean`` or ``bank_id`` for the deviation from the bank)
and optional static attributes (``chemistry``, ``unit_type``, ``position``, ``baseline``).
It is packed into a :class:`Panel` (one row per series, one column per day of age) so that the
features of any set of (series, origin) pairs are computed with vectorised cumulative sums.

Every feature at origin ``o`` uses values of days ``<= o`` only, the series' baseline included:
the baseline is the median of the first ``baseline_days`` days *that exist at the origin*.
Levels are relative to that baseline, so series of different sizes (a 2 V cell at 0.3 mOhm and a
12 V block at 5 mOhm) pool into one model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SLOPE_WINDOWS = (7, 30, 90, 180)
CURVATURE_WINDOWS = (60, 180)
CATEGORICALS = ("chemistry", "unit_type")
STATIC_NUMERIC = ("position",)
DEGREE_DAY_BASE_C = 25.0
_YEAR = 365.0


@dataclass
class Panel:
    """One parameter's daily history of many series as dense arrays (NaN: day missing)."""

    series_ids: np.ndarray  # (n,)
    start_day: np.ndarray  # (n,) int: absolute day number of age 0
    values: np.ndarray  # (n, d) float: raw target values by age in days
    lengths: np.ndarray  # (n,) int: last observed age + 1
    temperature: np.ndarray | None = None  # (n, d)
    bank_mean: np.ndarray | None = None  # (n, d) raw bank mean of the same parameter
    baseline_given: np.ndarray | None = None  # (n,) fixed baseline (NaN: compute from data)
    static: dict[str, np.ndarray] = field(default_factory=dict)  # per-series attributes
    group: np.ndarray | None = None  # (n,) source series of each row (time-warped copies)

    @property
    def n_series(self) -> int:
        return len(self.series_ids)


def to_day_numbers(days: pd.Series) -> np.ndarray:
    """Integer day numbers from ints, dates or timestamps (days since 1970-01-01 for dates)."""
    if pd.api.types.is_integer_dtype(days) or pd.api.types.is_float_dtype(days):
        return days.to_numpy(dtype=np.int64)
    stamps = pd.to_datetime(days)
    return stamps.to_numpy(dtype="datetime64[D]").astype(np.int64)


def build_panel(
    df: pd.DataFrame,
    target: str,
    *,
    series_col: str = "series_id",
    day_col: str = "day",
) -> Panel:
    """Pack a long table into a :class:`Panel`; several rows on one day are averaged."""
    for col in (series_col, day_col, target):
        if col not in df.columns:
            raise KeyError(f"column {col!r} not in the data (columns: {', '.join(df.columns)})")
    frame = df.copy()
    frame["_day"] = to_day_numbers(frame[day_col])
    frame = frame[np.isfinite(frame[target].to_numpy(dtype=float))]
    if "bank_mean" not in frame.columns and "bank_id" in frame.columns:
        frame["bank_mean"] = frame.groupby(["bank_id", "_day"])[target].transform("mean")
    codes, ids = pd.factorize(frame[series_col], sort=True)
    start = frame.groupby(codes)["_day"].min().to_numpy()
    age = frame["_day"].to_numpy() - start[codes]
    n, d = len(ids), int(age.max()) + 1

    def dense(col: str) -> np.ndarray:
        out = np.full((n, d), np.nan)
        # several rows on one day: the last write wins after a mean per (series, day)
        grouped = pd.DataFrame({"s": codes, "a": age, "v": frame[col].to_numpy(dtype=float)})
        grouped = grouped.groupby(["s", "a"], sort=False)["v"].mean()
        out[grouped.index.get_level_values(0), grouped.index.get_level_values(1)] = grouped
        return out

    lengths = np.zeros(n, dtype=np.int64)
    np.maximum.at(lengths, codes, age + 1)
    panel = Panel(np.asarray(ids), start.astype(np.int64), dense(target), lengths)
    if "temperature" in frame.columns:
        panel.temperature = dense("temperature")
    if "bank_mean" in frame.columns:
        panel.bank_mean = dense("bank_mean")
    firsts = frame.groupby(codes).first()
    if "baseline" in frame.columns:
        panel.baseline_given = firsts["baseline"].to_numpy(dtype=float)
    for col in CATEGORICALS:
        if col in frame.columns:
            panel.static[col] = firsts[col].astype(str).to_numpy()
    for col in STATIC_NUMERIC:
        if col in frame.columns:
            panel.static[col] = firsts[col].to_numpy(dtype=float)
    return panel


def _warp(a: np.ndarray, lengths: np.ndarray, factor: float, width: int) -> np.ndarray:
    out = np.full((a.shape[0], width), np.nan)
    for i, row in enumerate(a):
        ok = np.flatnonzero(np.isfinite(row[: lengths[i]]))
        if len(ok) < 2:
            continue
        new_len = round(lengths[i] * factor)
        src = np.arange(new_len) / factor
        out[i, :new_len] = np.interp(src, ok, row[ok], right=np.nan)
    return out


def time_warped(panel: Panel, factors: tuple[float, ...]) -> Panel:
    """The panel plus copies of each series with age stretched by each factor (augmentation).

    A factor 1.25 makes a series age 25 % slower: its knee comes later, its slopes are flatter.
    Each copy keeps its source in ``group``: calibration folds never split a series from its
    copies.
    """
    if not factors:
        return panel
    n = panel.n_series
    width = round(panel.values.shape[1] * max(1.0, *factors)) + 1
    group = panel.group if panel.group is not None else np.arange(n)

    def stack(arr: np.ndarray | None) -> np.ndarray | None:
        if arr is None:
            return None
        base = np.full((n, width), np.nan)
        base[:, : arr.shape[1]] = arr
        return np.vstack([base] + [_warp(arr, panel.lengths, f, width) for f in factors])

    k = len(factors) + 1
    lengths = np.concatenate(
        [panel.lengths] + [np.round(panel.lengths * f).astype(np.int64) for f in factors]
    )
    given = None if panel.baseline_given is None else np.tile(panel.baseline_given, k)
    return Panel(
        np.tile(panel.series_ids, k),
        np.tile(panel.start_day, k),
        stack(panel.values),
        lengths,
        stack(panel.temperature),
        stack(panel.bank_mean),
        given,
        {key: np.tile(v, k) for key, v in panel.static.items()},
        np.tile(group, k),
    )


def _cum(a: np.ndarray) -> np.ndarray:
    """Cumulative sums with a leading zero column, NaN counted as zero."""
    out = np.zeros((a.shape[0], a.shape[1] + 1))
    np.cumsum(np.nan_to_num(a), axis=1, out=out[:, 1:])
    return out


class _WindowSums:
    """Window sums of count, x, x^2, y, xy over a panel array, for least-squares slopes."""

    def __init__(self, y: np.ndarray):
        ok = np.isfinite(y)
        x = np.broadcast_to(np.arange(y.shape[1], dtype=float), y.shape)
        self.c0 = _cum(ok.astype(float))
        self.c1 = _cum(np.where(ok, x, 0.0))
        self.c2 = _cum(np.where(ok, x * x, 0.0))
        self.cy = _cum(np.where(ok, y, 0.0))
        self.cxy = _cum(np.where(ok, x * y, 0.0))
        self.cyy = _cum(np.where(ok, y * y, 0.0))

    def sums(self, s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
        """Sums over ages [lo, hi) of each row s."""
        lo, hi = np.clip(lo, 0, None), np.clip(hi, 0, None)
        return tuple(c[s, hi] - c[s, lo] for c in (self.c0, self.c1, self.c2, self.cy, self.cxy))

    def mean(self, s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        lo, hi = np.clip(lo, 0, None), np.clip(hi, 0, None)
        n = self.c0[s, hi] - self.c0[s, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (self.cy[s, hi] - self.cy[s, lo]) / n, np.nan)

    def slope(self, s: np.ndarray, lo: np.ndarray, hi: np.ndarray, min_n: int = 3) -> np.ndarray:
        n, sx, sxx, sy, sxy = self.sums(s, lo, hi)
        den = n * sxx - sx * sx
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (n * sxy - sx * sy) / den
        return np.where((n >= min_n) & (den > 0), out, np.nan)


def _gather(a: np.ndarray, s: np.ndarray, end: np.ndarray, k: int) -> np.ndarray:
    """Values of ages (end-k, end] for each (row s, end), NaN before age 0."""
    idx = end[:, None] - np.arange(k)[::-1][None, :]
    out = a[s[:, None], np.clip(idx, 0, None)]
    return np.where(idx >= 0, out, np.nan)


def baselines_at(panel: Panel, s: np.ndarray, origin: np.ndarray, baseline_days: int) -> np.ndarray:
    """Each series' early baseline as known at the origin: median of days [0, min(N, o+1))."""
    out = np.full(len(s), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no value yet: NaN baseline
        full = np.nanmedian(panel.values[:, :baseline_days], axis=1)
        late = origin >= baseline_days - 1
        out[late] = full[s[late]]
        for o in np.unique(origin[~late]):
            rows = ~late & (origin == o)
            out[rows] = np.nanmedian(panel.values[s[rows], : o + 1], axis=1)
    if panel.baseline_given is not None:
        given = panel.baseline_given[s]
        out = np.where(np.isfinite(given) & (given > 0), given, out)
    return out


class FeatureBuilder:
    """Computes the feature table of (series, origin) pairs of one panel."""

    def __init__(self, panel: Panel, *, baseline_days: int = 30, level_days: int = 7):
        self.panel = panel
        self.baseline_days = baseline_days
        self.level_days = level_days
        self._y = _WindowSums(panel.values)
        self._dy = _WindowSums(np.diff(panel.values, axis=1, prepend=np.nan))
        if panel.temperature is not None:
            t = panel.temperature
            self._t = _WindowSums(t)
            self._dd = _cum(
                np.clip(np.nan_to_num(t, nan=DEGREE_DAY_BASE_C) - DEGREE_DAY_BASE_C, 0, None)
            )
        if panel.bank_mean is not None:
            self._bank = _WindowSums(panel.bank_mean)

    def level(self, s: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """Robust current level (raw units): median of the last ``level_days`` days."""
        window = _gather(self.panel.values, s, origin, self.level_days)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN window: NaN level
            return np.nanmedian(window, axis=1)

    def build(
        self, s: np.ndarray, origin: np.ndarray
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Features of each (series s, origin age); returns (features, baseline, raw level)."""
        s = np.asarray(s, dtype=np.int64)
        origin = np.asarray(origin, dtype=np.int64)
        hi = origin + 1
        base = baselines_at(self.panel, s, origin, self.baseline_days)
        level = self.level(s, origin)
        f: dict[str, np.ndarray] = {"age": origin.astype(float), "level": level / base}
        f["level_30"] = self._y.mean(s, hi - 30, hi) / base
        for w in SLOPE_WINDOWS:
            f[f"slope_{w}"] = self._y.slope(s, hi - w, hi) * _YEAR / base
        f["slope_all"] = self._y.slope(s, np.zeros_like(hi), hi) * _YEAR / base
        for w in CURVATURE_WINDOWS:
            half = w // 2
            recent = self._y.slope(s, hi - half, hi)
            before = self._y.slope(s, hi - w, hi - half)
            f[f"curv_{w}"] = (recent - before) * _YEAR / base
        n, _, _, sd, _ = self._dy.sums(s, hi - 30, hi)
        sdd = self._dy.cyy[s, hi] - self._dy.cyy[s, np.clip(hi - 30, 0, None)]
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (sdd - sd * sd / n) / (n - 1)
        f["volatility"] = np.sqrt(np.clip(var, 0, None) / 2) / base
        f["volatility"][n < 5] = np.nan
        if self.panel.temperature is not None:
            f["temp_30"] = self._t.mean(s, hi - 30, hi)
            f["temp_all"] = self._t.mean(s, np.zeros_like(hi), hi)
            lo = np.clip(hi - 365, 0, None)
            f["degree_days_365"] = self._dd[s, hi] - self._dd[s, lo]
            f["degree_days_all"] = self._dd[s, hi]
        if self.panel.bank_mean is not None:
            bank = self._bank.mean(s, hi - self.level_days, hi)
            own = self._y.mean(s, hi - self.level_days, hi)
            with np.errstate(invalid="ignore", divide="ignore"):
                f["bank_deviation"] = own / bank - 1.0
        for col, vals in self.panel.static.items():
            f[col] = vals[s]
        return pd.DataFrame(f), base, level
