"""A third-party Modbus client (Debian's ``mbpoll``) reads the edge agent's SCADA server.

The chain is real: simulator (TCP, frozen values) -> agent (configured by the portal under
gunicorn) -> the agent's Modbus TCP server for SCADA -> ``mbpoll``. The raw registers must be the
documented ones (docs/agent.md "SCADA server"): exactly what the simulator serves for the unit in
that slot. (mbpoll against the simulator itself is in test_simulator_tcp.py.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from acquisition import registermap as rm
from tests.acquisition.e2e_helpers import (
    SCAN_INTERVAL_S,
    Portal,
    agent,
    make_e2e_site,
    sim_state,
    simulator,
    tail,
    wait_for,
)
from tests.acquisition.simulator_helpers import free_port

pytestmark = pytest.mark.skipif(shutil.which("mbpoll") is None, reason="needs mbpoll")

UNITS = 6


def mbpoll(port: int, address: int, count: int) -> list[int]:
    """Input registers ``address .. address+count-1`` (0-based) of device 1, as unsigned words.

    mbpoll's ``-r`` is 1-based, hence ``address + 1``.
    """
    cmd = ["mbpoll", "-m", "tcp", "-a", "1", "-t", "3", "-r", str(address + 1), "-c", str(count)]
    cmd += ["-1", "-p", str(port), "127.0.0.1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True).stdout
    found = re.findall(r"^\[(\d+)\]:\s+(-?\d+)", out, flags=re.MULTILINE)
    assert [int(r) for r, _ in found] == list(range(address + 1, address + count + 1)), out
    return [int(v) & 0xFFFF for _, v in found]


@pytest.mark.slow
def test_mbpoll_reads_the_simulator_registers_from_the_agents_scada_server(
    transactional_db: Any, tmp_path: Path
) -> None:
    sim_port = free_port()
    site = make_e2e_site(UNITS, host="127.0.0.1", port=sim_port)
    with (
        simulator(tmp_path, site.scenario, "--tcp", f"127.0.0.1:{sim_port}") as control,
        Portal(tmp_path) as portal,
        agent(tmp_path, portal.url, site.token) as running_agent,
    ):
        try:
            wait_for(
                lambda: running_agent.health().get("scans", 0) >= 1,
                2 * SCAN_INTERVAL_S + 10,
                "first scan",
            )
        except AssertionError:
            pytest.fail(f"no scan; agent log:\n{tail(running_agent.log)}")
        state = sim_state(control)
        port = running_agent.scada_port
        header = mbpoll(port, 0, 10)
        slot = UNITS - 1  # the bank's last battery: slots follow the bank's positions
        battery = mbpoll(port, 1000 + 8 * slot, 8)
        bank = mbpoll(port, 4000, 6)
        flags = mbpoll(port, 6000, UNITS)
    assert header[:3] == [1, UNITS, 1]  # map version, battery slots, bank slots
    assert header[6] >= 1  # scans done
    address = site.batteries[slot].bmu_address
    assert battery == rm.BMU_MEASUREMENTS.encode(state[str(address)])
    assert rm.BMU_MEASUREMENTS.decode(battery)["voltage"] == state[str(address)]["voltage"]
    assert bank == rm.CMU_MEASUREMENTS.encode(state["1"])
    assert flags == [0] * UNITS  # every battery answered in the last scan
