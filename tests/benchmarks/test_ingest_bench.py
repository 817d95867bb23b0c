"""``BENCH ingest_http``: readings/s through the real HTTP server, against binary COPY.

What is measured (both sides in the same run, same database, same table):

- ``per_s``: readings stored per second through ``POST /api/v1/ingest/`` on a gunicorn subprocess
  (``WORKERS`` workers, ``WORKER_CLASS``; by default as deployed: 4 gthread workers of 2 threads),
  by ``CLIENTS`` concurrent client threads, each one edge agent with its own gateway and 254
  batteries, posting one 254-reading scan per request over a keep-alive connection (bodies
  pre-serialised from a template; only the timestamp changes). That includes token check, parsing,
  validation, COPY, latest-value upsert, rollup queue, gateway update, DCR-command claim and the
  alarm hand-off (a Celery message to Redis when Redis is up: ``handoff=redis``; otherwise Celery is
  eager and alarms are evaluated inside the request: ``handoff=eager``). Counted from the replies'
  ``accepted``.
- ``copy_per_s``: the reference, binary ``COPY acquisition_reading ... FROM STDIN (FORMAT
  BINARY)`` with ``set_types`` of the same rows (same batteries, other timestamps), one COPY of
  254 rows per transaction, in a loop on ``CLIENTS`` connections (threads) at once.
- ``ratio`` = per_s / copy_per_s (goal >= 0.35).

Tunable for exploration with ``BENCH_INGEST_CLIENTS``, ``BENCH_INGEST_WORKERS``,
``BENCH_INGEST_WORKER_CLASS``, ``BENCH_INGEST_THREADS`` and ``BENCH_INGEST_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from acquisition import storage
from sites.models import Battery
from tests.acquisition.e2e_helpers import Portal
from tests.benchmarks.conftest import bench_line
from tests.conftest import (
    database_url_for_subprocess,
    make_bank,
    make_bus,
    make_gateway,
    make_site,
    redis_url,
)

SCAN = 254
CLIENTS = int(os.environ.get("BENCH_INGEST_CLIENTS", "4"))
# The web server as deployed (deploy/production.env: WEB_WORKERS=4, WEB_THREADS=2, gthread).
WORKERS = int(os.environ.get("BENCH_INGEST_WORKERS", "4"))
WORKER_CLASS = os.environ.get("BENCH_INGEST_WORKER_CLASS", "gthread")
THREADS = int(os.environ.get("BENCH_INGEST_THREADS", "2"))
SECONDS = float(os.environ.get("BENCH_INGEST_SECONDS", "12"))
WARMUP_S = 2.0
BENCH_REDIS_DB = 12  # a Redis database of the benchmark's own: emptied afterwards


def _reading(battery_id: int, rnd: random.Random) -> dict[str, Any]:
    v = round(rnd.uniform(13.4, 13.7), 3)
    return {
        "id": battery_id,
        "voltage": v,
        "temperature": round(rnd.uniform(20, 30), 1),
        "dcr": round(rnd.uniform(3.5, 5.5), 3),
        "micro_voltage": round(v - 0.03, 3),
        "emf": round(v + 0.02, 3),
        "status": 0,
    }


class _Connection(http.client.HTTPConnection):
    """Keep-alive HTTP connection with TCP_NODELAY, as a production HTTP client sets it.

    ``http.client`` sends a large body in a second ``send()`` after the headers; with Nagle's
    algorithm that second segment waits for the server's delayed ACK (40 ms on Linux) and the
    benchmark would measure that stall instead of the portal.
    """

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Client(threading.Thread):
    """One agent: posts scans of its 254 batteries until ``stop``; counts accepted readings."""

    def __init__(self, port: int, token: str, ids: list[int], base: dt.datetime) -> None:
        super().__init__(daemon=True)
        rnd = random.Random(ids[0])
        readings = orjson.dumps([_reading(i, rnd) for i in ids])
        agent = orjson.dumps({"version": "bench", "outbox_depth": 0, "relays": None})
        self.head = b'{"batch":null,"agent":' + agent + b',"scans":[{"ts":"'
        self.tail = b'","batteries":' + readings + b',"banks":[]}]}'
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.port = port
        self.base = base
        self.counting = False
        self.stop = threading.Event()
        self.accepted = 0
        self.requests = 0
        self.errors: list[str] = []

    def body(self, i: int) -> bytes:
        ts = self.base + dt.timedelta(milliseconds=i)
        stamp = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self.head + stamp.encode() + self.tail

    def run(self) -> None:
        conn = _Connection("127.0.0.1", self.port, timeout=30)
        i = 0
        while not self.stop.is_set():
            data = self.body(i)
            i += 1
            try:
                conn.request("POST", "/api/v1/ingest/", data, self.headers)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                conn.close()
                continue
            if resp.status != 200:
                self.errors.append(f"{resp.status} {raw[:300]!r}")
                continue
            if self.counting:
                self.accepted += orjson.loads(raw)["accepted"]
                self.requests += 1
        conn.close()


def _run_timed(workers: list[Any], start: Callable[[Any], None]) -> float:
    """Start ``workers``, warm up, count for ``SECONDS``; returns the counted seconds."""
    for w in workers:
        start(w)
    time.sleep(WARMUP_S)
    for w in workers:
        w.counting = True
    t0 = time.perf_counter()
    time.sleep(SECONDS)
    for w in workers:
        w.counting = False
    elapsed = time.perf_counter() - t0
    for w in workers:
        w.stop.set()
    for w in workers:
        w.join(30)
    return elapsed


class Copier(threading.Thread):
    """The reference: one connection, one binary COPY of 254 rows per transaction, in a loop."""

    def __init__(self, url: str, ids: list[int], base: dt.datetime) -> None:
        super().__init__(daemon=True)
        rnd = random.Random(ids[0])
        self.values = [
            tuple(r[k] for k in (*storage.READING_COLUMNS[2:-1], "status"))
            for r in (_reading(i, rnd) for i in ids)
        ]
        self.ids = ids
        self.url = url
        self.base = base
        self.counting = False
        self.stop = threading.Event()
        self.accepted = 0

    def run(self) -> None:
        cols = ", ".join(storage.READING_COLUMNS)
        sql = f"COPY {storage.READING_TABLE} ({cols}) FROM STDIN (FORMAT BINARY)"
        types = list(storage.READING_TYPES)
        with psycopg.connect(self.url, autocommit=True) as conn, conn.cursor() as cur:
            i = 0
            while not self.stop.is_set():
                ts = self.base + dt.timedelta(milliseconds=i)
                i += 1
                with conn.transaction(), cur.copy(sql) as copy:
                    copy.set_types(types)
                    for battery_id, values in zip(self.ids, self.values, strict=True):
                        copy.write_row((battery_id, ts, *values))
                if self.counting:
                    self.accepted += len(self.ids)


def _gateways(n: int) -> list[tuple[str, list[int]]]:
    """``n`` gateways with 254 batteries each: 247 on one bus (the address limit), 7 on another;
    no CMUs, so a scan is 254 battery readings."""
    out = []
    for _ in range(n):
        site = make_site()
        gateway, token = make_gateway(site)
        for count in (247, SCAN - 247):
            make_bank(site, bus=make_bus(gateway), batteries=count, cmu_address=None)
        batteries = Battery.objects.filter(bus__gateway=gateway).order_by("pk")
        out.append((token, list(batteries.values_list("pk", flat=True))))
    return out


def _purge_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


@pytest.mark.benchmark
def test_ingest_http(transactional_db: Any, tmp_path: Path) -> None:
    gateways = _gateways(CLIENTS)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    storage.ensure_partitions(days_ahead=1, days_back=1)
    env = {"DB_CONN_MAX_AGE": "60"}
    broker = redis_url()
    if broker:
        broker = broker.rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}"
        env["CELERY_BROKER_URL"] = broker
    args = ["--worker-class", WORKER_CLASS, "--access-logfile", "/dev/null"]
    if WORKER_CLASS == "gthread":
        args += ["--threads", str(THREADS)]
    portal = Portal(tmp_path, workers=WORKERS, args=args, env=env)
    try:
        with portal:
            clients = [
                Client(portal.port, token, ids, now - dt.timedelta(minutes=30))
                for token, ids in gateways
            ]
            http_s = _run_timed(clients, lambda c: c.start())
    finally:
        if broker:
            _purge_redis(broker)
    errors = [e for c in clients for e in c.errors]
    accepted = sum(c.accepted for c in clients)
    requests = sum(c.requests for c in clients)
    assert accepted > 0 and not errors, errors[:5]

    url = database_url_for_subprocess()
    copiers = [Copier(url, ids, now - dt.timedelta(minutes=50)) for _, ids in gateways]
    copy_s = _run_timed(copiers, lambda c: c.start())
    copied = sum(c.accepted for c in copiers)
    per_s, copy_per_s = accepted / http_s, copied / copy_s
    bench_line(
        "ingest_http",
        per_s=per_s,
        copy_per_s=copy_per_s,
        ratio=round(per_s / copy_per_s, 3),
        requests_per_s=requests / http_s,
        ms_per_request=CLIENTS * http_s / max(requests, 1) * 1000,
        clients=CLIENTS,
        workers=WORKERS,
        worker_class=WORKER_CLASS if WORKER_CLASS != "gthread" else f"gthread{THREADS}",
        batch=SCAN,
        handoff="redis" if broker else "eager",
    )
