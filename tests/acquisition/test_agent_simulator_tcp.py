"""The edge agent polls the real simulator (a subprocess) over Modbus TCP and uploads its values.

The other agent tests use a hand-made pymodbus server; this one closes the loop with the device
simulator itself (``--time-factor 0``: values frozen, so they can be compared exactly).
"""

from __future__ import annotations

from pathlib import Path

from tests.acquisition.agent_helpers import (
    FakePortal,
    RunningAgent,
    portal_config,
    wait_for,
    write_config,
)

from .simulator_agent import assert_scan_matches_state, running_simulator, sim_batteries
from .simulator_helpers import free_port, get

SCENARIO = {
    "seed": 17,
    "banks": [
        {"cmu": 1, "unit_type": "H", "first_address": 2, "count": 5},
        {"cmu": 10, "unit_type": "L", "first_address": 11, "count": 3},
    ],
}


def test_agent_uploads_the_tcp_simulators_values(tmp_path: Path) -> None:
    port, control = free_port(), free_port()
    args = ["--tcp", f"127.0.0.1:{port}", "--time-factor", "0", "--control", f"127.0.0.1:{control}"]
    batteries = sim_batteries("lan", [2, 3, 4, 5, 6]) + [
        {"id": 201 + i, "bus": "lan", "address": a, "unit_type": "L", "bank": 2, "position": i}
        for i, a in enumerate([11, 12, 13])
    ]
    cfg = portal_config(
        [{"name": "lan", "kind": "tcp", "host": "127.0.0.1", "port": port, "timeout_s": 1}],
        batteries,
        banks=[{"id": 7, "bus": "lan", "address": 1}, {"id": 8, "bus": "lan", "address": 10}],
    )
    with running_simulator(args, tmp_path, SCENARIO):
        portal = FakePortal(cfg).start()
        try:
            with RunningAgent(write_config(tmp_path / "agent.toml", portal, tmp_path / "state")):
                scan = wait_for(lambda: portal.scans() and portal.scans()[0], timeout=10)
        finally:
            portal.stop()
        state = get(control, "/state")
    assert scan["silent"] == {"batteries": [], "banks": []}
    assert_scan_matches_state(
        scan, state, {b["id"]: b["address"] for b in batteries}, {7: 1, 8: 10}
    )
