"""LightGBM quantile boosters and the split-conformal calibration of their 10-90 % band.

LightGBM is imported inside the functions that use it: a Celery prefork worker must never have it
loaded in the parent before the fork (it hangs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .config import QUANTILES, EngineConfig
from .features import CATEGORICALS


def lgb_params(config: EngineConfig, alpha: float, n_rows: int) -> dict[str, Any]:
    min_leaf = config.min_data_in_leaf or int(np.clip(n_rows // 200, 20, 400))
    return {
        "objective": "quantile",
        "alpha": alpha,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": min_leaf,
        "lambda_l2": config.lambda_l2,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": 1,
        "num_threads": config.num_threads,
        "seed": config.seed,
        "deterministic": True,
        "verbose": -1,
    }


def encode(X: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    X = X.copy()
    for col, cats in categories.items():
        if col in X.columns:
            X[col] = pd.Categorical(X[col].astype(str), categories=cats)
    return X


def fit_boosters(X: pd.DataFrame, y: np.ndarray, config: EngineConfig, rounds: int) -> list[Any]:
    import lightgbm as lgb  # inside: never loaded in a Celery parent before fork

    cats = [c for c in CATEGORICALS if c in X.columns]
    boosters = []
    for alpha in QUANTILES:
        data = lgb.Dataset(X, y, categorical_feature=cats or "auto", free_raw_data=False)
        params = lgb_params(config, alpha, len(y))
        boosters.append(lgb.train(params, data, num_boost_round=rounds))
    return boosters


def predict_sorted(boosters: list[Any], X: pd.DataFrame, threads: int) -> np.ndarray:
    q = np.column_stack([b.predict(X, num_threads=threads) for b in boosters])
    return np.sort(q, axis=1)  # quantiles never cross


@dataclass
class IntervalScales:
    """Conformal factors of the lower and upper half-widths, per horizon bin.

    Bin i holds horizons <= edges[i]; the last bin everything longer. The interval of a row is
    q50 - lo * (q50 - q10) .. q50 + hi * (q90 - q50).
    """

    edges: list[float] = field(default_factory=list)
    lo: list[float] = field(default_factory=lambda: [1.0])
    hi: list[float] = field(default_factory=lambda: [1.0])

    def apply(self, q: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        b = np.searchsorted(np.asarray(self.edges, dtype=float), horizon, side="left")
        lo, hi = np.asarray(self.lo)[b], np.asarray(self.hi)[b]
        return np.column_stack(
            [q[:, 1] - lo * (q[:, 1] - q[:, 0]), q[:, 1], q[:, 1] + hi * (q[:, 2] - q[:, 1])]
        )

    def to_dict(self) -> dict[str, list[float]]:
        return {"edges": self.edges, "lo": self.lo, "hi": self.hi}


def conformal_scales(rows: Any, config: EngineConfig) -> IntervalScales:
    """Scales of the lower and upper half-widths that cover ``coverage`` on held-out series.

    Split-conformal on series groups: fit on the other groups, measure on this one. Each side is
    scaled separately (degradation is skewed), so that ~(1-coverage)/2 of outcomes fall below q10
    and as many above q90, in each of ``calibration_bins`` horizon bins (quantiles of the horizons
    scored; a short-horizon interval needs another factor than a three-year one).
    """
    groups = np.unique(rows.group)
    k = min(config.calibration_folds, len(groups))
    if k < 2:
        return IntervalScales()
    rng = np.random.default_rng(config.seed + 1)
    fold_of = dict(zip(rng.permutation(groups), np.arange(len(groups)) % k, strict=True))
    fold = np.array([fold_of[g] for g in rows.group])
    rounds = config.calibration_boost_round or config.num_boost_round
    end = rows.origin + rows.X["horizon"].to_numpy()
    r_lo: list[np.ndarray] = []
    r_hi: list[np.ndarray] = []
    hz: list[np.ndarray] = []

    def score(train: np.ndarray, test: np.ndarray) -> None:
        boosters = fit_boosters(rows.X[train], rows.y[train], config, rounds)
        q = predict_sorted(boosters, rows.X[test], config.num_threads)
        y = rows.y[test]
        hz.append(rows.X["horizon"].to_numpy()[test])
        r_lo.append((q[:, 1] - y) / np.maximum(q[:, 1] - q[:, 0], 1e-9))
        r_hi.append((y - q[:, 1]) / np.maximum(q[:, 2] - q[:, 1], 1e-9))

    for f in range(k):
        if not config.calibration_origins:
            score(fold != f, fold == f)
            continue
        for g in groups[[fold_of[g] == f for g in groups]]:
            mine = rows.group == g
            length = end[mine].max()
            for frac in config.calibration_origins:
                t = int(frac * length)
                test = (
                    mine & (rows.origin <= t) & (rows.origin > t - config.origin_step) & (end > t)
                )
                if test.any():
                    score((fold != f) | (mine & (end <= t)), test)
    if not r_lo:
        return IntervalScales()
    return _binned_scales(np.concatenate(hz), np.concatenate(r_lo), np.concatenate(r_hi), config)


def _binned_scales(
    h: np.ndarray, r_lo: np.ndarray, r_hi: np.ndarray, config: EngineConfig
) -> IntervalScales:
    level = 1 - (1 - config.coverage) / 2
    bins = max(1, min(config.calibration_bins, len(h) // 50))
    edges = sorted(set(np.quantile(h, np.arange(1, bins) / bins).tolist()))
    b = np.searchsorted(np.asarray(edges), h, side="left")
    lo, hi = [], []
    for i in range(len(edges) + 1):
        sel = b == i
        lo.append(float(np.clip(np.quantile(r_lo[sel], level), 0.25, 10.0)) if sel.any() else 1.0)
        hi.append(float(np.clip(np.quantile(r_hi[sel], level), 0.25, 10.0)) if sel.any() else 1.0)
    return IntervalScales([float(e) for e in edges], lo, hi)
