"""Forecast scatter chart of a bank or a site (Dash app ``forecast_scatter``).

Each battery is a point: x = current DCR % of baseline, y = predicted days to replacement
(DCR +50 %; "beyond three years" drawn at the top), coloured by the diagnosed cause. Clicking a
point opens the battery. The page path (``/forecasts/banks/<id>/chart/`` or
``/forecasts/sites/<slug>/chart/``) names the object; every callback re-checks access with
``for_user`` for the user of that request.
"""

from __future__ import annotations

import re
from typing import Any

import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update

from forecasting.choices import Cause
from forecasting.models import RemainingLife
from sites.dash_apps.common import GRAPH_CONFIG, LAYOUT, PortalDash, empty_figure, user_of
from sites.models import Bank, Battery, Site

APP_NAME = "forecast_scatter"
BEYOND_DAYS = 1095  # drawn at three years
CAUSE_COLOURS = {
    "none": "#1b7f3b",
    "grid_corrosion": "#b7791f",
    "dry_out": "#dd6b20",
    "sulfation": "#6b46c1",
    "overcharge": "#d53f8c",
    "undercharge": "#3182ce",
    "connection": "#319795",
    "open_cell": "#c53030",
    "shorted_cell": "#9b2c2c",
    "thermal_runaway": "#000000",
}

app = PortalDash(APP_NAME, serve_locally=True)
app.layout = html.Div(
    className="dash-chart",
    children=[
        dcc.Location(id="page", refresh=False),
        dcc.Location(id="go", refresh=True),
        dcc.Graph(id="forecast-scatter", config=GRAPH_CONFIG, style={"height": "460px"}),
    ],
)


def scope_of(pathname: str | None, user: Any) -> tuple[str, Any] | None:
    """("bank", Bank) or ("site", Site) named by the page path and visible to the user."""
    path = pathname or ""
    if match := re.search(r"/banks/(\d+)/chart/?$", path):
        bank = Bank.objects.for_user(user).filter(pk=int(match.group(1))).first()
        return ("bank", bank) if bank else None
    if match := re.search(r"/sites/([-\w]+)/chart/?$", path):
        site = Site.objects.for_user(user).filter(slug=match.group(1)).first()
        return ("site", site) if site else None
    return None


def lives_of(kind: str, obj: Any) -> list[RemainingLife]:
    field = "battery__bank" if kind == "bank" else "battery__bank__site"
    return list(
        RemainingLife.objects.filter(**{field: obj})
        .select_related("battery__bank")
        .order_by("battery__bank__name", "battery__position")
    )


def figure(title: str, lives: list[RemainingLife]) -> go.Figure:
    """One trace per diagnosed cause, so the legend names the causes."""
    if not lives:
        return empty_figure("No forecast yet for these batteries")
    fig = go.Figure(layout={**LAYOUT, "height": 460})
    for cause in Cause.values:
        points = [x for x in lives if x.cause == cause and x.dcr_pct is not None]
        if not points:
            continue
        fig.add_trace(
            go.Scatter(
                x=[p.dcr_pct for p in points],
                y=[p.days if p.days is not None else BEYOND_DAYS for p in points],
                mode="markers",
                name=Cause(cause).label,
                marker={
                    "color": CAUSE_COLOURS.get(cause, "#718096"),
                    "size": 11,
                    "symbol": ["triangle-up" if p.beyond_horizon else "circle" for p in points],
                },
                customdata=[p.battery_id for p in points],
                hovertext=[
                    f"{p.battery.bank.name} #{p.battery.position}: DCR {p.dcr_pct:.0f} %<br>"
                    f"replace {p.replace_on or 'beyond three years'}"
                    + (
                        f" ({p.replace_early or '?'} .. {p.replace_late or 'beyond'})"
                        if p.replace_on
                        else ""
                    )
                    + f"<br>{Cause(cause).label}"
                    for p in points
                ],
                hoverinfo="text",
            )
        )
    fig.add_vline(x=120, line={"dash": "dot", "color": "#b7791f"}, annotation_text="+20 %")
    fig.add_vline(x=150, line={"dash": "dot", "color": "#c53030"}, annotation_text="+50 %")
    fig.update_xaxes(title_text="Current DCR, % of baseline")
    fig.update_yaxes(
        title_text="Predicted days to replacement (top: beyond 3 years)",
        range=[-30, BEYOND_DAYS + 60],
    )
    fig.update_layout(title={"text": title, "x": 0.01})
    return fig


@app.callback(Output("forecast-scatter", "figure"), Input("page", "pathname"))
def update_chart(pathname: str | None, **kwargs: Any) -> go.Figure:
    """Re-checks access: the bank or site must be visible to the user of *this* request."""
    scope = scope_of(pathname, user_of(kwargs))
    if scope is None:
        return empty_figure("Not found")
    kind, obj = scope
    return figure(f"{obj.name}: remaining life against DCR", lives_of(kind, obj))


@app.callback(
    Output("go", "href"),
    Input("forecast-scatter", "clickData"),
    State("page", "pathname"),
    prevent_initial_call=True,
)
def open_battery(click: dict[str, Any] | None, pathname: str | None, **kwargs: Any) -> Any:
    """Clicking a point opens the battery, if it belongs to the (visible) bank or site."""
    try:
        battery_id = int(click["points"][0]["customdata"])  # type: ignore[index]
    except (TypeError, KeyError, IndexError, ValueError):
        return no_update
    user = user_of(kwargs)
    scope = scope_of(pathname, user)
    if scope is None:
        return no_update
    kind, obj = scope
    field = "bank" if kind == "bank" else "bank__site"
    battery = Battery.objects.for_user(user).filter(pk=battery_id, **{field: obj}).first()
    return battery.get_absolute_url() if battery else no_update
