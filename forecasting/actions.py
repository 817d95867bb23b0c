"""Train the fleet models and predict a site: plain functions the Celery tasks call.

Both import the engine inside the function (LightGBM must never be loaded in the Celery parent
before it forks: DESIGN.md). Settings: ``FORECASTING_ENGINE`` (dict of ``EngineConfig`` fields),
``FORECASTING_HISTORY_DAYS`` (days of rollups read for a prediction).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from forecasting import data
from forecasting.choices import Cause, Parameter
from forecasting.models import Forecast, ForecastModel, RemainingLife
from sites.choices import BatteryStatus
from sites.models import Battery

log = logging.getLogger(__name__)

REPLACE_RULE = "rel>=1.5"  # DCR +50 % of baseline (IEEE 1188: replacement)
WARNING_RULE = "rel>=1.2"  # +20 %: warning
DIAGNOSIS_DAYS = 90
DIAG_COLUMNS = {
    "voltage": "voltage",
    "temperature": "temperature",
    "dcr": "dcr",
    "micro_voltage": "micro_v",
    "emf": "emf",
}


def engine_config() -> Any:
    from forecasting.engine.config import EngineConfig

    fields = dict(getattr(settings, "FORECASTING_ENGINE", {}) or {})
    fields.setdefault("monotone", None)
    return EngineConfig.from_dict(fields)


def _param_frame(
    frame: pd.DataFrame, parameter: str, temperature_coefficient: float | None = None
) -> pd.DataFrame:
    """The engine's input for one parameter: its own baseline column only for DCR.

    DCR is expressed at 25 C when the model found a temperature coefficient in the data
    (``forecasting.engine.temperature``).
    """
    if parameter == Parameter.DCR and temperature_coefficient:
        from forecasting.engine.temperature import correct

        frame = correct(frame, temperature_coefficient)
    cols = [
        "series_id",
        "day",
        parameter,
        "temperature",
        "bank_id",
        "chemistry",
        "unit_type",
        "position",
    ]
    out = frame[cols].copy()
    if parameter == Parameter.DCR:
        out["baseline"] = frame["dcr_baseline"]
    return out[np.isfinite(out[parameter].to_numpy(dtype=float))]


def _fit_metrics(model: Any, frame: pd.DataFrame, parameter: str) -> dict[str, float]:
    """In-sample check: forecast every series from 2/3 of its history, score the last third."""
    from forecasting.engine.features import build_panel

    panel = build_panel(frame, parameter)
    origins = (panel.lengths * 2) // 3
    ok = origins >= model.config.min_history
    if not ok.any():
        return {}
    hz = np.arange(7, int(panel.lengths.max()), 7)
    if len(hz) == 0:
        return {}
    fc = model.predict(panel, hz, origins)
    idx = origins[:, None] + hz[None, :]
    inside = (idx < panel.lengths[:, None]) & ok[:, None]
    rows = np.nonzero(inside)
    truth = panel.values[rows[0], idx[rows]]
    good = np.isfinite(truth)
    y = truth[good]
    q10, q50, q90 = (q[rows][good] for q in (fc.q10, fc.q50, fc.q90))
    if len(y) == 0:
        return {}
    return {
        "fit_mae": float(np.mean(np.abs(y - q50))),
        "fit_coverage_80": float(np.mean((y >= q10) & (y <= q90))),
        "fit_points": len(y),
    }


def train(parameters: list[str] | None = None) -> list[ForecastModel]:
    """Train one fleet model per parameter on every in-service battery's daily aggregates."""
    from forecasting.engine.model import QuantileForecaster

    config = engine_config()
    frame = data.load_daily()
    stored = []
    for parameter in parameters or list(Parameter.values):
        temp: dict[str, Any] = {}
        if parameter == Parameter.DCR and not frame.empty:
            from forecasting.engine.temperature import estimate

            fit = estimate(frame)
            temp = {"temperature_coefficient": fit.coefficient, "temperature_fit": fit.reason}
            log.info("forecasting: DCR temperature correction: %s", fit.reason)
        coeff = temp.get("temperature_coefficient")
        pframe = _param_frame(frame, parameter, coeff) if not frame.empty else frame
        if pframe.empty:
            log.info("forecasting: no %s data, no model trained", parameter)
            continue
        try:
            model = QuantileForecaster.fit(pframe, parameter, config)
        except ValueError as exc:  # series too short
            log.warning("forecasting: %s not trained: %s", parameter, exc)
            continue
        metrics = {**model.metrics, **_fit_metrics(model, pframe, parameter), **temp}
        model.metrics = metrics
        with transaction.atomic():
            last = ForecastModel.objects.select_for_update().filter(parameter=parameter)
            version = (last.aggregate(v=Max("version"))["v"] or 0) + 1
            stored.append(
                ForecastModel.objects.create(
                    parameter=parameter,
                    version=version,
                    training_rows=metrics.get("training_rows", 0),
                    training_series=metrics.get("series", 0),
                    metrics=metrics,
                    payload=json.dumps(model.to_dict()),
                )
            )
    return stored


def latest_models() -> dict[str, ForecastModel]:
    """The newest stored model of each parameter (one query)."""
    latest: dict[str, ForecastModel] = {}
    for m in ForecastModel.objects.order_by("parameter", "-version").distinct("parameter"):
        latest[m.parameter] = m
    return latest


def _date(origin: float, days: float) -> dt.date | None:
    return data.day_date(origin + np.ceil(days)) if np.isfinite(days) else None


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _diagnoses(frame: pd.DataFrame, attrs: pd.DataFrame) -> dict[int, Any]:
    """diagnose() on the last DIAGNOSIS_DAYS of every battery, against its bank's daily mean."""
    from forecasting.engine.diagnosis import diagnose

    cols = list(DIAG_COLUMNS)
    recent = frame[frame["day"] > frame["day"].max() - DIAGNOSIS_DAYS]
    bank = recent.groupby(["bank_id", "day"])[cols].mean().add_prefix("bank_")
    recent = recent.join(bank, on=["bank_id", "day"]).sort_values(["series_id", "day"])
    renames = {**DIAG_COLUMNS, **{f"bank_{k}": f"bank_{v}" for k, v in DIAG_COLUMNS.items()}}
    out = {}
    for battery_id, rows in recent.groupby("series_id"):
        a = attrs.loc[battery_id]
        out[int(battery_id)] = diagnose(
            rows.rename(columns=renames),
            dcr_baseline=_finite(a["dcr_baseline"]),
            nominal_voltage=_finite(a["nominal_voltage"]),
        )
    return out


def predict_site(site_id: int) -> int:
    """Forecast every in-service battery of a site with the latest models; store the results.

    Returns the number of batteries given a RemainingLife. Without models or data: 0.
    """
    from forecasting.engine.features import build_panel
    from forecasting.engine.rul import EolRule, estimate_rul

    models = latest_models()
    if not models:
        return 0
    ids = list(
        Battery.objects.filter(bank__site_id=site_id, status=BatteryStatus.IN_SERVICE).values_list(
            "pk", flat=True
        )
    )
    history = getattr(settings, "FORECASTING_HISTORY_DAYS", 1100)
    since = timezone.now().date() - dt.timedelta(days=history)
    frame = data.load_daily(ids, since=since)
    if frame.empty:
        return 0
    attrs = data.batteries_frame(ids)
    now, today = timezone.now(), timezone.now().date()
    done = 0
    for parameter, stored in models.items():
        pframe = _param_frame(frame, parameter, stored.temperature_coefficient)
        if pframe.empty:
            continue
        model = stored.engine_model()
        panel = build_panel(pframe, parameter)
        ok = panel.lengths >= model.config.min_history
        if not ok.any():
            continue
        fc = model.predict(panel)
        rows = [
            Forecast(
                battery_id=int(fc.series_ids[i]),
                parameter=parameter,
                model=stored,
                made_at=now,
                origin=data.day_date(fc.origin_day[i]),
                baseline=float(fc.baseline[i]),
                level=float(fc.level[i]),
                horizons=fc.horizons.tolist(),
                q10=np.round(fc.q10[i], 5).tolist(),
                q50=np.round(fc.q50[i], 5).tolist(),
                q90=np.round(fc.q90[i], 5).tolist(),
            )
            for i in np.flatnonzero(ok)
        ]
        with transaction.atomic():
            Forecast.objects.filter(battery_id__in=ids, parameter=parameter).delete()
            Forecast.objects.bulk_create(rows)
        if parameter != Parameter.DCR:
            continue
        replace = estimate_rul(fc, EolRule.parse(REPLACE_RULE))
        warning = estimate_rul(fc, EolRule.parse(WARNING_RULE))
        feats, _, _ = model.feature_frame(panel, np.arange(panel.n_series), panel.lengths - 1)
        drivers = model.contributions(feats, 365)
        diagnoses = _diagnoses(frame, attrs)
        lives = []
        for i in np.flatnonzero(ok):
            battery_id = int(fc.series_ids[i])
            origin = float(fc.origin_day[i])
            replace_on = _date(origin, replace.rul[i])
            diag = diagnoses.get(battery_id)
            cause = diag.cause if diag else Cause.NONE
            evidence = list(diag.evidence) if diag else []
            if cause != Cause.NONE:
                evidence.append(
                    "forecast drivers: " + ", ".join(f"{n} {v:+.3f}" for n, v in drivers[i])
                )
            lives.append(
                RemainingLife(
                    battery_id=battery_id,
                    model=stored,
                    made_at=now,
                    origin=data.day_date(origin),
                    dcr_pct=float(fc.level[i] / fc.baseline[i] * 100) if fc.baseline[i] else None,
                    days=float(max((replace_on - today).days, 0)) if replace_on else None,
                    replace_on=replace_on,
                    replace_early=_date(origin, replace.early[i]),
                    replace_late=_date(origin, replace.late[i]),
                    warning_on=_date(origin, warning.rul[i]),
                    beyond_horizon=replace_on is None,
                    cause=cause if cause in Cause.values else Cause.NONE,
                    evidence="; ".join(evidence),
                    contributions=[[n, round(v, 5)] for n, v in drivers[i]],
                )
            )
        with transaction.atomic():
            RemainingLife.objects.filter(battery_id__in=ids).delete()
            RemainingLife.objects.bulk_create(lives)
        done = len(lives)
    return done
