"""Readings storage at size (``make bench``): ``latest_site``, ``history_year`` and
``storage_bytes_per_reading``, on one shared fill of 10 million readings.

The fill (module fixture, committed, removed afterwards): a site of 254 batteries (two banks of
127 on two buses), ``ROWS`` readings spread evenly over the last ~40 days (one reading per battery
every ~88 s, i.e. ~40 daily partitions) written with binary COPY, the latest table from the
newest day, and a year of hourly rollups for every battery (2.2 million rows, generated in SQL),
then ``VACUUM (ANALYZE)`` (a running portal's partitions are vacuumed long before anyone reads
them; without it autovacuum works through the fresh rows during the measurements).

- ``latest_site``: ``GET /api/v1/latest/?site=ID`` through Django's test client (server time:
  routing, auth, queries, JSON; no network), ``query_p95_ms`` the database part alone.
- ``history_year``: ``GET /api/v1/batteries/ID/readings/?interval=hour`` for a year, end to end
  over HTTP to a gunicorn subprocess (keep-alive connection, session cookie), 8,760 buckets.
- Both run as deployed (``deploy/production.env`` sets ``REDIS_URL``): the cache, which holds
  the API's rate-limit counters, in Redis and sessions read through it (``cached_db``). Without
  a reachable Redis they fall back to the database cache and sessions, and the line says
  ``cache=db``.
- ``api_readings`` (issue 7): the same request as ``history_year``, reported with p99.
- ``storage_bytes_per_reading``: ``pg_total_relation_size`` (heap + TOAST + indexes) of the
  readings partitions divided by their rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, connection
from django.test import Client

from acquisition import storage
from bms_portal.env import cache_settings
from sites.models import Battery, Site
from tests.acquisition.e2e_helpers import Portal
from tests.benchmarks.conftest import bench_line, latency_summary, stopwatch, timings_ms
from tests.conftest import (
    database_url_for_subprocess,
    make_bank,
    make_bus,
    make_gateway,
    make_site,
    make_user,
    redis_url,
)

pytestmark = pytest.mark.benchmark

ROWS = int(os.environ.get("BENCH_STORAGE_ROWS", "10000000"))
BATTERIES = 254
DAYS = 40
REPEAT = 200


@dataclass
class Fill:
    site: Site
    battery_ids: list[int]
    start: dt.datetime
    end: dt.datetime
    rows: int
    seconds: float
    session_cookie: str


def _copy_readings(ids: list[int], start: dt.datetime, steps: int, step: dt.timedelta) -> int:
    """Binary COPY of ``steps`` readings per battery from ``start``; returns the rows written."""
    cols = ", ".join(storage.READING_COLUMNS)
    sql = f"COPY {storage.READING_TABLE} ({cols}) FROM STDIN (FORMAT BINARY)"
    values = [
        (13.5 + (i % 17) * 0.01, 22.0 + (i % 9) * 0.3, 4.0 + (i % 13) * 0.05, 13.47, 13.53, 0)
        for i in range(len(ids))
    ]
    written = 0
    with psycopg.connect(database_url_for_subprocess(), autocommit=True) as conn:
        cur = conn.cursor()
        chunk = max(1, 1_000_000 // len(ids))  # ~1M rows per COPY statement
        for first in range(0, steps, chunk):
            with cur.copy(sql) as copy:
                copy.set_types(list(storage.READING_TYPES))
                for n in range(first, min(first + chunk, steps)):
                    ts = start + n * step
                    for battery_id, v in zip(ids, values, strict=True):
                        copy.write_row((battery_id, ts, *v))
                        written += 1
    return written


def _hourly_rollups(ids: list[int], end: dt.datetime) -> None:
    """A year of hourly rollups for every battery, generated in SQL (2.2M rows)."""
    stats = ", ".join(
        f"{base}, {base} + 0.01, {base} + 0.02"
        for base in ("13.5", "24.0", "4.2", "13.47", "13.53")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO acquisition_hourlyrollup (battery_id, bucket, n, "  # noqa: S608
            f"{', '.join(storage._STAT_COLUMNS)}) "
            f"SELECT b, h, 40, {stats} FROM unnest(%s::int[]) AS b, "
            "generate_series(date_trunc('hour', %s::timestamptz) - interval '365 days', "
            "date_trunc('hour', %s::timestamptz), interval '1 hour') AS h "
            "ON CONFLICT DO NOTHING",
            [ids, end, end],
        )


@pytest.fixture(scope="module")
def fill(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Fill]:
    """The shared 10M-reading site (committed; deleted after the module)."""
    with django_db_blocker.unblock():
        site = make_site()
        gateway, _ = make_gateway(site)
        for _ in range(2):
            make_bank(site, bus=make_bus(gateway), batteries=BATTERIES // 2, cmu_address=None)
        ids = list(
            Battery.objects.filter(bank__site=site).order_by("pk").values_list("pk", flat=True)
        )
        steps = math.ceil(ROWS / len(ids))
        step = dt.timedelta(seconds=round(DAYS * 86400 / steps, 3))
        end = dt.datetime.now(dt.UTC).replace(microsecond=0)
        start = end - steps * step
        storage.ensure_partitions(days_ahead=1, days_back=DAYS + 2)
        with stopwatch() as took:
            rows = _copy_readings(ids, start, steps, step)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO acquisition_latestreading "  # noqa: S608
                f"({', '.join(storage.READING_COLUMNS)}, updated) "
                f"SELECT DISTINCT ON (battery_id) {', '.join(storage.READING_COLUMNS)}, now() "
                "FROM acquisition_reading WHERE ts >= %s AND battery_id = ANY(%s) "
                "ORDER BY battery_id, ts DESC",
                [end - max(step, dt.timedelta(hours=1)) * 2, ids],  # the newest per battery
            )
            _hourly_rollups(ids, end)
            # As a running portal's tables are: vacuumed (autovacuum would otherwise work
            # through the fresh 10M rows during the measurements) and analysed.
            cursor.execute("VACUUM (ANALYZE)")
            # and the fill's ~1 GB of dirty pages written out now, not by a checkpoint that
            # competes with the measurements for the disk (needs superuser or pg_checkpoint)
            with contextlib.suppress(DatabaseError):
                cursor.execute("CHECKPOINT")
        user = make_user(f"bench-{site.pk}", superuser=True)
        client = Client()
        client.force_login(user)
        cookie = client.cookies["sessionid"].value
    try:
        yield Fill(site, ids, start, end, rows, took[0], cookie)
    finally:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM acquisition_reading WHERE battery_id = ANY(%s)", [ids])
            cursor.execute("DELETE FROM acquisition_hourlyrollup WHERE battery_id = ANY(%s)", [ids])


def deployed_cache() -> tuple[str, dict[str, Any]]:
    """("redis", the cache and session settings as deployed) when a Redis is reachable, else
    ("db", {}): the test settings' database cache."""
    url = redis_url()
    if url is None:
        return "db", {}
    return "redis", cache_settings(url)


@pytest.mark.django_db
def test_latest_site(fill: Fill) -> None:
    from django.test import override_settings

    from acquisition.models import LatestReading

    cache, settings = deployed_cache()
    with override_settings(**settings):
        client = Client()
        client.force_login(make_user("latest-viewer", superuser=True))
        url = f"/api/v1/latest/?site={fill.site.pk}"
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert sum(len(b["batteries"]) for b in body["banks"]) == BATTERIES

        def get() -> None:
            assert client.get(url).status_code == 200

        endpoint = timings_ms(get, REPEAT)

    def query() -> None:
        rows = LatestReading.objects.filter(battery__bank__site=fill.site).values_list(
            "battery_id", "ts", "voltage", "temperature", "dcr"
        )
        assert len(list(rows)) == BATTERIES

    queries = timings_ms(query, REPEAT)
    bench_line(
        "latest_site",
        **latency_summary(endpoint),
        query_p95_ms=latency_summary(queries)["p95_ms"],
        batteries=BATTERIES,
        readings=fill.rows,
        via="django_test_client",
        cache=cache,
    )


@pytest.mark.django_db
def test_history_year(fill: Fill, tmp_path: Path) -> None:
    battery = fill.battery_ids[len(fill.battery_ids) // 2]
    start = (fill.end - dt.timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = fill.end.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = f"/api/v1/batteries/{battery}/readings/?interval=hour&start={start}&end={end}"
    headers = {"Cookie": f"sessionid={fill.session_cookie}", "Host": "127.0.0.1"}
    cache, _ = deployed_cache()
    env = {
        "DB_CONN_MAX_AGE": "60",
        "API_RATE_USER": "100000/hour",
        "REDIS_URL": redis_url() or "",
    }
    with Portal(tmp_path, workers=2, args=["--worker-class", "gthread"], env=env) as portal:
        conn = http.client.HTTPConnection("127.0.0.1", portal.port, timeout=30)

        def get() -> bytes:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            assert resp.status == 200, raw[:300]
            return raw

        size = len(get())
        samples = timings_ms(get, REPEAT // 2)
        conn.close()
    from acquisition.models import HourlyRollup

    buckets = HourlyRollup.objects.filter(
        battery_id=battery, bucket__gte=fill.end - dt.timedelta(days=365)
    ).count()
    bench_line(
        "history_year",
        **latency_summary(samples),
        buckets=buckets,
        bytes=size,
        via="http_gunicorn_gthread",
        cache=cache,
    )
    # Issue 7's ``api_readings`` (one battery-year of hourly readings through the API, p95 <
    # 100 ms) is this same request: reported from the same samples.
    summary = latency_summary(samples)
    bench_line(
        "api_readings",
        p95_ms=summary["p95_ms"],
        p99_ms=sorted(samples)[min(len(samples) - 1, math.ceil(0.99 * len(samples)) - 1)],
        rows=buckets,
        via="http_gunicorn_gthread",
    )


@pytest.mark.django_db
def test_storage_bytes_per_reading(fill: Fill) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0), "
            "coalesce(sum(pg_relation_size(c.oid)), 0) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = %s",
            [storage.READING_TABLE],
        )
        total, heap = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {storage.READING_TABLE}")  # noqa: S608
        rows = cursor.fetchone()[0]
    assert rows >= fill.rows
    bench_line(
        "storage_bytes_per_reading",
        bytes=round(total / rows, 1),
        heap_bytes=round(heap / rows, 1),
        rows=rows,
        fill_copy_rows_per_s=fill.rows / fill.seconds,
    )
