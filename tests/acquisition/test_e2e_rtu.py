"""End to end over Modbus RTU: simulator on one end of a socat pty pair, the edge agent on the
other (9600 baud), the portal under gunicorn, PostgreSQL.

The portal's bus is an RTU bus with a serial port name as it would be on the box; the agent's
local ``bus_overrides`` points it at the pty, as an operator does when the device name differs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from sites.choices import BusKind
from tests.acquisition.e2e_helpers import (
    SCAN_INTERVAL_S,
    Portal,
    agent,
    make_e2e_site,
    mismatches_with_simulator,
    sim_state,
    simulator,
    socat_pair,
    stored_counts,
    tail,
    wait_for,
)

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")

UNITS = 4


@pytest.mark.slow
def test_readings_from_an_rtu_simulator_over_a_pty_pair_reach_postgresql(
    transactional_db: Any, tmp_path: Path
) -> None:
    site = make_e2e_site(UNITS, kind=BusKind.RTU, serial_port="/dev/ttyUSB0", baud=9600)
    with (
        socat_pair(tmp_path) as (device_end, agent_end),
        simulator(tmp_path, site.scenario, "--rtu", device_end, "--baud", "9600") as control,
        Portal(tmp_path) as portal,
        agent(
            tmp_path, portal.url, site.token, bus_overrides={site.bus.name: {"port": agent_end}}
        ) as running_agent,
    ):
        try:
            wait_for(
                lambda: stored_counts(site) >= (UNITS, 1),
                2 * SCAN_INTERVAL_S + 10,
                "first scan stored",
            )
        except AssertionError:
            pytest.fail(f"nothing stored; agent log:\n{tail(running_agent.log)}")
        health = running_agent.health()
        state = sim_state(control)
    assert health["silent_units"] == 0
    assert mismatches_with_simulator(site, state) == []
