"""Battery page charts: the history of each parameter with a range picker, and a line graph
comparing parameters. Alarms (if the alarms app has them) are marked on the time axis.

One Dash app for both graphs: ``{% plotly_direct %}`` can embed a single Dash app per page, and
both read the same series, so one callback fetches it once and draws both.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

import plotly.graph_objects as go
from dash import Input, Output, dcc, html
from plotly.subplots import make_subplots

from sites.dash_apps.common import (
    GRAPH_CONFIG,
    LAYOUT,
    PortalDash,
    empty_figure,
    id_from_path,
    local_naive,
    user_of,
)
from sites.dash_apps.comparison import comparison_figure
from sites.history import (
    PARAMETER_LABELS,
    RANGE_LABELS,
    Series,
    alarm_marks,
    battery_series,
)
from sites.models import Battery

APP_NAME = "battery_history"
MARKERS_UP_TO = 400  # draw point markers on short series, plain lines on long ones
DEFAULT_RANGE = "day"

app = PortalDash(APP_NAME, serve_locally=True)
app.layout = html.Div(
    className="dash-chart",
    children=[
        dcc.Location(id="page", refresh=False),
        html.Div(
            className="chart-controls",
            children=[
                dcc.RadioItems(
                    id="range",
                    options=[{"label": v, "value": k} for k, v in RANGE_LABELS.items()],
                    value=DEFAULT_RANGE,
                    inline=True,
                    className="radio-group range-picker",
                ),
                dcc.Checklist(
                    id="parameters",
                    options=[{"label": v, "value": k} for k, v in PARAMETER_LABELS.items()],
                    value=list(PARAMETER_LABELS),
                    inline=True,
                    className="radio-group",
                ),
            ],
        ),
        html.P(id="history-source", className="muted"),
        dcc.Graph(id="history", config=GRAPH_CONFIG),
        html.H2("Compare parameters"),
        html.Div(
            className="chart-controls",
            children=[
                dcc.Checklist(
                    id="compare-parameters",
                    options=[{"label": v, "value": k} for k, v in PARAMETER_LABELS.items()],
                    value=["voltage", "dcr"],
                    inline=True,
                    className="radio-group",
                ),
                dcc.RadioItems(
                    id="compare-mode",
                    options=[
                        {"label": "Normalised", "value": "normalised"},
                        {"label": "Twin axes", "value": "twin"},
                    ],
                    value="normalised",
                    inline=True,
                    className="radio-group",
                ),
            ],
        ),
        dcc.Graph(id="comparison", config=GRAPH_CONFIG),
    ],
)


def history_figure(
    series: Series,
    parameters: list[str],
    tz: zoneinfo.ZoneInfo,
    alarms: list[dict[str, Any]] | None = None,
) -> go.Figure:
    """One row per parameter sharing the time axis; rollups show their min-max band."""
    parameters = [p for p in PARAMETER_LABELS if p in parameters]
    if not series.ts or not parameters:
        return empty_figure("No readings in this range")
    x = local_naive(series.ts, tz)
    fig = make_subplots(
        rows=len(parameters),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        subplot_titles=[PARAMETER_LABELS[p] for p in parameters],
    )
    mode = "lines+markers" if len(x) <= MARKERS_UP_TO else "lines"
    for row, p in enumerate(parameters, start=1):
        if p in series.low:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=series.high[p],
                    mode="lines",
                    line={"width": 0},
                    showlegend=False,
                    hoverinfo="skip",
                ),
                row=row,
                col=1,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=series.low[p],
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor="rgba(43,108,176,0.18)",
                    showlegend=False,
                    hoverinfo="skip",
                ),
                row=row,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=series.values[p],
                mode=mode,
                name=PARAMETER_LABELS[p],
                line={"color": "#2b6cb0", "width": 1.5},
                marker={"size": 4},
                showlegend=False,
            ),
            row=row,
            col=1,
        )
    for mark in alarms or []:
        fig.add_vline(
            x=mark["ts"].astimezone(tz).replace(tzinfo=None).isoformat(),
            line={"color": "#c53030", "dash": "dot"},
        )
    fig.update_layout(**LAYOUT, height=90 + 190 * len(parameters), showlegend=False)
    fig.update_xaxes(title_text=f"Time ({tz.key})", row=len(parameters), col=1)
    return fig


@app.callback(
    Output("history", "figure"),
    Output("history-source", "children"),
    Output("comparison", "figure"),
    Input("page", "pathname"),
    Input("range", "value"),
    Input("parameters", "value"),
    Input("compare-parameters", "value"),
    Input("compare-mode", "value"),
)
def update_charts(
    pathname: str | None,
    range_key: str,
    parameters: list[str],
    compare: list[str],
    compare_mode: str,
    **kwargs: Any,
) -> tuple[go.Figure, str, go.Figure]:
    """Re-checks access: the battery must be visible to the user of *this* request."""
    battery_id = id_from_path(pathname, "batteries")
    battery = (
        Battery.objects.for_user(user_of(kwargs))
        .select_related("bank__site")
        .filter(pk=battery_id)
        .first()
        if battery_id
        else None
    )
    if battery is None:
        empty = empty_figure("Battery not found")
        return empty, "", empty
    tz = battery.bank.site.tz
    series = battery_series(battery.pk, range_key or DEFAULT_RANGE)
    alarms = alarm_marks(battery.pk, series.start, series.end)
    start, end = series.start.astimezone(tz), series.end.astimezone(tz)
    source = (
        f"{len(series)} points from {series.source}, {start:%Y-%m-%d %H:%M} to "
        f"{end:%Y-%m-%d %H:%M} ({tz.key})" + (f"; {len(alarms)} alarm(s) marked" if alarms else "")
    )
    return (
        history_figure(series, parameters or [], tz, alarms),
        source,
        comparison_figure(series, compare or [], compare_mode or "normalised", tz, alarms),
    )
