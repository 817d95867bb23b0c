"""Template tags other apps' pages can use: ``{% load alarms_tags %}``.

- ``{% alarm_thresholds battery %}``: the battery's effective thresholds and their sources.
- ``{% relay_panel site %}``: the dry-contact relays of the site's gateways (asked / reported).
- ``{% site_status_badge status %}``: a status pill (ok / warning / alarm / offline).
"""

from __future__ import annotations

from typing import Any

from django import template

from alarms.relays import relay_panel as _relay_panel
from alarms.thresholds import effective_thresholds

register = template.Library()


@register.inclusion_tag("alarms/_thresholds_table.html")
def alarm_thresholds(battery: Any) -> dict[str, Any]:
    return {"thresholds": effective_thresholds(battery)}


@register.inclusion_tag("alarms/_relays.html")
def relay_panel(site: Any) -> dict[str, Any]:
    return {"gateways": [(g, _relay_panel(g)) for g in site.gateways.order_by("name")]}


@register.simple_tag
def site_status_badge(status: str | None) -> str:
    from django.utils.html import format_html

    value = status or "unknown"
    return format_html('<span class="status {}">{}</span>', value, value)
