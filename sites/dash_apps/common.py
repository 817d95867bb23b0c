"""Helpers shared by the Dash apps: object ids from the page path, the user, empty figures."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go
from django_plotly_dash import DjangoDash

#: Plotly's toolbar without the links to plotly.com and without sending data anywhere.
GRAPH_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "showLink": False,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
COLOURS = {"ok": "#1b7f3b", "warning": "#b7791f", "alarm": "#c53030", "offline": "#718096"}
LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 56, "r": 16, "t": 36, "b": 44},
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "hovermode": "closest",
}


class PortalDash(DjangoDash):
    """A DjangoDash whose page config names no outside host and no Python version.

    Dash puts ``dash_version_url`` (plotly.com) and ``sys.version`` in the config it embeds in
    the page; its renderer only uses them for the dev-tools version check, which we disable.
    """

    def form_dash_instance(self, *args: Any, **kwargs: Any) -> Any:
        instance = super().form_dash_instance(*args, **kwargs)
        original = instance._config

        def config() -> dict[str, Any]:
            values = original()
            values.pop("dash_version_url", None)
            values.pop("python_version", None)
            values["disable_version_check"] = True
            return values

        instance._config = config
        return instance


def id_from_path(pathname: str | None, prefix: str) -> int | None:
    """``/batteries/12/`` with prefix ``batteries`` -> 12; None when the path does not match."""
    match = re.search(rf"/{prefix}/(\d+)/?$", pathname or "")
    return int(match.group(1)) if match else None


def user_of(kwargs: dict[str, Any]) -> Any:
    """The signed-in user of a callback request (django-plotly-dash injects ``user``)."""
    from django.contrib.auth.models import AnonymousUser

    return kwargs.get("user") or AnonymousUser()


def empty_figure(message: str, height: int = 320) -> go.Figure:
    fig = go.Figure(layout={**LAYOUT, "height": height})
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def local_naive(times: Iterable[dt.datetime], tz: zoneinfo.ZoneInfo) -> list[dt.datetime]:
    """UTC times as naive wall-clock times of the site (Plotly has no time zones)."""
    return [t.astimezone(tz).replace(tzinfo=None) for t in times]
