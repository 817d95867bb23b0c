"""Direct multi-horizon quantile forecaster: one model per parameter, trained across all series.

A training row is (series, origin, horizon): the features of the series at the origin, the horizon
as one more feature, and as target the change of the relative level from the origin's level to the
value ``horizon`` days later. Three LightGBM boosters (quantile objective, alpha 0.1 / 0.5 / 0.9)
share the rows. At prediction the three values are sorted per row (quantiles never cross) and the
interval is widened or narrowed by split-conformal scales fitted on held-out series of the training
data, so that ~80 % of outcomes fall inside [q10, q90].

LightGBM is imported inside the functions that use it: a Celery prefork worker must never have it
loaded in the parent before the fork (it hangs, see docs/forecasting.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .calibration import IntervalScales, conformal_scales, encode, fit_boosters, predict_sorted
from .config import PRODUCTION_HORIZONS, QUANTILES, EngineConfig
from .features import CATEGORICALS, FeatureBuilder, Panel, build_panel, time_warped

__all__ = ["PRODUCTION_HORIZONS", "QUANTILES", "EngineConfig", "Forecast", "QuantileForecaster"]


@dataclass
class TrainingRows:
    X: pd.DataFrame
    y: np.ndarray
    group: np.ndarray  # series index of each row (for calibration folds)
    origin: np.ndarray  # origin age of each row


def make_training_rows(
    panel: Panel, builder: FeatureBuilder, config: EngineConfig, rng: np.random.Generator
) -> TrainingRows:
    """All (series, origin, horizon) rows whose outcome is observed, subsampled per the config."""
    s_list, o_list = [], []
    for i in range(panel.n_series):
        last = int(panel.lengths[i]) - 1
        start = config.min_history + int(rng.integers(config.origin_step))
        origins = np.arange(start, last, config.origin_step)
        if config.max_origins is not None and len(origins) > config.max_origins:
            origins = np.sort(rng.choice(origins, config.max_origins, replace=False))
        s_list.append(np.full(len(origins), i))
        o_list.append(origins)
    s = np.concatenate(s_list) if s_list else np.zeros(0, dtype=np.int64)
    o = np.concatenate(o_list) if o_list else np.zeros(0, dtype=np.int64)
    feats, base, level = builder.build(s, o)
    keep = np.isfinite(base) & np.isfinite(level) & (base != 0)
    feats, base, level, s, o = feats[keep], base[keep], level[keep], s[keep], o[keep]
    horizons = np.arange(1, config.max_horizon + 1, config.horizon_step)
    rows, hs = [], []
    for h in horizons:
        ok = o + h < panel.lengths[s]
        if config.horizons_per_origin is not None:
            # keep each (origin, horizon) with the probability that leaves ~k horizons per origin
            avail = np.minimum((panel.lengths[s] - 1 - o) // config.horizon_step + 1, len(horizons))
            ok &= rng.random(len(o)) < config.horizons_per_origin / np.maximum(avail, 1)
        idx = np.flatnonzero(ok)
        rows.append(idx)
        hs.append(np.full(len(idx), h))
    idx = np.concatenate(rows)
    h = np.concatenate(hs)
    y_raw = panel.values[s[idx], o[idx] + h]
    y = y_raw / base[idx] - level[idx] / base[idx]
    X = with_horizon(feats.iloc[idx].reset_index(drop=True), h)
    X = X.drop(
        columns=[c for c in X.columns if c in config.drop_features or _shape_dropped(c, config)]
    )
    good = np.isfinite(y)
    group = panel.group[s[idx]] if panel.group is not None else s[idx]
    return TrainingRows(X[good].reset_index(drop=True), y[good], group[good], o[idx][good])


TREND_FEATURES = ("slope_30", "slope_90", "slope_all")
SHAPE_PREFIXES = ("level_30", "slope_", "curv_", "volatility", "trend_")


def _shape_dropped(col: str, config: EngineConfig) -> bool:
    if config.feature_set == "full":
        return False
    if config.feature_set != "small":
        raise ValueError(f"feature_set must be 'full' or 'small', not {config.feature_set!r}")
    return col.startswith(SHAPE_PREFIXES)


def with_horizon(X: pd.DataFrame, horizon: np.ndarray) -> pd.DataFrame:
    """Add the horizon and the trend extrapolations to it (slope x horizon).

    Trees cannot multiply; handing them each window's straight-line extrapolation lets a few
    series teach "how much of the trend continues, and how it bends" at every horizon.
    """
    h = np.asarray(horizon, dtype=float)
    X.insert(0, "horizon", h)
    for col in TREND_FEATURES:
        if col in X.columns:
            X[f"trend_{col[6:]}_h"] = X[col].to_numpy() * h / 365.0
    if "curv_180" in X.columns:
        X["curv_180_h2"] = X["curv_180"].to_numpy() * h * h / 365.0 / 90.0
    return X


@dataclass
class Forecast:
    """Forecasts of n series at H horizons, in the parameter's own units (rel = abs / baseline)."""

    series_ids: np.ndarray  # (n,)
    origin_day: np.ndarray  # (n,) absolute day number of the origin
    horizons: np.ndarray  # (H,)
    baseline: np.ndarray  # (n,)
    level: np.ndarray  # (n,) current level at the origin, raw units
    q10: np.ndarray  # (n, H)
    q50: np.ndarray
    q90: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        n, h = self.q50.shape
        return pd.DataFrame(
            {
                "series_id": np.repeat(self.series_ids, h),
                "origin_day": np.repeat(self.origin_day, h),
                "horizon": np.tile(self.horizons, n),
                "day": np.repeat(self.origin_day, h) + np.tile(self.horizons, n),
                "q10": self.q10.ravel(),
                "q50": self.q50.ravel(),
                "q90": self.q90.ravel(),
                "baseline": np.repeat(self.baseline, h),
            }
        )


@dataclass
class QuantileForecaster:
    """One parameter's model. Build with :meth:`fit`; persist with :meth:`save` / :meth:`load`."""

    target: str
    config: EngineConfig
    feature_names: list[str]
    categories: dict[str, list[str]]
    boosters: list[Any]
    scales: IntervalScales = field(default_factory=IntervalScales)
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        data: pd.DataFrame | Panel,
        target: str,
        config: EngineConfig | None = None,
        *,
        series_col: str = "series_id",
        day_col: str = "day",
        scales: IntervalScales | None = None,
    ) -> QuantileForecaster:
        """Train on a long table (or a prepared panel) of daily aggregates of one parameter."""
        config = config or EngineConfig()
        panel = (
            data
            if isinstance(data, Panel)
            else build_panel(data, target, series_col=series_col, day_col=day_col)
        )
        panel = time_warped(panel, config.time_warp)
        config = config.within_budget(panel.n_series)
        builder = FeatureBuilder(
            panel, baseline_days=config.baseline_days, level_days=config.level_days
        )
        rows = make_training_rows(panel, builder, config, np.random.default_rng(config.seed))
        if len(rows.y) == 0:
            raise ValueError("no training rows: the series are shorter than min_history + 1 day")
        categories = {c: sorted(set(rows.X[c].astype(str))) for c in CATEGORICALS if c in rows.X}
        rows.X = encode(rows.X, categories)
        if scales is None:
            scales = (
                conformal_scales(rows, config) if config.calibration_folds else IntervalScales()
            )
        boosters = fit_boosters(rows.X, rows.y, config, config.num_boost_round)
        metrics = {
            "training_rows": len(rows.y),
            "series": panel.n_series,
            "scales": scales.to_dict(),
        }
        return cls(target, config, list(rows.X.columns), categories, boosters, scales, metrics)

    def feature_frame(
        self, panel: Panel, s: np.ndarray, origin: np.ndarray
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        builder = FeatureBuilder(
            panel, baseline_days=self.config.baseline_days, level_days=self.config.level_days
        )
        feats, base, level = builder.build(s, origin)
        return feats, base, level

    def _design(self, feats: pd.DataFrame, horizons: np.ndarray) -> pd.DataFrame:
        n, h = len(feats), len(horizons)
        X = with_horizon(
            feats.iloc[np.repeat(np.arange(n), h)].reset_index(drop=True), np.tile(horizons, n)
        )
        for col in self.feature_names:
            if col not in X.columns:
                X[col] = np.nan
        return encode(X[self.feature_names], self.categories)

    def predict(
        self,
        data: pd.DataFrame | Panel,
        horizons: np.ndarray | list[int] | None = None,
        origins: np.ndarray | None = None,
        *,
        series_col: str = "series_id",
        day_col: str = "day",
    ) -> Forecast:
        """Quantile paths of every series from its origin (default: its last day)."""
        panel = (
            data
            if isinstance(data, Panel)
            else build_panel(data, self.target, series_col=series_col, day_col=day_col)
        )
        hz = np.asarray(horizons if horizons is not None else PRODUCTION_HORIZONS, dtype=np.int64)
        s = np.arange(panel.n_series)
        origin = panel.lengths - 1 if origins is None else np.asarray(origins, dtype=np.int64)
        feats, base, level = self.feature_frame(panel, s, origin)
        X = self._design(feats, hz)
        q = predict_sorted(self.boosters, X, self.config.num_threads)
        q = self.scales.apply(q, X["horizon"].to_numpy())
        q = q.reshape(len(s), len(hz), 3)
        rel = q + (level / base)[:, None, None]
        if self.config.monotone in ("increasing", "decreasing"):
            acc = (
                np.maximum.accumulate
                if self.config.monotone == "increasing"
                else np.minimum.accumulate
            )
            rel[:, :, 1] = acc(rel[:, :, 1], axis=1)
            rel[:, :, 0] = np.minimum(rel[:, :, 0], rel[:, :, 1])
            rel[:, :, 2] = np.maximum(rel[:, :, 2], rel[:, :, 1])
        out = rel * base[:, None, None]
        return Forecast(
            panel.series_ids,
            panel.start_day + origin,
            hz,
            base,
            level,
            out[:, :, 0],
            out[:, :, 1],
            out[:, :, 2],
        )

    def contributions(
        self, features: pd.DataFrame, horizon: int, top: int = 5
    ) -> list[list[tuple[str, float]]]:
        """Top feature contributions (pred_contrib of the median) per row, largest first."""
        X = self._design(features, np.array([horizon]))
        contrib = self.boosters[1].predict(
            X, pred_contrib=True, num_threads=self.config.num_threads
        )
        names = self.feature_names
        out = []
        for row in contrib[:, :-1]:  # last column is the expected value
            order = np.argsort(-np.abs(row))[:top]
            out.append([(names[i], float(row[i])) for i in order])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "target": self.target,
            "config": asdict(self.config),
            "feature_names": self.feature_names,
            "categories": self.categories,
            "scales": self.scales.to_dict(),
            "metrics": self.metrics,
            "boosters": [b.model_to_string() for b in self.boosters],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantileForecaster:
        import lightgbm as lgb  # inside: see module docstring

        boosters = [lgb.Booster(model_str=s) for s in data["boosters"]]
        return cls(
            data["target"],
            EngineConfig.from_dict(data["config"]),
            list(data["feature_names"]),
            {k: list(v) for k, v in data["categories"].items()},
            boosters,
            IntervalScales(**data["scales"]),
            dict(data.get("metrics", {})),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> QuantileForecaster:
        return cls.from_dict(json.loads(Path(path).read_text()))
