"""Engine settings and the production horizon grid."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

QUANTILES = (0.1, 0.5, 0.9)
# one week to three years: weekly for the first year, fortnightly after (RUL interpolates between)
PRODUCTION_HORIZONS = (*range(7, 364, 7), *range(364, 1095, 14), 1095)


@dataclass
class EngineConfig:
    """Engine settings. Defaults suit a fleet of daily aggregates; the back-test overrides a few."""

    baseline_days: int = 30  # early baseline: median of the first N days known at the origin
    level_days: int = 7  # current level: median of the last k days
    min_history: int = 14  # no forecast from an origin with fewer days of history
    # training rows: origins every `origin_step` days, at most `max_origins` per series (random),
    # horizons every `horizon_step` days up to `max_horizon`, `horizons_per_origin` sampled at most
    origin_step: int = 7
    max_origins: int | None = None
    horizon_step: int = 7
    max_horizon: int = 1095
    horizons_per_origin: int | None = None
    # budget of training rows: when max_origins / horizons_per_origin are not set, they are
    # chosen so that the fleet gives about this many rows (training time grows with the rows,
    # not with the fleet: a small fleet gets many origins per battery, a large one a few)
    max_rows: int | None = None
    # LightGBM
    num_boost_round: int = 150
    learning_rate: float = 0.1
    num_leaves: int = 15
    min_data_in_leaf: int | None = None  # None: n_rows / 200, clipped to [20, 400]
    lambda_l2: float = 1.0
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.8
    num_threads: int = 2
    seed: int = 0
    # calibration of the interval width on held-out series (0 folds: none)
    calibration_folds: int = 3
    calibration_boost_round: int | None = 100  # None: same as num_boost_round (back-test)
    # empty: each fold's series are scored from all their origins by a model that never saw them.
    # fractions (e.g. 0.25, 0.45, 0.65 of the series length): the fold's model also trains on the
    # held-out series' history up to that origin and scores it from there, as the back-test does
    calibration_origins: tuple[float, ...] = ()
    calibration_bins: int = 4  # horizon bins with their own factors
    coverage: float = 0.8
    # time-warped copies of every training series (age stretched by each factor): small data sets
    # then show the trees faster and slower ageing than the few series they have
    time_warp: tuple[float, ...] = ()
    # "full": every feature; "small": no slope/curvature/volatility features (age, level, horizon,
    # covariates, statics) - for a handful of training series, where the trees otherwise learn to
    # recognise each series by its slopes (see docs/forecasting.md, ablation)
    feature_set: str = "full"
    drop_features: tuple[str, ...] = ()  # further features left out (ablations)
    # "increasing" / "decreasing": the median path is made monotone in horizon (known physics only)
    monotone: str | None = None

    def within_budget(self, n_series: int) -> EngineConfig:
        """This config with origins and horizons per series fitted to ``max_rows`` rows."""
        if not self.max_rows or n_series <= 0:
            return self
        if self.max_origins is not None or self.horizons_per_origin is not None:
            return self
        per_series = max(8.0, self.max_rows / n_series)
        horizons = max(4, int((2 * per_series) ** 0.5))
        origins = max(2, int(per_series // horizons))
        return replace(self, max_origins=origins, horizons_per_origin=horizons)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
