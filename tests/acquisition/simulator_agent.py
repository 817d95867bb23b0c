"""The edge agent against the real simulator (a subprocess): a socat pty pair for RTU, the
simulator's CLI, agent bus configs for its units, and the check "uploaded = the simulator's state".

Used by ``test_agent_rtu.py``, ``test_agent_simulator_tcp.py`` and ``tests/benchmarks``.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from acquisition import registermap as rm

from .simulator_helpers import simulator

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")


@contextmanager
def pty_pair(tmp: Path) -> Iterator[tuple[str, str]]:
    """A virtual RS-485 line: two linked pseudo-terminals (simulator end, agent end)."""
    a, b = str(tmp / "A"), str(tmp / "B")
    proc = subprocess.Popen(
        ["socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while not (Path(a).exists() and Path(b).exists()):
            assert proc.poll() is None and time.monotonic() < deadline, "socat did not start"
            time.sleep(0.02)
        yield a, b
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_serving(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Wait for the simulator's "serving on ..." log line (its Modbus port is open then)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited: {(seen + proc.stderr.read()).decode()}")
        ready, _, _ = select.select([proc.stderr], [], [], 0.1)
        if ready:
            line = proc.stderr.readline()
            seen += line
            if b"serving on" in line:
                return
    raise TimeoutError(f"simulator not serving after {timeout} s: {seen.decode()}")


@contextmanager
def running_simulator(
    args: list[str], tmp: Path, scenario: dict[str, Any] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m acquisition.simulator ARGS``, serving when entered, killed on exit."""
    with simulator(args, scenario, tmp) as proc:
        wait_serving(proc)
        yield proc


def rtu_bus(name: str, device: str, timeout_s: float, baud: int = 9600) -> dict[str, Any]:
    return {"name": name, "kind": "rtu", "port": device, "baud": baud, "timeout_s": timeout_s}


def sim_batteries(bus: str, addresses: list[int], first_id: int = 101) -> list[dict[str, Any]]:
    """Portal battery entries for simulator BMUs (H type, bank 1, ids from ``first_id``)."""
    return [
        {"id": first_id + i, "bus": bus, "address": a, "unit_type": "H", "bank": 1, "position": i}
        for i, a in enumerate(addresses)
    ]


def assert_scan_matches_state(
    scan: dict[str, Any],
    state: dict[str, Any],
    battery_address: dict[int, int],
    bank_address: dict[int, int] | None = None,
) -> None:
    """Every uploaded value equals the simulator's ``/state`` within the register's resolution."""
    units = state["units"]
    got = {b["id"]: b for b in scan["batteries"]}
    assert set(got) == set(battery_address)
    for bid, address in battery_address.items():
        want = units[str(address)]
        for name in rm.BMU_PARAMETERS:
            scale = rm.BMU_MEASUREMENTS.field(name).scale
            assert got[bid][name] == pytest.approx(want[name], abs=scale / 2), (address, name)
        assert got[bid]["status"] == want["status"]
    banks = {b["id"]: b for b in scan["banks"]}
    assert set(banks) == set(bank_address or {})
    for bid, address in (bank_address or {}).items():
        want = units[str(address)]
        for name in rm.CMU_PARAMETERS:
            scale = rm.CMU_MEASUREMENTS.field(name).scale
            assert banks[bid][name] == pytest.approx(want[name], abs=scale / 2), (address, name)
        assert banks[bid]["status"] == want["status"]
