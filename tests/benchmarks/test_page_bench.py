"""Server time of the portal's pages (``make bench``): the site dashboard of a 254-battery site
with a year of history, and the fleet overview with 1,000 sites. Prints one ``BENCH`` line each.

Measured through Django's test client (the whole request: middleware, session, queries,
template), after a warm-up, as a facility manager (the scoped path). Skipped unless selected with
``-m benchmark`` (``tests/benchmarks/conftest.py``): timings are benchmarks, not assertions.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from acquisition import storage
from sites.choices import BusKind, Role
from sites.management.commands.generate_history import generate
from sites.models import Bank, Battery, Bus, Gateway, Site, SiteMembership
from tests.conftest import (
    make_bank,
    make_battery_model,
    make_bus,
    make_gateway,
    make_site,
    make_user,
)

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]

WARMUP = 5
RUNS = 60


def _analyze() -> None:
    """Planner statistics, as autovacuum keeps them on a real server (fresh bulk data has none)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _percentiles(fn: Callable[[], Any]) -> tuple[float, float]:
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[94], cuts[98]


def _big_site() -> Site:
    """254 batteries in six strings on two RS-485 buses (247 addresses per bus)."""
    site = make_site("Bench site", slug="bench-site")
    gateway, _ = make_gateway(site)
    model = make_battery_model()
    layout = [
        (make_bus(gateway, kind=BusKind.RTU), [40, 40, 40, 40]),
        (make_bus(gateway, kind=BusKind.RTU, serial_port="/dev/ttyUSB1"), [47, 47]),
    ]
    for bus, sizes in layout:
        address = 1
        for size in sizes:
            make_bank(site, bus=bus, batteries=size, model=model, cmu_address=address)
            address += size + 1
    return site


def test_page_site_bench(client: Client) -> None:
    site = _big_site()
    started = time.perf_counter()
    counts = generate(site, days=365, raw_hours=24, step=300)
    setup_s = time.perf_counter() - started
    _analyze()
    user = make_user("bench-manager")
    SiteMembership.objects.create(user=user, site=site, role=Role.MANAGER)
    client.force_login(user)
    url = reverse("sites:site", args=[site.slug])
    assert client.get(url).content.count(b'<tr data-id="') == 254

    p95, p99 = _percentiles(lambda: client.get(url))
    print(f"\n(setup: a year of history for {counts['batteries']} batteries in {setup_s:.1f} s)")
    print(f"BENCH page_site p95_ms={p95:.1f} p99_ms={p99:.1f} batteries={counts['batteries']}")


def _fleet_of(n_sites: int, batteries_per_site: int, user: Any) -> None:
    """Sites, gateways, buses, banks and batteries in bulk; latest values through COPY."""
    model = make_battery_model()
    sites = Site.objects.bulk_create(
        Site(name=f"Site {i:04d}", slug=f"fleet-{i:04d}", time_zone="Europe/Paris")
        for i in range(n_sites)
    )
    gateways = Gateway.objects.bulk_create(
        Gateway(site=s, name="gw", token_hash=f"{s.pk:064x}", token_prefix="bench") for s in sites
    )
    buses = Bus.objects.bulk_create(
        Bus(gateway=g, name="tcp", kind=BusKind.TCP, host="127.0.0.1") for g in gateways
    )
    nominal = model.nominal_voltage * batteries_per_site
    banks = Bank.objects.bulk_create(
        Bank(
            site=s,
            name="String A",
            bus=b,
            cmu_address=1,
            battery_model=model,
            nominal_voltage=nominal,
            float_voltage=nominal * Decimal("1.13"),
            positions=batteries_per_site,
        )
        for s, b in zip(sites, buses, strict=True)
    )
    batteries = Battery.objects.bulk_create(
        Battery(
            bank=k,
            position=p,
            model=model,
            bus=b,
            bmu_address=p + 1,
            dcr_baseline_mohm=Decimal("4.000"),
        )
        for k, b in zip(banks, buses, strict=True)
        for p in range(1, batteries_per_site + 1)
    )
    SiteMembership.objects.bulk_create(
        SiteMembership(user=user, site=s, role=Role.MANAGER) for s in sites
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = []
    for i, b in enumerate(batteries):
        ts = now if i % 97 else now - dt.timedelta(hours=3)  # some silent units
        dcr = 6.4 if i % 53 == 0 else (5.0 if i % 31 == 0 else 4.1)  # some weak blocks
        rows.append((b.pk, ts, 13.5, 24.0, dcr, 13.48, 13.53, 0))
    storage.ensure_partitions_for({now.date(), (now - dt.timedelta(hours=3)).date()})
    with transaction.atomic():
        storage.store_batch(rows, [])


def test_page_fleet_bench(client: Client) -> None:
    user = make_user("fleet-manager")
    _fleet_of(1000, 24, user)
    _analyze()
    client.force_login(user)
    url = reverse("sites:fleet")
    html = client.get(url).content.decode()
    assert "page 1 of 20" in html

    p95, p99 = _percentiles(lambda: client.get(url))
    p95_filtered, _ = _percentiles(lambda: client.get(url + "?status=alarm&page=2"))
    print(f"\n(status filter + page 2: p95 {p95_filtered:.1f} ms; 24 batteries per site)")
    print(f"BENCH page_fleet p95_ms={p95:.1f} p99_ms={p99:.1f} sites=1000")
