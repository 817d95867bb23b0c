"""Helpers of the ``fleet_load`` benchmark: seeding a large fleet, the gateway load generator,
CPU accounting from ``/proc``.

The generator behaves like edge agents on the wire: one ``POST /api/v1/ingest/`` per gateway scan
with the gateway's own bearer token, the agent's JSON body (``agent`` block + one scan of 254
battery readings, UTC millisecond ``ts`` = the scan's acquisition time), over keep-alive
connections with ``TCP_NODELAY``. One scheduler thread releases each gateway's scans at its own
phase of the 10 s interval (gateways staggered evenly); a pool of sender threads, each with its own
connection, posts them. A scan that cannot be sent on time waits in the queue: its lateness
(send start - scheduled time) is what an agent's outbox would show.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import http.client
import os
import queue
import random
import socket
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from sites.choices import BusKind, Chemistry, UnitType
from sites.models import Bank, Battery, BatteryModel, Bus, Gateway, Site

SCAN = 254  # batteries per gateway: 247 on one RS-485 bus (the address limit), 7 on a second
FIRST_BUS = 247
INTERVAL_S = 10.0
BREACH_TEMPERATURE = 50.0  # above the built-in VRLA critical 45 C (warning 35 C), delay 0


# -- the fleet ---------------------------------------------------------------------------------


@dataclasses.dataclass
class SeededGateway:
    token: str
    battery_ids: list[int]


def seed_fleet(n: int, prefix: str = "fl") -> list[SeededGateway]:
    """``n`` sites with one gateway each, two buses, two banks (247 + 7 H-type 12 V VRLA
    batteries, no CMU): ``n`` x 254 batteries, all with ``bulk_create``."""
    model = BatteryModel.objects.create(
        manufacturer="Bench",
        model=f"{prefix}-12V100",
        chemistry=Chemistry.VRLA,
        nominal_voltage=Decimal("12"),
        capacity_ah=Decimal("100"),
        unit_type=UnitType.H,
        float_voltage=Decimal("13.62"),
    )
    sites = Site.objects.bulk_create(
        Site(name=f"Fleet {i}", slug=f"{prefix}-{i}", time_zone="UTC") for i in range(n)
    )
    gateways, tokens = [], []
    for site in sites:
        gateway = Gateway(site=site, name="edge", scan_interval_s=int(INTERVAL_S), heartbeat_s=300)
        tokens.append(gateway.set_new_token())
        gateways.append(gateway)
    Gateway.objects.bulk_create(gateways)
    buses = Bus.objects.bulk_create(
        Bus(gateway=g, name=name, kind=BusKind.TCP, host="127.0.0.1")
        for g in gateways
        for name in ("a", "b")
    )
    counts = (FIRST_BUS, SCAN - FIRST_BUS)
    banks = Bank.objects.bulk_create(
        Bank(
            site=g.site,
            name=f"String {j + 1}",
            bus=buses[2 * i + j],
            cmu_address=None,
            battery_model=model,
            nominal_voltage=Decimal(12 * counts[j]),
            float_voltage=Decimal("13.62") * counts[j],
            positions=counts[j],
        )
        for i, g in enumerate(gateways)
        for j in (0, 1)
    )
    out = []
    for i, token in enumerate(tokens):
        batteries = [
            Battery(
                bank=bank,
                position=p,
                model=model,
                bus=bank.bus,
                bmu_address=p,
                serial=f"{prefix}{bank.pk}-{p}",
                install_date=dt.date(2024, 1, 1),
                dcr_baseline_mohm=Decimal("4.000"),
            )
            for bank in banks[2 * i : 2 * i + 2]
            for p in range(1, bank.positions + 1)
        ]
        Battery.objects.bulk_create(batteries)
        out.append(SeededGateway(token, [b.pk for b in batteries]))
    return out


# -- the load generator -------------------------------------------------------------------------


def _fragment(battery_id: int, rnd: random.Random, temperature: float | None = None) -> bytes:
    """One battery reading as the agent serialises it: a floating 12 V VRLA block, inside every
    built-in band (voltage 2.25-2.27 V/cell, EMF 2.15 V/cell, DCR within 8 % of the baseline,
    temperature 24-26 C), so only the injected breaches raise alarms."""
    v = round(rnd.uniform(13.50, 13.62), 3)
    if temperature is None:
        temperature = round(rnd.uniform(24, 26), 1)
    return orjson.dumps(
        {
            "id": battery_id,
            "voltage": v,
            "temperature": temperature,
            "dcr": round(rnd.uniform(3.9, 4.3), 3),
            "micro_voltage": round(v - 0.03, 3),
            "emf": round(rnd.uniform(12.88, 12.92), 3),
            "status": 0,
        }
    )


class _Connection(http.client.HTTPConnection):
    """Keep-alive connection with TCP_NODELAY (see test_ingest_bench.py for why)."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclasses.dataclass
class SimGateway:
    """One simulated gateway: its token, pre-serialised readings, phase in the scan interval."""

    index: int
    token: str
    battery_ids: list[int]
    phase: float
    fragments: list[bytes] = dataclasses.field(default_factory=list)
    breaches: list[bytes] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        rnd = random.Random(self.index)
        self.fragments = [_fragment(b, rnd) for b in self.battery_ids]
        self.breaches = [_fragment(b, rnd, BREACH_TEMPERATURE) for b in self.battery_ids]
        self.headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
        }


AGENT = orjson.dumps(
    {"version": "fleet-load", "outbox_depth": 0, "last_scan_s": 1.8, "overruns": 0, "relays": None}
)


@dataclasses.dataclass
class Result:
    """What one sender thread saw."""

    scans_sent: int = 0
    readings_sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed_readings: int = 0  # in requests without a 200 (an agent would retry them)
    errors: list[str] = dataclasses.field(default_factory=list)
    request_ms: list[float] = dataclasses.field(default_factory=list)
    late_s: list[float] = dataclasses.field(default_factory=list)
    # (battery id, scan ts in epoch ms, upload time.time()) of each breach acknowledged with 200
    breaches: list[tuple[int, int, float]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Job:
    gateway: SimGateway
    scan: int
    due: float  # time.time() of the scan (its ts)
    breach: int | None  # index of the battery reported above the limit, or None


class LoadGenerator:
    """Releases every gateway's scans at ``start + phase + k * INTERVAL_S`` for ``seconds`` and
    posts them with ``connections`` sender threads. ``breach_every``: every n-th scan of a
    gateway reports one battery (a different one each time) at ``BREACH_TEMPERATURE``."""

    def __init__(
        self,
        port: int,
        gateways: list[SimGateway],
        seconds: float,
        connections: int,
        breach_every: int,
    ) -> None:
        self.port = port
        self.gateways = gateways
        self.seconds = seconds
        self.connections = connections
        self.breach_every = breach_every
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.results = [Result() for _ in range(connections)]
        self.scheduled = 0
        self.scheduled_readings = 0
        self.start_at = 0.0
        self.backlog_at_end = 0

    def _schedule(self) -> None:
        heap = [(self.start_at + g.phase, g.index, 0) for g in self.gateways]
        heapq.heapify(heap)
        by_index = {g.index: g for g in self.gateways}
        end = self.start_at + self.seconds
        while heap:
            due, index, k = heapq.heappop(heap)
            if due >= end:
                continue
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            gateway = by_index[index]
            breach = None
            if self.breach_every and (k + index) % self.breach_every == 0:
                breach = (k * 37 + index) % len(gateway.battery_ids)
            self.jobs.put(Job(gateway, k, due, breach))
            self.scheduled += 1
            self.scheduled_readings += len(gateway.battery_ids)
            heapq.heappush(heap, (due + INTERVAL_S, index, k + 1))
        time.sleep(max(0.0, end - time.time()))  # the last scans have until the end to go out
        self.backlog_at_end = self.jobs.qsize()

    def _send(self, result: Result) -> None:
        conn = _Connection("127.0.0.1", self.port, timeout=60)
        while (job := self.jobs.get()) is not None:
            g = job.gateway
            stamp = dt.datetime.fromtimestamp(round(job.due, 3), dt.UTC)
            ts = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            frags = g.fragments
            if job.breach is not None:
                frags = [*frags[: job.breach], g.breaches[job.breach], *frags[job.breach + 1 :]]
            body = b"".join(
                [b'{"batch":null,"agent":', AGENT, b',"scans":[{"ts":"', ts.encode(),
                 b'","batteries":[', b",".join(frags), b'],"banks":[]}]}']
            )  # fmt: skip
            sent_at = time.time()
            result.late_s.append(sent_at - job.due)
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/ingest/", body, g.headers)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                result.errors.append(repr(exc))
                result.failed_readings += len(frags)
                conn.close()
                continue
            result.request_ms.append((time.perf_counter() - t0) * 1000)
            result.scans_sent += 1
            result.readings_sent += len(frags)
            if resp.status != 200:
                result.errors.append(f"{resp.status} {raw[:200]!r}")
                result.failed_readings += len(frags)
                continue
            reply = orjson.loads(raw)
            result.accepted += int(reply["accepted"])
            result.duplicates += int(reply.get("duplicates", 0))
            result.rejected += len(reply.get("rejected") or [])
            if job.breach is not None:
                epoch_ms = round(job.due * 1000)
                result.breaches.append((g.battery_ids[job.breach], epoch_ms, sent_at))
        conn.close()

    def run(self) -> None:
        """Blocks for ``seconds`` plus the requests in flight; scans still queued at the end
        (``backlog_at_end``) are dropped, so an overloaded step ends on time."""
        senders = [
            threading.Thread(target=self._send, args=(r,), daemon=True) for r in self.results
        ]
        for s in senders:
            s.start()
        self.start_at = time.time() + 0.5
        self._schedule()
        while True:  # scans still queued at the end were not sent in time: dropped, not waited for
            try:
                self.jobs.get_nowait()
            except queue.Empty:
                break
        for _ in senders:
            self.jobs.put(None)
        for s in senders:
            s.join(120)

    def merged(self) -> Result:
        out = Result()
        for r in self.results:
            for f in dataclasses.fields(Result):
                a, b = getattr(out, f.name), getattr(r, f.name)
                setattr(out, f.name, a + b)
        return out


def sim_gateways(seeded: list[SeededGateway]) -> list[SimGateway]:
    n = len(seeded)
    return [
        SimGateway(i, s.token, s.battery_ids, phase=INTERVAL_S * i / n)
        for i, s in enumerate(seeded)
    ]


# -- CPU from /proc -----------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat; busy = total - idle - iowait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - fields[3] - fields[4], total


def _stat(pid: int) -> tuple[int, int, int, int, int] | None:
    """(ppid, utime, stime, cutime, cstime) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text.rsplit(")", 1)[1].split()
    return int(rest[1]), int(rest[11]), int(rest[12]), int(rest[13]), int(rest[14])


def tree_cpu_s(root: int) -> float:
    """CPU seconds of a process tree: the root (with its reaped children) + live descendants.

    A child that exits between two samples moves from "live descendant" to the root's cutime /
    cstime when reaped, so the difference of two samples is the tree's CPU in between (postgres
    backends that come and go included: the postmaster reaps them).
    """
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (s := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = s
    if root not in stats:
        return 0.0
    children: dict[int, list[int]] = {}
    for pid, s in stats.items():
        children.setdefault(s[0], []).append(pid)
    _, u, s_, cu, cs = stats[root]
    ticks = u + s_ + cu + cs
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        ticks += stats[pid][1] + stats[pid][2]
        todo += children.get(pid, [])
    return ticks / _TICK


def self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def postmaster_pid(cursor: Any) -> int | None:
    """The PostgreSQL server process of the test database (parent of this backend)."""
    cursor.execute("SELECT pg_backend_pid()")
    backend = int(cursor.fetchone()[0])
    stat = _stat(backend)
    return stat[0] if stat else None
