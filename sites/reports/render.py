"""Turning a gathered report into files: Django template -> HTML -> WeasyPrint PDF, and one CSV.

The CSV holds every table of the report in one file: the first column, ``section``, names the
table (health, alarms, out_of_threshold, dcr_drift, forecast, availability); the other columns
are the union of the tables' columns, each row filling its own (docs/reports.md lists them).
"""

from __future__ import annotations

import base64
import csv
import io
import logging
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import slugify

from sites.reports.choices import PeriodKind
from sites.reports.tables import Report, Table, csv_value, fmt_cell, fmt_duration

#: WeasyPrint logs every layout step at INFO: keep a report's log to our own lines.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

SECTION_ORDER = ("health", "alarms", "out_of_threshold", "dcr_drift", "forecast", "availability")
CHART_ALT = {
    "dcr_drift": "Worst DCR drift, % of baseline",
    "bank_dcr": "DCR by position per bank, % of baseline",
    "string_voltage": "String voltage per bank over the period",
    "availability": "Data availability per gateway, %",
}


@dataclass
class PdfTable:
    """A table as the template shows it: labels and already formatted cells."""

    key: str
    title: str
    headers: list[str]
    rows: list[tuple[str, list[str]]]  # (row CSS class, cells)
    note: str
    empty: str


def _pdf_table(table: Table, tz: Any, *, hide: frozenset[str] = frozenset()) -> PdfTable:
    """``hide``: columns the PDF leaves out (the site column of a one-site report)."""
    columns = [c for c in table.columns if c.key not in hide]
    rows = [
        (
            str(row.get("severity") or row.get("status") or ""),
            [fmt_cell(row.get(c.key), c.kind, tz) for c in columns],
        )
        for row in table.pdf_rows
    ]
    return PdfTable(
        table.key, table.title, [c.label for c in columns], rows, table.note, table.empty
    )


def css_string(value: str) -> str:
    """Text for a CSS ``content: "..."`` string (page header and footer): quotes, backslashes
    and line breaks escaped the CSS way (the template's HTML escaping does not apply in CSS)."""
    out = []
    for ch in value:
        if ch in "\\\"'<>&" or ord(ch) < 32:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return "".join(out)


def chart_img(svg: str, alt: str) -> SafeString:
    """A chart as an ``<img>`` holding its SVG as a data URL; empty when there is no chart.

    Not inline ``<svg>``: WeasyPrint draws both the same (vectors, text as text), but it also
    reads the style attributes of inline SVG as the page's CSS and logs a warning for each
    ``fill``/``stroke`` it does not know there, hundreds per report.
    """
    if not svg:
        return SafeString("")
    data = base64.b64encode(svg.encode()).decode("ascii")
    return format_html('<img alt="{}" src="data:image/svg+xml;base64,{}">', alt, data)


def html(report: Report) -> str:
    """The report as one self-contained HTML document (inline CSS, charts as data URLs)."""
    tz = report.period.tz
    hide = frozenset({"site"} if report.scope == "site" else ())
    tables = {
        key: _pdf_table(t, tz, hide=frozenset() if key == "health" else hide)
        for key, t in report.tables.items()
    }
    stats = report.headline.get("alarms", {})
    generated = report.generated_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    context = {
        "report": report,
        "kind_label": PeriodKind(report.period.kind).label,
        "css": {
            "title": css_string(report.title),
            "period": css_string(report.period.label),
            "generated": css_string(generated),
        },
        "period": report.period,
        "tz_name": str(tz),
        "generated_local": generated,
        "h": report.headline,
        "alarm_stats": stats,
        "median_ack": fmt_duration(stats.get("median_ack")),
        "median_open": fmt_duration(stats.get("median_open")),
        "tables": tables,
        "charts": {k: chart_img(v, CHART_ALT.get(k, k)) for k, v in report.charts.items()},
    }
    return render_to_string("reports/report.html", context)


def pdf(report: Report) -> bytes:
    """The report as an A4 PDF (WeasyPrint, imported here: it loads pango on first use)."""
    from weasyprint import HTML

    return HTML(string=html(report)).write_pdf()


def csv_text(report: Report) -> str:
    """Every table of the report in one CSV with a leading ``section`` column."""
    tables = [report.tables[k] for k in SECTION_ORDER if k in report.tables]
    columns: list[str] = []
    kinds: dict[str, str] = {}
    for table in tables:
        for column in table.columns:
            if column.key not in kinds:
                columns.append(column.key)
                kinds[column.key] = column.kind
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", *columns])
    for table in tables:
        own = {c.key for c in table.columns}
        for row in table.rows:
            writer.writerow(
                [table.key]
                + [csv_value(row.get(key), kinds[key]) if key in own else "" for key in columns]
            )
    return out.getvalue()


def filename(report: Report, ext: str) -> str:
    """'bms-report-site-1-2026-W48.pdf', 'bms-report-fleet-2026-11.csv'."""
    who = slugify(report.title) if report.scope == "site" else "fleet"
    return f"bms-report-{who}-{report.period.slug}.{ext}"
