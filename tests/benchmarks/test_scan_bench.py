"""Scan time of the edge agent (``make bench``): one RTU bus of 247 BMUs at 9600 baud over a socat
pty pair, and 254 units over Modbus TCP, both against the device simulator. One ``BENCH`` line each.

The agent's own scan code is timed, as production runs it: a ``BusPoller`` built from a portal
configuration parsed by the agent, one warm-up scan (identity reads and the DCR-interval writes of
first contact), then one timed scan (one measurement read per unit). No database.

A pty moves bytes instantly; the simulator paces its end at the baud rate (``LineTiming`` in
``acquisition/simulator/modbus.py``, on by default for a pty), so the RTU scan runs on real wire
time. ``ratio`` = scan time / the Modbus serial-line spec's wire time of the same reads
(``registermap.rtu_wire_seconds``: 11-bit characters, 3.5-character gaps): 1.0 is a master that
wastes nothing on a slave that answers with the minimum turnaround. Goal: <= 1.15.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from acquisition import registermap as rm
from acquisition.agent.bus import BusPoller, BusScan
from acquisition.agent.config import parse_portal
from tests.acquisition.agent_helpers import portal_config
from tests.acquisition.simulator_agent import (
    needs_socat,
    pty_pair,
    rtu_bus,
    running_simulator,
    sim_batteries,
)
from tests.acquisition.simulator_helpers import free_port
from tests.benchmarks.conftest import bench_line

pytestmark = pytest.mark.benchmark

BAUD = 9600


def timed_scan(raw: dict[str, Any], bus: str) -> tuple[float, BusScan]:
    """Warm up, then time one scan of every unit on ``bus`` with the agent's scan code."""
    cfg = parse_portal(raw)
    poller = BusPoller(cfg.buses[bus], round(cfg.dcr_interval_h * 60))
    units = cfg.units_on(bus)
    stop = threading.Event()
    try:
        warm = poller.submit_scan(units, stop).result()
        assert all(r is not None for r in warm.results.values()), "warm-up: silent units"
        t0 = time.perf_counter()
        scan = poller.submit_scan(units, stop).result()
        seconds = time.perf_counter() - t0
    finally:
        poller.close()
    assert len(scan.results) == len(units)
    assert all(r is not None for r in scan.results.values()), "silent units in the timed scan"
    return seconds, scan


@needs_socat
def test_rtu_scan_247_units_9600_baud(tmp_path: Path) -> None:
    units = rm.MAX_RTU_ADDRESS
    with pty_pair(tmp_path) as (sim_end, agent_end):
        args = ["--rtu", sim_end, "--baud", str(BAUD), "--units", str(units)]
        with running_simulator([*args, "--time-factor", "0"], tmp_path):
            raw = portal_config(
                [rtu_bus("rs485", agent_end, timeout_s=0.5, baud=BAUD)],
                sim_batteries("rs485", list(range(1, units + 1))),
                scan_interval_s=60,
            )
            seconds, _ = timed_scan(raw, "rs485")
    per_unit = rm.rtu_wire_seconds(*rm.read_registers_frame_sizes(rm.BMU_MEASUREMENTS.count), BAUD)
    wire = units * per_unit
    bench_line(
        "rtu_scan",
        units=units,
        baud=BAUD,
        seconds=seconds,
        wire_seconds=wire,
        ratio=seconds / wire,
    )
    assert seconds >= 0.99 * wire, "faster than the wire: the line is not paced"


def test_tcp_scan_254_units(tmp_path: Path) -> None:
    units = rm.MAX_UNITS_PER_GATEWAY
    port = free_port()
    args = ["--tcp", f"127.0.0.1:{port}", "--units", str(units), "--time-factor", "0"]
    with running_simulator(args, tmp_path):
        raw = portal_config(
            [{"name": "lan", "kind": "tcp", "host": "127.0.0.1", "port": port, "timeout_s": 1}],
            sim_batteries("lan", list(range(1, units + 1))),
            scan_interval_s=60,
        )
        seconds, _ = timed_scan(raw, "lan")
    bench_line("tcp_scan", units=units, seconds=seconds)
