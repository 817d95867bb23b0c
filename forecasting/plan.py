"""The replacement plan: batteries predicted to reach replacement (DCR +50 %) within a year."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from forecasting.models import RemainingLife

#: (label, months, days) of the plan's windows
WINDOWS = (("3 months", 3, 91), ("6 months", 6, 182), ("12 months", 12, 365))
CSV_HEADER = [
    "site",
    "bank",
    "position",
    "serial",
    "battery_id",
    "window",
    "replace_on",
    "replace_early",
    "replace_late",
    "warning_on",
    "dcr_pct",
    "cause",
    "evidence",
]


@dataclass
class PlanRow:
    life: RemainingLife
    window: str


def window_of(replace_on: dt.date | None, today: dt.date) -> str | None:
    """The first window the date falls in ("3 months" ...), None when later or unknown."""
    if replace_on is None:
        return None
    for label, _, days in WINDOWS:
        if replace_on <= today + dt.timedelta(days=days):
            return label
    return None


def plan_rows(site_ids: Iterable[int], today: dt.date) -> list[PlanRow]:
    """Batteries of these sites due within 12 months, soonest first (one query)."""
    horizon = today + dt.timedelta(days=WINDOWS[-1][2])
    lives = (
        RemainingLife.objects.filter(
            battery__bank__site_id__in=list(site_ids), replace_on__lte=horizon
        )
        .select_related("battery__bank__site")
        .order_by("replace_on", "battery__bank__site__name", "battery__bank__name")
    )
    return [PlanRow(life, window_of(life.replace_on, today) or "") for life in lives]


def csv_row(row: PlanRow) -> list[object]:
    life, b = row.life, row.life.battery
    return [
        b.bank.site.name,
        b.bank.name,
        b.position,
        b.serial,
        b.pk,
        row.window,
        life.replace_on,
        life.replace_early or "",
        life.replace_late or "",
        life.warning_on or "",
        round(life.dcr_pct, 1) if life.dcr_pct else "",
        life.get_cause_display(),
        life.evidence,
    ]
