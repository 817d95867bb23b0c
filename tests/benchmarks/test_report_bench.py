"""Time to build the PDF report of a 254-battery site with a month of history (``make bench``).

The whole on-demand path after the request is parsed: gather the content (about ten queries on
the hourly rollups), draw the matplotlib charts, render the template and lay it out with
WeasyPrint. Target (issue 7): under 10 s. Prints one ``BENCH report_site`` line.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from alarms.choices import RuleKind, Severity
from sites.management.commands.generate_history import generate
from sites.models import Battery
from sites.reports import actions, render
from sites.reports.choices import PeriodKind
from sites.reports.periods import period_containing
from tests.benchmarks.conftest import bench_line, stopwatch
from tests.benchmarks.test_page_bench import _big_site
from tests.conftest import make_user
from tests.reports.conftest import make_alarm

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]

END = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)


def test_report_site_bench() -> None:
    site = _big_site()
    generate(site, days=32, raw_hours=2, step=600, end=END)
    batteries = list(Battery.objects.filter(bank__site=site).order_by("pk"))
    start = dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    for i, battery in enumerate(batteries[:60]):
        raised = start + dt.timedelta(hours=11 * i)
        cleared = raised + dt.timedelta(hours=3) if i % 3 else None
        make_alarm(battery, RuleKind.DCR_RISE, Severity.WARNING, raised, cleared_at=cleared)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    period = period_containing(PeriodKind.MONTHLY, dt.date(2026, 11, 15), site.tz)
    user = make_user("bench-admin", superuser=True)
    actions.build_report(user, site, period, END)  # warm-up: imports, fonts, matplotlib caches
    with stopwatch() as elapsed:
        report = actions.build_report(user, site, period, END)
        pdf = render.pdf(report)
    assert pdf.startswith(b"%PDF") and report.headline["batteries"] == 254
    days = round(period.hours / 24)
    bench_line("report_site", seconds=elapsed[0], batteries=len(batteries), days=days)
