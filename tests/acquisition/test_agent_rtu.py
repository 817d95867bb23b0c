"""The edge agent polls the real simulator over Modbus RTU on a socat pty pair (9600 baud).

The simulator (``--time-factor 0``: values frozen) serves one end of the pair and tells the truth
through its control API; the agent, running in-process as in production, polls the other end and
uploads to a stand-in portal. The simulator paces its side of the pty at the baud rate
(``LineTiming``), so scan durations here are real wire times.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acquisition import registermap as rm
from acquisition.agent.bus import RtuClient
from tests.acquisition.agent_helpers import (
    FakePortal,
    RunningAgent,
    portal_config,
    wait_for,
    write_config,
)

from .simulator_agent import (
    assert_scan_matches_state,
    needs_socat,
    pty_pair,
    rtu_bus,
    running_simulator,
    sim_batteries,
)
from .simulator_helpers import free_port, get, post

pytestmark = needs_socat

CMU, BMUS = 1, [2, 3, 4, 5]
RELAY = 247
SCENARIO = {
    "seed": 11,
    "relay": RELAY,
    "banks": [{"cmu": CMU, "unit_type": "H", "first_address": 2, "count": len(BMUS)}],
}
TIMEOUT_S = 0.8
BATTERY_ADDRESS = {101 + i: a for i, a in enumerate(BMUS)}  # battery id -> Modbus address
BANK_ADDRESS = {7: CMU}
ID_OF = {a: bid for bid, a in BATTERY_ADDRESS.items()}
BMU_READ = rm.rtu_wire_seconds(*rm.read_registers_frame_sizes(rm.BMU_MEASUREMENTS.count), 9600)
CMU_READ = rm.rtu_wire_seconds(*rm.read_registers_frame_sizes(rm.CMU_MEASUREMENTS.count), 9600)


@pytest.fixture(scope="module")
def rtu_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(agent's end of the line, control port) of a simulator serving the other end."""
    tmp = tmp_path_factory.mktemp("agent-rtu")
    control = free_port()
    with pty_pair(tmp) as (sim_end, agent_end):
        args = ["--rtu", sim_end, "--baud", "9600", "--time-factor", "0"]
        args += ["--control", f"127.0.0.1:{control}"]
        with running_simulator(args, tmp, SCENARIO):
            yield agent_end, control


@pytest.fixture
def faults(rtu_sim: tuple[str, int]) -> Iterator[Any]:
    """Inject communication faults for one test; they are cleared afterwards."""
    control = rtu_sim[1]
    injected: list[int] = []

    def inject(address: int, kind: str) -> None:
        post(control, "/fault", {"address": address, "kind": kind})
        injected.append(address)

    yield inject
    for address in injected:
        post(control, "/clear", {"address": address})


@pytest.fixture
def portal(rtu_sim: tuple[str, int]) -> Iterator[FakePortal]:
    cfg = portal_config(
        [rtu_bus("rs485", rtu_sim[0], TIMEOUT_S)],
        sim_batteries("rs485", BMUS),
        banks=[{"id": bid, "bus": "rs485", "address": a} for bid, a in BANK_ADDRESS.items()],
        scan_interval_s=2,
    )
    p = FakePortal(cfg).start()
    yield p
    p.stop()


def run_agent(tmp_path: Path, portal: FakePortal) -> RunningAgent:
    return RunningAgent(write_config(tmp_path / "agent.toml", portal, tmp_path / "state"))


def test_rtu_scan_uploads_the_simulators_values(
    tmp_path: Path, rtu_sim: tuple[str, int], portal: FakePortal
) -> None:
    with run_agent(tmp_path, portal) as agent:
        scan = wait_for(lambda: portal.scans() and portal.scans()[0], timeout=10)
        wait_for(lambda: agent.scans >= 2, timeout=6)
        second = agent.last_scan_s  # no identity reads any more: one read per unit
    state = get(rtu_sim[1], "/state")
    assert_scan_matches_state(scan, state, BATTERY_ADDRESS, BANK_ADDRESS)
    assert scan["silent"] == {"batteries": [], "banks": []}
    wire = len(BMUS) * BMU_READ + CMU_READ  # 0.20 s at 9600 baud
    # not faster than the line allows (an unpaced pty would be ~5x faster); 5 % for timer jitter
    assert wire * 0.95 <= second < wire + 0.3


def test_a_silent_rtu_unit_costs_one_timeout_and_is_listed_silent(
    tmp_path: Path, rtu_sim: tuple[str, int], portal: FakePortal, faults: Any
) -> None:
    faults(3, "silent")
    with run_agent(tmp_path, portal) as agent:
        scan = wait_for(lambda: portal.scans() and portal.scans()[0], timeout=10)
        wait_for(lambda: agent.scans >= 2, timeout=6)
        second = agent.last_scan_s
        assert agent.overruns == 0
    assert scan["silent"] == {"batteries": [ID_OF[3]], "banks": []}
    answering = {bid: a for bid, a in BATTERY_ADDRESS.items() if a != 3}
    assert_scan_matches_state(scan, get(rtu_sim[1], "/state"), answering, BANK_ADDRESS)
    # the silent unit costs its timeout once per scan (no retries), the others their wire time
    wire = (len(BMUS) - 1) * BMU_READ + CMU_READ
    assert TIMEOUT_S + wire * 0.95 <= second < TIMEOUT_S + wire + 0.35


def test_a_corrupted_rtu_frame_fails_only_that_unit(
    tmp_path: Path, rtu_sim: tuple[str, int], portal: FakePortal, faults: Any
) -> None:
    faults(4, "corrupt")  # the unit answers, but with a wrong CRC
    with run_agent(tmp_path, portal) as agent:
        scan = wait_for(lambda: portal.scans() and portal.scans()[0], timeout=10)
        wait_for(lambda: agent.scans >= 2, timeout=6)
        second = agent.last_scan_s
        assert scan["silent"] == {"batteries": [ID_OF[4]], "banks": []}
        answering = {bid: a for bid, a in BATTERY_ADDRESS.items() if a != 4}
        state = get(rtu_sim[1], "/state")
        assert_scan_matches_state(scan, state, answering, BANK_ADDRESS)
        wire = (len(BMUS) - 1) * BMU_READ + CMU_READ
        assert second < TIMEOUT_S + wire + 0.35 + BMU_READ  # one timeout at most

        # the line stayed in step: once the frames are good again the unit is back
        post(rtu_sim[1], "/clear", {"address": 4})

        def back() -> dict[str, Any] | None:
            return next(
                (s for s in portal.scans() if any(b["id"] == ID_OF[4] for b in s["batteries"])),
                None,
            )

        again = wait_for(back, timeout=8)
    assert again["silent"] == {"batteries": [], "banks": []}
    mine = {"batteries": [b for b in again["batteries"] if b["id"] == ID_OF[4]], "banks": []}
    assert_scan_matches_state(mine, state, {ID_OF[4]: 4})


def test_the_agents_rtu_client_frames_every_function_it_uses(rtu_sim: tuple[str, int]) -> None:
    """Reads, writes, coils and exception responses: each response is taken by its length."""
    agent_end, control = rtu_sim
    client = RtuClient(agent_end, baudrate=9600, parity="N", timeout=0.5)
    assert client.connect()
    try:
        assert not client.write_coils(0, [True, False, True, False], device_id=RELAY).isError()
        assert client.read_coils(0, count=4, device_id=RELAY).bits[:4] == [True, False, True, False]
        assert get(control, "/relays") == [True, False, True, False]
        assert not client.write_register(rm.BMU_DCR_INTERVAL, 60, device_id=2).isError()
        holding = client.read_holding_registers(rm.BMU_COMMAND, count=2, device_id=2)
        assert holding.registers == [0, 60]
        refused = client.read_holding_registers(rm.BMU_COMMAND, count=2, device_id=CMU)  # no FC03
        assert refused.isError() and refused.exception_code == 1
        t0 = time.monotonic()
        regs = client.read_input_registers(0, count=8, device_id=5).registers
        took = time.monotonic() - t0
        state = get(control, "/state")["units"]["5"]
        assert rm.BMU_MEASUREMENTS.decode(regs)["voltage"] == state["voltage"]
        # 8 + 3.5 + 21 characters until the response is in (the 3.5 after it come before the next)
        assert BMU_READ * 32.5 / 36 * 0.95 <= took < BMU_READ + 0.05
    finally:
        client.write_coils(0, [False] * 4, device_id=RELAY)
        client.write_register(rm.BMU_DCR_INTERVAL, 24 * 60, device_id=2)
        client.close()
