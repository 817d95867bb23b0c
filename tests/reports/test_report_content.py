"""The report's content, PDF and CSV: real tables and charts, the same rows in both, and a
constant number of queries whatever the number of sites."""

from __future__ import annotations

import csv
import io
import logging
import shutil
import subprocess
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sites.models import Site
from sites.reports import actions, content, render
from sites.reports.periods import period_containing
from tests.reports.conftest import NOW, WEEK_DAY, week


def pdf_text(data: bytes, tmp_path: Any) -> str:
    """The PDF's text (pdftotext from poppler-utils)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_site_report_pdf_has_tables_charts_header_and_page_numbers(history, tmp_path, caplog):
    site = history.sites[0]
    report = actions.build_report(history.manager, site, week(site), NOW)
    html = render.html(report)
    assert html.count('src="data:image/svg+xml;base64,') == 4  # drift, bank DCR, voltage, avail.
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        text = pdf_text(render.pdf(report), tmp_path)
    # A report worker's log holds what went wrong, not a warning per chart element.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("weasyprint")] == []
    for expected in (
        "Site 1",
        "week 2026-W47 (2026-11-16 to 2026-11-22)",
        "Health summary",
        "Alarms of the period",
        "block voltage low",
        "Batteries out of threshold at period end",
        "Worst DCR drift",
        "String B",
        "Forecasts and replacement plan",
        "No forecast yet.",
        "Data availability per gateway",
        "Page 1 of",
        "Generated 2026-11-24 10:00 CET",
        "DCR, % of baseline",  # the charts' text, drawn as text
        "unit-hours with data, %",
    ):
        assert expected in text, expected
    assert "temperature high" not in text  # cleared a month before the week


def test_alarm_durations_are_measured_from_raise_to_ack_and_clear(history):
    site = history.sites[0]
    table = content.period_alarms([site.pk], week(site), NOW)
    dcr, volt = table.rows
    assert dcr["acknowledged_after"].total_seconds() == 2 * 3600
    assert dcr["open_for"].total_seconds() == 24 * 3600
    assert volt["cleared_at"] is None
    assert volt["open_for"] == NOW - volt["raised_at"]  # still open: counted up to now


def test_weak_block_tops_the_dcr_drift_and_is_out_of_threshold(history):
    site = history.sites[0]
    report = actions.build_report(history.manager, site, week(site), NOW)
    top = report.table("dcr_drift").rows[0]
    assert top["bank"] == "String B" and top["dcr_pct"] > 140
    rules = {(r["bank"], r["position"], r["rule"]) for r in report.table("out_of_threshold").rows}
    assert (
        "String B",
        top["position"],
        "internal resistance (DCR) risen over its baseline",
    ) in rules
    (gw,) = report.table("availability").rows
    assert gw["units"] == 15 and gw["availability_pct"] == pytest.approx(100.0)


def test_csv_holds_every_section_in_one_file(history):
    site = history.sites[0]
    report = actions.build_report(history.manager, site, week(site), NOW)
    rows = list(csv.DictReader(io.StringIO(render.csv_text(report))))
    sections = {r["section"] for r in rows}
    assert sections == {"health", "alarms", "out_of_threshold", "dcr_drift", "availability"}
    alarms = [r for r in rows if r["section"] == "alarms"]
    assert [a["kind"] for a in alarms] == [
        "internal resistance (DCR) risen over its baseline",
        "block voltage low",
    ]
    assert alarms[0]["acknowledged_after"] == "7200"  # seconds
    assert alarms[0]["raised_at"] == "2026-11-18T08:00:00+00:00"
    assert next(r for r in rows if r["section"] == "health")["batteries"] == "15"


def test_query_count_does_not_grow_with_sites(history):
    site = history.sites[0]
    period = period_containing("weekly", WEEK_DAY, site.tz)
    with CaptureQueriesContext(connection) as one:
        content.gather([site.pk], period, title="x", scope="site", now=NOW)
    ids = list(Site.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as three:
        content.gather(ids, period, title="x", scope="fleet", now=NOW)
    assert len(one) == len(three) <= 12
