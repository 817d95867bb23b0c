"""Fixtures for the report tests: the shared three-site fleet with two weeks of history on
site 1 and a few alarms, a fixed clock, and the loopback SMTP server of the alarms tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from alarms.choices import AlarmState, RuleKind, Scope, Severity
from alarms.models import Alarm
from sites.management.commands.generate_history import generate
from sites.models import Battery
from sites.reports.choices import PeriodKind
from sites.reports.periods import Period, period_containing
from tests.alarms.conftest import SmtpServer, free_port, smtp  # noqa: F401  (fixture)
from tests.conftest import Fleet, make_bank

#: "Now" of these tests: a Tuesday; the last complete week is 2026-11-16 .. 2026-11-22 (Paris).
NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
WEEK_DAY = dt.date(2026, 11, 18)


def week(site: Any) -> Period:
    return period_containing(PeriodKind.WEEKLY, WEEK_DAY, site.tz)


def make_alarm(battery: Battery, kind: str, severity: str, raised: dt.datetime, **fields: Any):
    state = AlarmState.CLEARED if fields.get("cleared_at") else AlarmState.ACTIVE
    if fields.get("acknowledged_at") and not fields.get("cleared_at"):
        state = AlarmState.ACKNOWLEDGED
    return Alarm.objects.create(
        kind=kind,
        scope=Scope.BATTERY,
        object_id=battery.pk,
        site=battery.bank.site,
        bank=battery.bank,
        battery=battery,
        severity=severity,
        state=fields.pop("state", state),
        raised_at=raised,
        activated_at=raised,
        unit=fields.pop("unit", "%"),
        **fields,
    )


@pytest.fixture
def history(fleet: Fleet) -> Fleet:
    """Site 1 gets a second bank of 12 blocks and 14 days of history (one weak block drifting to
    ~160 % DCR); sites 2 and 3 a few days. Three alarms on site 1 during the report week."""
    site = fleet.sites[0]
    make_bank(site, batteries=12, name="String B", cmu_address=20, first_address=21)
    generate(site, days=14, raw_hours=2, step=600, end=NOW, seed=3)
    for other in fleet.sites[1:]:
        generate(other, days=3, raw_hours=1, step=600, end=NOW, seed=4)
    b = list(Battery.objects.filter(bank__site=site).order_by("bank__name", "position"))
    t = dt.datetime(2026, 11, 18, 8, 0, tzinfo=dt.UTC)
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    make_alarm(b[1], RuleKind.DCR_RISE, Severity.WARNING, t, value=23.0, threshold=20.0,
               acknowledged_at=t + 2 * hour, cleared_at=t + day)  # fmt: skip
    make_alarm(b[2], RuleKind.VOLTAGE_LOW, Severity.CRITICAL, t + dt.timedelta(days=2),
               value=12.9, threshold=13.08, unit="V")  # fmt: skip
    make_alarm(
        b[3],
        RuleKind.TEMPERATURE_HIGH,
        Severity.WARNING,
        t - dt.timedelta(days=30),
        value=36.0,
        threshold=35.0,
        unit="C",
        cleared_at=t - dt.timedelta(days=29),
    )  # fmt: skip  (before the week: not listed)
    return fleet
