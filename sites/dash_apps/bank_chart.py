"""Bank view: one parameter across the string's positions, with the bank mean and thresholds.

Each point is coloured by its battery's level, so the weak block stands out; clicking a point
opens that battery's page (after checking the user may see it).
"""

from __future__ import annotations

import statistics
from typing import Any

import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update

from sites.dash_apps.common import (
    COLOURS,
    GRAPH_CONFIG,
    LAYOUT,
    PortalDash,
    empty_figure,
    id_from_path,
    user_of,
)
from sites.models import Bank, Battery
from sites.queries import LiveBattery, bank_batteries
from sites.status import (
    DCR_ALARM_RATIO,
    DCR_WARNING_RATIO,
    TEMPERATURE_ALARM_C,
    TEMPERATURE_WARNING_C,
)

APP_NAME = "bank_chart"
VOLTAGE_BAND = 0.03  # float voltage +-3 %: drawn as a guide, not (yet) an alarm rule
PARAMETERS = {
    "voltage": "Voltage (V)",
    "temperature": "Temperature (C)",
    "dcr": "DCR (mOhm)",
    "dcr_pct": "DCR % of baseline",
    "micro_voltage": "Micro-discharge (V)",
    "emf": "EMF (V)",
}

app = PortalDash(APP_NAME, serve_locally=True)
app.layout = html.Div(
    className="dash-chart",
    children=[
        dcc.Location(id="page", refresh=False),
        dcc.Location(id="go", refresh=True),
        html.Div(
            className="chart-controls",
            children=[
                dcc.RadioItems(
                    id="parameter",
                    options=[{"label": v, "value": k} for k, v in PARAMETERS.items()],
                    value="voltage",
                    inline=True,
                    className="radio-group",
                ),
                dcc.RadioItems(
                    id="kind",
                    options=[
                        {"label": "Points", "value": "scatter"},
                        {"label": "Bars", "value": "bar"},
                    ],
                    value="scatter",
                    inline=True,
                    className="radio-group",
                ),
            ],
        ),
        dcc.Graph(id="bank-chart", config=GRAPH_CONFIG, style={"height": "420px"}),
    ],
)


def thresholds(parameter: str, bank: Bank, rows: list[LiveBattery]) -> list[tuple[float, str, str]]:
    """(value, label, level) lines to draw for a parameter of this bank."""
    if parameter == "voltage" and bank.positions:
        per_unit = float(bank.float_voltage) / bank.positions
        return [
            (per_unit * (1 + VOLTAGE_BAND), f"float +{VOLTAGE_BAND:.0%}", "warning"),
            (per_unit * (1 - VOLTAGE_BAND), f"float -{VOLTAGE_BAND:.0%}", "warning"),
        ]
    if parameter == "temperature":
        return [
            (TEMPERATURE_WARNING_C, "warning", "warning"),
            (TEMPERATURE_ALARM_C, "alarm", "alarm"),
        ]
    if parameter == "dcr_pct":
        return [
            (DCR_WARNING_RATIO * 100, "warning", "warning"),
            (DCR_ALARM_RATIO * 100, "alarm", "alarm"),
        ]
    if parameter == "dcr":
        baselines = [r.dcr / (r.dcr_pct / 100) for r in rows if r.dcr and r.dcr_pct]
        if baselines:
            base = statistics.fmean(baselines)
            return [
                (base * DCR_WARNING_RATIO, "baseline +20 %", "warning"),
                (base * DCR_ALARM_RATIO, "baseline +50 %", "alarm"),
            ]
    return []


def figure(bank: Bank, rows: list[LiveBattery], parameter: str, kind: str) -> go.Figure:
    """The chart of one parameter across positions (points or bars), mean and thresholds."""
    label = PARAMETERS.get(parameter, parameter)
    points = [r for r in rows if getattr(r, parameter) is not None]
    if not points:
        return empty_figure(f"No {label.lower()} reported yet")
    x = [r.position for r in points]
    y = [getattr(r, parameter) for r in points]
    colours = [COLOURS[r.level] for r in points]
    hover = [
        f"#{r.position}: {getattr(r, parameter)}<br>{r.level} - {r.reason}<br>{r.ts_local}"
        for r in points
    ]
    common: dict[str, Any] = {
        "x": x,
        "y": y,
        "customdata": [r.id for r in points],
        "hovertext": hover,
        "hoverinfo": "text",
        "name": label,
    }
    if kind == "bar":
        trace: Any = go.Bar(marker={"color": colours}, **common)
    else:
        sizes = [14 if r.level in ("alarm", "warning") else 9 for r in points]
        trace = go.Scatter(mode="markers", marker={"color": colours, "size": sizes}, **common)
    fig = go.Figure(trace, layout={**LAYOUT, "height": 420, "showlegend": False})
    mean = statistics.fmean(y)
    fig.add_hline(
        y=mean,
        line={"dash": "dash", "color": "#2b6cb0"},
        annotation_text=f"mean {mean:.3g}",
        annotation_position="top left",
    )
    for value, text, level in thresholds(parameter, bank, rows):
        fig.add_hline(
            y=value,
            line={"dash": "dot", "color": COLOURS[level]},
            annotation_text=text,
            annotation_position="bottom right",
        )
    fig.update_xaxes(title_text="Position", dtick=1 if len(x) <= 40 else None)
    fig.update_yaxes(title_text=label)
    if kind == "bar":
        low = min(y + [v for v, _, _ in thresholds(parameter, bank, rows)])
        fig.update_yaxes(range=[low * 0.98, max(y) * 1.02])
    fig.update_layout(title={"text": f"{bank.name}: {label} by position", "x": 0.01})
    return fig


@app.callback(
    Output("bank-chart", "figure"),
    Input("page", "pathname"),
    Input("parameter", "value"),
    Input("kind", "value"),
)
def update_chart(pathname: str | None, parameter: str, kind: str, **kwargs: Any) -> go.Figure:
    """Re-checks access: the bank must be visible to the user of *this* request."""
    bank_id = id_from_path(pathname, "banks")
    bank = (
        Bank.objects.for_user(user_of(kwargs)).select_related("site").filter(pk=bank_id).first()
        if bank_id
        else None
    )
    if bank is None:
        return empty_figure("Bank not found")
    return figure(bank, bank_batteries(bank), parameter or "voltage", kind or "scatter")


@app.callback(
    Output("go", "href"),
    Input("bank-chart", "clickData"),
    State("page", "pathname"),
    prevent_initial_call=True,
)
def open_battery(click: dict[str, Any] | None, pathname: str | None, **kwargs: Any) -> Any:
    """Clicking a point opens that battery, if it is one of this (visible) bank's batteries."""
    try:
        battery_id = int(click["points"][0]["customdata"])  # type: ignore[index]
    except (TypeError, KeyError, IndexError, ValueError):
        return no_update
    bank_id = id_from_path(pathname, "banks")
    battery = (
        Battery.objects.for_user(user_of(kwargs)).filter(pk=battery_id, bank_id=bank_id).first()
    )
    return battery.get_absolute_url() if battery else no_update
