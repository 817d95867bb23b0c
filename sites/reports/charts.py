"""The report's charts: matplotlib (Agg backend, no pyplot state) rendered to SVG documents that
the HTML embeds as images (``render.chart_img``), so WeasyPrint draws them as vectors in the PDF.

Text stays text (``svg.fonttype = none``): the SVGs are small, and the PDF is searchable.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sites.reports.batteries import BankSeries
from sites.reports.periods import Period
from sites.reports.tables import Table
from sites.status import DCR_ALARM_RATIO, DCR_WARNING_RATIO

WARN_PCT = DCR_WARNING_RATIO * 100
ALARM_PCT = DCR_ALARM_RATIO * 100
COLORS = {"ok": "#2e7d32", "warning": "#f9a825", "alarm": "#c62828", "none": "#9e9e9e"}
PALETTE = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#546e7a"]
MAX_GATEWAY_BARS = 30
_RC: Any = {  # typed loosely: matplotlib types rc keys as a Literal of every name
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.5,
}


def _svg(fig: Figure) -> str:
    """The figure as SVG markup, without the XML prolog and the DOCTYPE (whose DTD is a URL)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return re.sub(r"^.*?(<svg\b)", r"\1", buf.getvalue(), count=1, flags=re.DOTALL)


def _dcr_color(pct: float | None) -> str:
    if pct is None:
        return COLORS["none"]
    if pct >= ALARM_PCT:
        return COLORS["alarm"]
    if pct >= WARN_PCT:
        return COLORS["warning"]
    return COLORS["ok"]


def _limits(ax: Any, *, vertical: bool) -> None:
    line = ax.axvline if vertical else ax.axhline
    line(WARN_PCT, color=COLORS["warning"], linestyle="--", linewidth=0.8, label="120 % warning")
    line(ALARM_PCT, color=COLORS["alarm"], linestyle="--", linewidth=0.8, label="150 % replace")


def dcr_drift_chart(drift: Table) -> str:
    """Horizontal bars: the worst batteries' DCR as % of baseline, with the 120/150 % lines."""
    rows = list(reversed(drift.rows))
    if not rows:
        return ""
    with rc_context(_RC):
        fig = Figure(figsize=(7.0, 0.8 + 0.22 * len(rows)))
        ax = fig.subplots()
        labels = [f"{r['bank']} #{r['position']}" for r in rows]
        pcts = [r["dcr_pct"] for r in rows]
        ax.barh(labels, pcts, color=[_dcr_color(p) for p in pcts], height=0.7)
        _limits(ax, vertical=True)
        ax.set_xlabel("DCR, % of baseline")
        ax.set_xlim(min(80.0, min(pcts) - 5), max(160.0, max(pcts) + 5))
        ax.legend(loc="lower right", fontsize=7)
        return _svg(fig)


def bank_dcr_chart(banks: Sequence[BankSeries]) -> str:
    """One small bar chart per bank: DCR % of baseline by position, coloured by level."""
    banks = [b for b in banks if any(v is not None for v in b.dcr_pct.values())]
    if not banks:
        return ""
    cols = 1 if len(banks) <= 2 else 2
    rows = (len(banks) + cols - 1) // cols
    with rc_context(_RC):
        fig = Figure(figsize=(7.0, 1.9 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax in axes.flat[len(banks) :]:
            ax.set_visible(False)
        for ax, bank in zip(axes.flat, banks, strict=False):
            positions = sorted(bank.dcr_pct)
            pcts = [bank.dcr_pct[p] or 0.0 for p in positions]
            ax.bar(positions, pcts, color=[_dcr_color(bank.dcr_pct[p]) for p in positions])
            _limits(ax, vertical=False)
            ax.set_title(bank.label, fontsize=8, loc="left")
            ax.set_ylim(0, max(170.0, max(pcts, default=0) + 10))
            ax.set_ylabel("DCR %")
            ax.set_xlabel("position", fontsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        return _svg(fig)


def string_voltage_chart(banks: Sequence[BankSeries], period: Period) -> str:
    """String voltage over the period (hourly, from the rollups): one panel per bank, each on
    its own scale (a 48 V and a 220 V string side by side), sharing the local time axis."""
    banks = [b for b in banks if b.ts]
    if not banks:
        return ""
    with rc_context(_RC):
        fig = Figure(figsize=(7.0, 0.4 + 1.15 * len(banks)), layout="constrained")
        axes = fig.subplots(len(banks), 1, sharex=True, squeeze=False)[:, 0]
        for i, (ax, bank) in enumerate(zip(axes, banks, strict=True)):
            ts = [t.astimezone(period.tz) for t in bank.ts]
            ax.plot(ts, bank.string_voltage, linewidth=0.9, color=PALETTE[i % len(PALETTE)])
            ax.set_title(bank.label, fontsize=7.5, loc="left", pad=2)
            ax.set_ylabel("V")
            ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
        locator = AutoDateLocator(tz=period.tz)
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=period.tz))
        axes[-1].set_xlim(period.start.astimezone(period.tz), period.end.astimezone(period.tz))
        return _svg(fig)


def availability_chart(avail: Table) -> str:
    """Horizontal bars: data availability per gateway (at most ``MAX_GATEWAY_BARS``)."""
    rows = [r for r in avail.rows if r["availability_pct"] is not None][:MAX_GATEWAY_BARS]
    if not rows:
        return ""
    rows.reverse()
    with rc_context(_RC):
        fig = Figure(figsize=(7.0, 0.9 + 0.22 * len(rows)))
        ax = fig.subplots()
        pcts = [r["availability_pct"] for r in rows]
        colors = [
            COLORS["ok"] if p >= 99 else COLORS["warning"] if p >= 90 else COLORS["alarm"]
            for p in pcts
        ]
        labels = [f"{r['site']} / {r['gateway']}" for r in rows]
        bars = ax.barh(labels, pcts, color=colors, height=0.5)
        ax.bar_label(bars, labels=[f"{p:.1f} %" for p in pcts], fontsize=7, padding=2)
        ax.set_xlim(0, 100)
        ax.set_ylim(-0.75, len(rows) - 0.25)  # thin bars even for a single gateway
        ax.set_xlabel("unit-hours with data, %")
        return _svg(fig)


def all_charts(
    drift: Table, banks: Sequence[BankSeries], avail: Table, period: Period
) -> dict[str, str]:
    """Every chart of a report; an empty string where there is nothing to draw."""
    return {
        "dcr_drift": dcr_drift_chart(drift),
        "bank_dcr": bank_dcr_chart(banks),
        "string_voltage": string_voltage_chart(banks, period),
        "availability": availability_chart(avail),
    }
