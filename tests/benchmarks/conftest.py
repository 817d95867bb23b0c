"""Shared helpers of the benchmarks (``make bench``): one ``BENCH name key=value ...`` line each.

Benchmarks are marked ``@pytest.mark.benchmark`` and only run when selected (``-m benchmark``);
a plain ``make test`` skips them. Timings are printed, never asserted (STYLE.md: a timing is a
benchmark, not a test), except that a run which measured nothing fails.
"""

from __future__ import annotations

import math
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
