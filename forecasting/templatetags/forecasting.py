"""``{% battery_forecast battery %}``: the battery page's forecast section and DCR curve."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from forecasting.choices import Parameter
from forecasting.models import Forecast, RemainingLife

register = template.Library()
HISTORY_DAYS = 365


def curve_figure(battery: Any, forecast: Forecast, life: RemainingLife | None) -> dict[str, Any]:
    """Plotly figure (as a dict) of DCR history, median forecast, 10-90 % band and thresholds."""
    from acquisition.models import DailyRollup

    since = forecast.origin - dt.timedelta(days=HISTORY_DAYS)
    history = list(
        DailyRollup.objects.filter(battery=battery, bucket__date__gte=since, dcr_avg__isnull=False)
        .order_by("bucket")
        .values_list("bucket", "dcr_avg")
    )
    days = [(forecast.origin + dt.timedelta(days=h)).isoformat() for h in forecast.horizons]
    data: list[dict[str, Any]] = [
        {
            "x": [b.date().isoformat() for b, _ in history],
            "y": [v for _, v in history],
            "name": "history (daily mean)",
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
    if forecast.baseline:
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
    if life and life.replace_on:
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
        "yaxis": {"title": {"text": "DCR (mOhm)"}},
        "title": {"text": "DCR: history and forecast", "x": 0.01},
    }
    return {"data": data, "layout": layout}


@register.inclusion_tag("forecasting/_battery_forecast.html")
def battery_forecast(battery: Any) -> dict[str, Any]:
    """Context of the forecast section (the page's own access check already passed)."""
    life = RemainingLife.objects.select_related("model").filter(battery=battery).first()
    forecast = Forecast.objects.filter(battery=battery, parameter=Parameter.DCR).first()
    figure = curve_figure(battery, forecast, life) if forecast else None
    return {"life": life, "figure": figure}
