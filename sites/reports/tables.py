"""The shapes a report is made of: tables of typed columns, shared by the PDF and the CSV.

The PDF formats each cell by its column's ``kind``; the CSV writes the raw value (numbers as
numbers, times in ISO 8601 UTC, durations in seconds), so both always carry the same rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sites.reports.periods import Period


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    #: text, int, num1, num2, num3, pct, time (aware datetime), duration (timedelta)
    kind: str = "text"


@dataclass
class Table:
    """One section's table; ``key`` is the CSV's ``section`` value."""

    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    empty: str = "None in this period."
    #: the PDF shows at most this many rows (the CSV has them all)
    pdf_limit: int = 300

    @property
    def pdf_rows(self) -> list[dict[str, Any]]:
        return self.rows[: self.pdf_limit]

    @property
    def truncated(self) -> int:
        return max(0, len(self.rows) - self.pdf_limit)


@dataclass
class SiteRef:
    id: int
    name: str
    time_zone: str


@dataclass
class Report:
    """Everything one report shows, gathered by ``content.gather``."""

    title: str
    scope: str  # "site" or "fleet"
    period: Period
    generated_at: dt.datetime
    sites: list[SiteRef]
    headline: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    charts: dict[str, str] = field(default_factory=dict)  # name -> SVG markup
    forecast_message: str = ""

    def table(self, key: str) -> Table:
        return self.tables[key]


def fmt_duration(value: dt.timedelta | None) -> str:
    """'45 s', '12 min', '3 h 05 min', '2 d 04 h'."""
    if value is None:
        return "-"
    s = int(value.total_seconds())
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600:02d} h"


def fmt_cell(value: Any, kind: str, tz: Any) -> str:
    """A cell as the PDF shows it (times in the report's time zone)."""
    if value is None or value == "":
        return "-"
    if kind == "time":
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if kind == "duration":
        return fmt_duration(value)
    if kind == "pct":
        return f"{value:.1f} %"
    if kind.startswith("num"):
        return f"{value:.{int(kind[3:])}f}"
    return str(value)


def csv_value(value: Any, kind: str) -> Any:
    """A cell as the CSV writes it: ISO times (UTC), durations in seconds, numbers unformatted."""
    if value is None:
        return ""
    if kind == "time":
        return value.astimezone(dt.UTC).isoformat()
    if kind == "duration":
        return int(value.total_seconds())
    if isinstance(value, float):
        return round(value, 4)
    return value
