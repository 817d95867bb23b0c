"""``{% battery_forecast battery %}``: the battery page's forecast section and DCR curve."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django import template

from forecasting.choices import Parameter
from forecasting.engine.temperature import REFERENCE_C
from forecasting.models import Forecast, RemainingLife

register = template.Library()
HISTORY_DAYS = 365


#: Axis label of each parameter's curve.
UNITS = {
    Parameter.DCR: "DCR (mOhm)",
    Parameter.VOLTAGE: "voltage (V)",
    Parameter.EMF: "EMF (V)",
    Parameter.MICRO_VOLTAGE: "micro-discharge voltage (V)",
}


def daily_history(battery: Any, since: dt.date) -> list[dict[str, Any]]:
    """The battery's daily means since ``since`` (one query for every curve of the page)."""
    from acquisition.models import DailyRollup

    columns = [f"{p}_avg" for p in Parameter.values]
    return list(
        DailyRollup.objects.filter(battery=battery, bucket__date__gte=since)
        .order_by("bucket")
        .values("bucket", "temperature_avg", *columns)
    )


def curve_figure(
    forecast: Forecast, life: RemainingLife | None, days_rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """Plotly figure (as a dict) of one parameter's history, median forecast and 10-90 % band.

    ``days_rows``: :func:`daily_history`. The DCR curve also carries the +20 % / +50 % lines and
    the predicted replacement date.
    """
    parameter = forecast.parameter
    is_dcr = parameter == Parameter.DCR
    since = forecast.origin - dt.timedelta(days=HISTORY_DAYS)
    coefficient = forecast.model.temperature_coefficient if is_dcr else None
    history = []
    for row in days_rows:
        v, t = row[f"{parameter}_avg"], row["temperature_avg"]
        if v is None or row["bucket"].date() < since:
            continue
        if coefficient and t is not None:  # at 25 C, like the forecast
            v *= math.exp(-coefficient * (t - REFERENCE_C))
        history.append((row["bucket"], v))
    days = [(forecast.origin + dt.timedelta(days=h)).isoformat() for h in forecast.horizons]
    data: list[dict[str, Any]] = [
        {
            "x": [b.date().isoformat() for b, _ in history],
            "y": [v for _, v in history],
            "name": "history (daily mean, at 25 C)" if coefficient else "history (daily mean)",
            "mode": "lines",
            "line": {"color": "#2d3748"},
        },
        {
            "x": days,
            "y": forecast.q90,
            "name": "90 %",
            "mode": "lines",
            "line": {"width": 0},
            "showlegend": False,
        },
        {
            "x": days,
            "y": forecast.q10,
            "name": "10-90 % interval",
            "mode": "lines",
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": "rgba(43,108,176,0.2)",
        },
        {
            "x": days,
            "y": forecast.q50,
            "name": "median forecast",
            "mode": "lines",
            "line": {"color": "#2b6cb0", "dash": "dash"},
        },
    ]
    shapes, annotations = [], []
    if is_dcr and forecast.baseline:
        for ratio, colour, text in ((1.2, "#b7791f", "+20 %"), (1.5, "#c53030", "+50 % replace")):
            y = forecast.baseline * ratio
            shapes.append(
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": y,
                    "y1": y,
                    "line": {"dash": "dot", "color": colour},
                }
            )
            annotations.append(
                {
                    "xref": "paper",
                    "x": 0,
                    "y": y,
                    "text": text,
                    "showarrow": False,
                    "yanchor": "bottom",
                    "xanchor": "left",
                }
            )
    if is_dcr and life and life.replace_on:
        x = life.replace_on.isoformat()
        shapes.append(
            {
                "type": "line",
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "x0": x,
                "x1": x,
                "line": {"color": "#c53030"},
            }
        )
        annotations.append(
            {
                "yref": "paper",
                "y": 1,
                "x": x,
                "text": f"replace {x}",
                "showarrow": False,
                "yanchor": "bottom",
            }
        )
    layout = {
        "template": "plotly_white",
        "height": 380,
        "hovermode": "x unified",
        "margin": {"l": 56, "r": 16, "t": 36, "b": 44},
        "shapes": shapes,
        "annotations": annotations,
        "yaxis": {"title": {"text": UNITS.get(parameter, parameter)}},
        "title": {"text": f"{Parameter(parameter).label}: history and forecast", "x": 0.01},
    }
    return {"data": data, "layout": layout}


@register.inclusion_tag("forecasting/_battery_forecast.html")
def battery_forecast(battery: Any) -> dict[str, Any]:
    """Context of the forecast section (the page's own access check already passed)."""
    life = RemainingLife.objects.select_related("model").filter(battery=battery).first()
    forecasts = {
        f.parameter: f for f in Forecast.objects.filter(battery=battery).select_related("model")
    }
    since = min((f.origin for f in forecasts.values()), default=None)
    rows = daily_history(battery, since - dt.timedelta(days=HISTORY_DAYS)) if since else []
    figures = [
        (parameter, curve_figure(forecasts[parameter], life, rows))
        for parameter in Parameter.values  # DCR first
        if parameter in forecasts
    ]
    return {"life": life, "figures": figures}
