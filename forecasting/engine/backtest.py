"""Leave-one-series-out back-test of the forecaster against linear and exponential trend fits.

For each series in turn (the held-out series) and each origin T: the model is trained on the other
series' full histories plus the held-out series' history up to T, then forecasts the held-out
series from T to its end. The trend fits use the held-out series' own history up to T. Scored:
MAE per horizon bucket (parameter units), 80 % interval coverage (share of outcomes inside
[q10, q90]) and, for an end-of-life rule, the RUL absolute and relative error.

Scoring rules (also in docs/forecasting.md):
- observed end of life: first day after T where the centred 9-day rolling median crosses the
  threshold; the threshold of a relative rule uses the early baseline as known at T;
- a (series, origin) whose smoothed series had already crossed at T, or never crosses in the data,
  is left out of the RUL errors but kept for MAE and coverage;
- relative error = |pred - true| / true, capped at 1; a model that predicts no crossing inside the
  search horizon (the longest series) for a series that does cross gets relative error 1 and
  absolute error (search horizon - true RUL).

Run without Django: ``python -m forecasting.engine.backtest --csv FILE --series COL --time COL
--target COL [--eol RULE] [--origins 60,80] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any, TextIO

import numpy as np
import pandas as pd

from .baselines import BASELINES, trend_path
from .calibration import IntervalScales, conformal_scales, encode
from .features import CATEGORICALS, FeatureBuilder, baselines_at, build_panel, time_warped
from .model import EngineConfig, QuantileForecaster, make_training_rows
from .report import (
    SMOOTH_DAYS,
    Scores,
    aggregate,
    bucket_label,
    format_report,
    horizon_buckets,
    rul_record,
    score_path,
)
from .rul import EolRule, first_crossing, true_rul

MODELS = ("lightgbm", *BASELINES)


class BacktestInputError(ValueError):
    """Bad command-line input; the message names the argument to fix."""


def default_origins(lengths: np.ndarray) -> list[int]:
    """Evenly spaced origins from ~20 % to ~65 % of the median series length, on a round step.

    Before the first crossings of typical ageing data, where a forecast is still useful; gives
    200..600 step 100 for CALCE (~950 cycles) and 40..100 step 20 for NASA (168 cycles).
    """
    median = float(np.median(lengths))
    raw = median / 8
    step = min((s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500) if s >= raw * 0.8), default=500)
    first = int(np.ceil(0.2 * median / step) * step)
    last = int(0.65 * median // step * step)
    return list(range(first, last + 1, step)) or [int(median // 2)]


def backtest_config(longest: int, n_series: int, target_rows: int = 25_000) -> EngineConfig:
    """Engine settings for a handful of series: small feature set, light trees, ~25k rows.

    Origins and horizons every ``step`` days, the step chosen so that all (origin, horizon) pairs
    of all series come to about ``target_rows`` rows (time: ~1 s per fit).
    """
    pairs = n_series * longest * longest / 2
    step = max(1, int(np.ceil(np.sqrt(pairs / target_rows))))
    return EngineConfig(
        origin_step=step,
        horizon_step=step,
        max_horizon=longest,
        feature_set="small",
        num_leaves=4,
        num_boost_round=250,
        learning_rate=0.05,
        calibration_folds=max(0, n_series - 1),
        calibration_origins=(0.25, 0.45, 0.65),
        calibration_boost_round=None,  # the calibration boosters are the deployed ones
    )


def load_csv(path: str, series: str, time_col: str, target: str) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as exc:
        raise BacktestInputError(f"--csv: cannot read {path}: {exc}") from exc
    for arg, col in (("--series", series), ("--time", time_col), ("--target", target)):
        if col not in raw.columns:
            raise BacktestInputError(
                f"{arg}: column {col!r} not in {path} (columns: {', '.join(raw.columns)})"
            )
    df = raw[[series, time_col, target]].rename(
        columns={series: "series_id", time_col: "day", target: "value"}
    )
    if not pd.api.types.is_numeric_dtype(df["value"]):
        raise BacktestInputError(f"--target: column {target!r} is not numeric")
    return df.dropna(subset=["value"])


def run_backtest(
    df: pd.DataFrame,
    eol: EolRule | None,
    origins: list[int] | None = None,
    config: EngineConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Back-test on a long table with columns series_id, day, value; returns the JSON report."""
    started = time.monotonic()
    say = progress or (lambda _msg: None)
    panel = build_panel(df, "value")
    longest = int(panel.lengths.max())
    origins = origins or default_origins(panel.lengths)
    config = config or backtest_config(longest, panel.n_series)
    buckets = horizon_buckets(longest)
    search = np.arange(1, longest + 1)
    scores: dict[tuple[str, int], Scores] = {(m, o): Scores() for m in MODELS for o in origins}
    skipped: list[dict[str, Any]] = []
    for i, held in enumerate(panel.series_ids):
        fold_start = time.monotonic()
        others = df[df["series_id"] != held]
        other_panel = build_panel(others, "value")
        scales = _fold_scales(other_panel, config)
        values = panel.values[i]
        for origin in origins:
            if origin + 1 >= panel.lengths[i]:
                skipped.append(
                    {"series": str(held), "origin": origin, "reason": "series ends before"}
                )
                continue
            t0 = time.monotonic()
            held_df = df[(df["series_id"] == held) & (df["day"] - panel.start_day[i] <= origin)]
            model = QuantileForecaster.fit(
                pd.concat([others, held_df]), "value", config, scales=scales
            )
            fc = model.predict(held_df, horizons=search)
            actual = values[origin + 1 : panel.lengths[i]]
            n = len(actual)
            q10, q50, q90 = fc.q10[0], fc.q50[0], fc.q90[0]
            lgb = scores[("lightgbm", origin)]
            score_path(lgb, buckets, actual, q50[:n], (q10[:n], q90[:n]))
            paths = {m: trend_path(values, origin, search, m) for m in BASELINES}
            for m, (path, _) in paths.items():
                score_path(scores[(m, origin)], buckets, actual, path[:n])
            if eol is not None:
                base = baselines_at(panel, np.array([i]), np.array([origin]), config.baseline_days)[
                    0
                ]
                thr = float(eol.threshold(base))
                true = true_rul(values, origin, thr, eol.rising, SMOOTH_DAYS)
                if true is None or not np.isfinite(true):
                    why = "already past threshold" if true is None else "never crosses in the data"
                    skipped.append({"series": str(held), "origin": origin, "reason": why})
                else:
                    th = np.array([thr])
                    cross = {
                        name: first_crossing(p[None, :], search, th, eol.rising, np.array([start]))[
                            0
                        ]
                        for name, (p, start) in {
                            "q10": (q10, fc.level[0]),
                            "q50": (q50, fc.level[0]),
                            "q90": (q90, fc.level[0]),
                            **paths,
                        }.items()
                    }
                    early, late = (
                        (cross["q90"], cross["q10"]) if eol.rising else (cross["q10"], cross["q90"])
                    )
                    lgb.rul.append(
                        rul_record(
                            held, origin, true, cross["q50"], longest, early=early, late=late
                        )
                    )
                    for m in BASELINES:
                        scores[(m, origin)].rul.append(
                            rul_record(held, origin, true, cross[m], longest)
                        )
            say(
                f"  {held} origin {origin}: {model.metrics['training_rows']} training rows, "
                f"{time.monotonic() - t0:.1f} s"
            )
        say(f"fold {i + 1}/{panel.n_series} ({held}) done in {time.monotonic() - fold_start:.1f} s")
    report = aggregate(scores, origins, buckets)
    report.update(
        {
            "eol": str(eol) if eol else None,
            "origins": origins,
            "series": [str(s) for s in panel.series_ids],
            "horizon_buckets": [bucket_label(b) for b in buckets],
            "skipped": skipped,
            "config": asdict(config),
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    return report


def _fold_scales(panel: Any, config: EngineConfig) -> IntervalScales:
    """Conformal interval scales of one fold, from the training series only (never the held-out)."""
    if not config.calibration_folds or panel.n_series < 2:
        return IntervalScales()
    panel = time_warped(panel, config.time_warp)
    builder = FeatureBuilder(
        panel, baseline_days=config.baseline_days, level_days=config.level_days
    )
    rows = make_training_rows(panel, builder, config, np.random.default_rng(config.seed))
    rows.X = encode(
        rows.X, {c: sorted(set(rows.X[c].astype(str))) for c in CATEGORICALS if c in rows.X}
    )
    return conformal_scales(
        rows, replace(config, calibration_folds=min(config.calibration_folds, panel.n_series))
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", required=True, help="CSV file, one row per (series, day)")
    parser.add_argument("--series", required=True, help="column naming the series (battery, cell)")
    parser.add_argument(
        "--time", required=True, help="column of the day (integer or date; one cycle = one day)"
    )
    parser.add_argument("--target", required=True, help="column of the parameter to forecast")
    parser.add_argument(
        "--eol", default=None, help="end-of-life rule: rel>=1.2, rel<=0.8, abs<=1.4 ..."
    )
    parser.add_argument(
        "--origins", default=None, help="comma-separated origins in days (default: per data length)"
    )
    parser.add_argument("--json", default=None, help="write the full report as JSON to this file")


def run_from_options(options: dict[str, Any], out: TextIO, err: TextIO) -> dict[str, Any]:
    """Parse the options (raising BacktestInputError naming the argument), run, print the table."""
    eol = None
    if options.get("eol"):
        try:
            eol = EolRule.parse(options["eol"])
        except ValueError as exc:
            raise BacktestInputError(f"--eol: {exc}") from exc
    origins = None
    if options.get("origins"):
        try:
            origins = sorted({int(x) for x in str(options["origins"]).split(",") if x.strip()})
        except ValueError as exc:
            raise BacktestInputError(
                f"--origins: expected integers like 60,80,100, got {options['origins']!r}"
            ) from exc
        if not origins or min(origins) < 1:
            raise BacktestInputError("--origins: origins must be positive day counts")
    df = load_csv(options["csv"], options["series"], options["time"], options["target"])

    def progress(msg: str) -> None:
        err.write(msg + "\n")
        err.flush()

    report = run_backtest(df, eol, origins, progress=progress)
    report["data"] = {k: options[k] for k in ("csv", "series", "time", "target")}
    out.write(format_report(report, f"Back-test of {options['target']} in {options['csv']}") + "\n")
    if options.get("json"):
        with open(options["json"], "w") as fh:
            json.dump(report, fh, indent=2)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forecasting.engine.backtest", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run_from_options(vars(args), sys.stdout, sys.stderr)
    except BacktestInputError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
