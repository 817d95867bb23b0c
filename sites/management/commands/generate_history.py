"""``manage.py generate_history --site SLUG --days N``: plausible reading history for one site.

For demos, screenshots, browser tests and benchmarks. Writes:

- raw BMU and CMU readings for the last ``--raw-hours`` (every ``--step`` seconds) through the
  acquisition COPY path (``storage.store_batch``), which also fills the latest-value tables;
- hourly rollups for the older part of the ``--days`` window, generated in one server-side
  ``INSERT ... SELECT generate_series`` (a year of 254 batteries is 2.2 M rows: shipping them
  from Python would take longer than computing them in PostgreSQL);
- the hourly rollups of the raw window and every daily rollup with ``storage.rollup``.

One battery in about twenty-five ages (its DCR climbs to ~160 % of baseline and its voltage
sags) and one drifts to ~125 %, so the charts and the fleet overview have something to show;
the strings go through one two-hour discharge a day before the end of the raw window.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from acquisition import storage
from sites.choices import BatteryStatus
from sites.models import Bank, Battery, Site

DISCHARGE_HOURS = 2.0


@dataclass
class Profile:
    """How one battery behaves over the generated window."""

    battery_id: int
    bank_id: int
    float_v: float
    dcr0: float
    dcr_growth: float  # fraction of baseline added by the end of the window
    v_sag: float  # volts lost by the end of the window
    t_offset: float


def _profiles(batteries: list[Battery], rng: random.Random) -> list[Profile]:
    out = []
    for i, b in enumerate(batteries):
        float_v = float(b.model.float_voltage or b.model.nominal_voltage * 1.135)
        default_dcr = 4.0 if b.model.unit_type == "H" else 0.5
        dcr0 = float(b.dcr_baseline_mohm or default_dcr) * rng.uniform(0.97, 1.05)
        growth, sag = rng.uniform(0.0, 0.08), 0.0
        if i % 25 == 7:
            growth, sag = 0.6, float_v * 0.015  # the weak block
        elif i % 25 == 18:
            growth = 0.25
        out.append(Profile(b.pk, b.bank_id, float_v, dcr0, growth, sag, rng.uniform(-1.0, 2.5)))
    return out


def _hourly_sql() -> str:
    """Synthetic hourly rollups: trend over the window, a daily temperature cycle, noise."""
    return """
    INSERT INTO acquisition_hourlyrollup (
        battery_id, bucket, n,
        voltage_min, voltage_avg, voltage_max, temperature_min, temperature_avg, temperature_max,
        dcr_min, dcr_avg, dcr_max, micro_voltage_min, micro_voltage_avg, micro_voltage_max,
        emf_min, emf_avg, emf_max)
    SELECT p.id, h, %(n)s,
        v - 0.01 * p.fv, v, v + 0.005 * p.fv, t - 0.4, t, t + 0.4,
        r * 0.99, r, r * 1.01, v - 0.03 * p.fv, v - 0.02 * p.fv, v - 0.01 * p.fv,
        v + 0.002 * p.fv, v + 0.004 * p.fv, v + 0.006 * p.fv
    FROM unnest(%(ids)s::int[], %(fv)s::float8[], %(dcr)s::float8[], %(growth)s::float8[],
                %(sag)s::float8[], %(toff)s::float8[]) AS p(id, fv, dcr, growth, sag, toff)
    CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour',
                               interval '1 hour') AS h
    CROSS JOIN LATERAL (SELECT extract(epoch FROM h - %(start)s::timestamptz)
                               / %(span)s AS f) AS frac
    CROSS JOIN LATERAL (SELECT
        p.fv - p.sag * frac.f + (random() - 0.5) * 0.004 * p.fv AS v,
        22 + p.toff + 3 * sin(2 * pi() * extract(hour FROM h) / 24) + random() * 0.3 AS t,
        p.dcr * (1 + p.growth * frac.f) * (1 + (random() - 0.5) * 0.02) AS r) AS val
    ON CONFLICT (battery_id, bucket) DO NOTHING
    """


def _write_hourly(
    profiles: list[Profile], start: dt.datetime, end: dt.datetime, span: float, step: int
) -> None:
    """Hourly rollups for [start, end); trends run over ``span`` seconds from ``start``."""
    if end <= start:
        return
    params = {
        "n": max(1, 3600 // step),
        "ids": [p.battery_id for p in profiles],
        "fv": [p.float_v for p in profiles],
        "dcr": [p.dcr0 for p in profiles],
        "growth": [p.dcr_growth for p in profiles],
        "sag": [p.v_sag for p in profiles],
        "toff": [p.t_offset for p in profiles],
        "start": start,
        "end": end,
        "span": span,
    }
    with connection.cursor() as cursor:
        cursor.execute(_hourly_sql(), params)


def _current(ts: dt.datetime, discharge_at: dt.datetime) -> float:
    """String current: float, a discharge, then a tapering recharge."""
    hours = (ts - discharge_at).total_seconds() / 3600
    if 0 <= hours < DISCHARGE_HOURS:
        return -35.0
    if DISCHARGE_HOURS <= hours < DISCHARGE_HOURS + 6:
        return 12.0 * math.exp(-(hours - DISCHARGE_HOURS))
    return 0.2


def _raw_rows(
    profiles: list[Profile],
    banks: list[Bank],
    times: list[dt.datetime],
    window: tuple[dt.datetime, dt.datetime],
    rng: random.Random,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    start, end = window
    total = (end - start).total_seconds() or 1.0
    discharge_at = end - dt.timedelta(hours=24)
    battery_rows, bank_rows = [], []
    by_bank: dict[int, list[Profile]] = {}
    for p in profiles:
        by_bank.setdefault(p.bank_id, []).append(p)
    for ts in times:
        frac = (ts - start).total_seconds() / total
        amps = _current(ts, discharge_at)
        dip = 0.06 if amps < 0 else (0.01 if amps > 1 else 0.0)
        hour = ts.hour + ts.minute / 60
        for p in profiles:
            v = p.float_v * (1 - dip) - p.v_sag * frac + rng.uniform(-0.002, 0.002) * p.float_v
            t = 22 + p.t_offset + 3 * math.sin(2 * math.pi * hour / 24) + rng.uniform(0, 0.3)
            r = p.dcr0 * (1 + p.dcr_growth * frac) * rng.uniform(0.99, 1.01)
            emf = round(v + 0.004 * p.float_v, 3)
            battery_rows.append(
                (
                    p.battery_id,
                    ts,
                    round(v, 3),
                    round(t, 1),
                    round(r, 3),
                    round(v - 0.02, 3),
                    emf,
                    0,
                )
            )
        for bank in banks:
            members = by_bank.get(bank.pk, [])
            string_v = sum(p.float_v for p in members) * (1 - dip)
            bank_rows.append((bank.pk, ts, round(string_v, 2), round(amps, 1), 22.5, 0))
    return battery_rows, bank_rows


def generate(
    site: Site,
    *,
    days: float,
    raw_hours: float = 48,
    step: int = 120,
    end: dt.datetime | None = None,
    seed: int = 1,
) -> dict[str, int]:
    """Fill ``site``'s history for ``days`` up to ``end`` (now); returns counts of what it wrote."""
    rng = random.Random(seed)
    end = (end or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    start = (end - dt.timedelta(days=days)).replace(minute=0, second=0)
    raw_start = max(start, end - dt.timedelta(hours=raw_hours)).replace(minute=0, second=0)
    batteries = list(
        Battery.objects.filter(bank__site=site, status=BatteryStatus.IN_SERVICE)
        .select_related("model")
        .order_by("bank__name", "position")
    )
    banks = list(Bank.objects.filter(site=site).order_by("name"))
    profiles = _profiles(batteries, rng)
    _write_hourly(profiles, start, raw_start, (end - start).total_seconds(), step)
    times = []
    ts = raw_start
    while ts <= end:
        times.append(ts)
        ts += dt.timedelta(seconds=step)
    storage.ensure_partitions_for({t.date() for t in times})
    written = 0
    chunk = max(1, 20000 // max(1, len(profiles)))
    for i in range(0, len(times), chunk):
        window = (start, end)
        battery_rows, bank_rows = _raw_rows(profiles, banks, times[i : i + chunk], window, rng)
        with transaction.atomic():
            written += storage.store_batch(battery_rows, bank_rows)[0]
    storage.rollup("hour", raw_start, end + dt.timedelta(hours=1))
    storage.rollup("day", start, end + dt.timedelta(days=1))
    return {"batteries": len(profiles), "raw_rows": written, "scans": len(times)}


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--site", required=True, help="slug of the site")
        parser.add_argument("--days", type=float, default=30, help="history length (days)")
        parser.add_argument(
            "--raw-hours", type=float, default=48, help="raw readings for the last hours"
        )
        parser.add_argument("--step", type=int, default=120, help="seconds between raw scans")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        site = Site.objects.filter(slug=options["site"]).first()
        if site is None:
            raise CommandError(f"no site with slug {options['site']!r}")
        if options["step"] < 10:
            raise CommandError("--step must be at least 10 s (the shortest scan)")
        counts = generate(
            site,
            days=options["days"],
            raw_hours=options["raw_hours"],
            step=options["step"],
            seed=options["seed"],
        )
        self.stdout.write(
            f"{site.name}: {counts['batteries']} batteries, {counts['scans']} scans, "
            f"{counts['raw_rows']} raw readings; rollups over {options['days']:g} days"
        )
