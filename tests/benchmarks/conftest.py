"""Shared helpers of the benchmarks (``make bench``): one ``BENCH name key=value ...`` line each.

Benchmarks are marked ``@pytest.mark.benchmark`` and only run when selected (``-m benchmark``);
a plain ``make test`` skips them. Timings are printed, never asserted (STYLE.md: a timing is a
benchmark, not a test), except that a run which measured nothing fails.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip benchmarks unless the marker expression asks for them (``-m benchmark``)."""
    if "benchmark" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="benchmark: run with `make bench` (-m benchmark)")
    for item in items:
        if item.get_closest_marker("benchmark"):
            item.add_marker(skip)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value).replace(" ", "_")


def bench_line(name: str, **values: object) -> str:
    """Print and return ``BENCH <name> key=value ...`` (floats rounded sensibly)."""
    line = " ".join([f"BENCH {name}", *(f"{k}={_fmt(v)}" for k, v in values.items())])
    print(f"\n{line}", flush=True)
    return line


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``samples``, nearest-rank method."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def timings_ms(fn: Callable[[], object], repeat: int, warmup: int = 5) -> list[float]:
    """Wall-clock milliseconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / max of millisecond samples, as ``bench_line`` keywords."""
    return {
        "p50_ms": percentile(samples_ms, 50),
        "p95_ms": percentile(samples_ms, 95),
        "max_ms": max(samples_ms),
        "n": len(samples_ms),
    }


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - t0)


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, from /proc; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # after "pid (comm) "
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return int(fields[1]), ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by process ``root`` and its descendants (Linux):
    a server's whole cost (gunicorn's workers, PostgreSQL's backends and background writers).
    A process that has ended no longer counts, so take the difference over a span in which the
    processes live."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := _stat(int(name))) is not None:
            stats[int(name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats[pid][1] if pid in stats else 0.0
        todo.extend(children.get(pid, []))
    return total


def postmaster_pid() -> int:
    """The pid of the PostgreSQL server the tests run on (the parent of this backend)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    stat = _stat(backend)
    assert stat is not None, "the database server is not on this machine"
    return stat[0]
