"""Line graph comparing parameters of one battery over the same range.

Two ways, because volts, degrees and milliohms share no scale: ``normalised`` plots each
parameter as a percentage of its own mean over the range (so a DCR rising 20 % while the
voltage sags 1 % reads directly); ``twin`` puts the first parameter on the left axis and the
second on the right one, in their own units.
"""

from __future__ import annotations

import statistics
import zoneinfo
from typing import Any

import plotly.graph_objects as go

from sites.dash_apps.common import LAYOUT, empty_figure, local_naive
from sites.history import PARAMETER_LABELS, Series

PALETTE = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280"]


def comparison_figure(
    series: Series,
    parameters: list[str],
    mode: str,
    tz: zoneinfo.ZoneInfo,
    alarms: list[dict[str, Any]] | None = None,
) -> go.Figure:
    """The comparison graph (``mode``: ``normalised`` or ``twin``)."""
    parameters = [p for p in parameters if p in series.values]
    if not series.ts or not parameters:
        return empty_figure("Choose parameters with data in this range")
    x = local_naive(series.ts, tz)
    fig = go.Figure(layout={**LAYOUT, "height": 360, "legend": {"orientation": "h", "y": -0.25}})
    if mode == "twin":
        for i, p in enumerate(parameters[:2]):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=series.values[p],
                    mode="lines",
                    name=PARAMETER_LABELS[p],
                    yaxis="y2" if i else "y",
                    line={"color": PALETTE[i]},
                )
            )
        fig.update_layout(
            yaxis={"title": {"text": PARAMETER_LABELS[parameters[0]]}},
            yaxis2={"overlaying": "y", "side": "right", "showgrid": False},
        )
        if len(parameters) > 1:
            fig.update_layout(yaxis2_title_text=PARAMETER_LABELS[parameters[1]])
            fig.update_layout(margin={**LAYOUT["margin"], "r": 56})
    else:
        for i, p in enumerate(parameters):
            present = [v for v in series.values[p] if v is not None]
            mean = statistics.fmean(present) if present else 0.0
            y = [None if v is None or not mean else v / mean * 100 for v in series.values[p]]
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    name=PARAMETER_LABELS[p],
                    line={"color": PALETTE[i % len(PALETTE)]},
                    customdata=series.values[p],
                    hovertemplate="%{customdata:.4g} (%{y:.1f} % of mean)<extra>"
                    + PARAMETER_LABELS[p]
                    + "</extra>",
                )
            )
        fig.update_yaxes(title_text="% of the range mean")
    fig.update_xaxes(title_text=f"Time ({tz.key})")
    for mark in alarms or []:
        fig.add_vline(
            x=mark["ts"].astimezone(tz).replace(tzinfo=None).isoformat(),
            line={"color": "#c53030", "dash": "dot"},
        )
    return fig
