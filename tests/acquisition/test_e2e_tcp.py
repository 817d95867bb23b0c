"""End to end over Modbus TCP: simulator -> edge agent -> portal (gunicorn, HTTP) -> PostgreSQL.

Every process is real and on loopback; the simulator runs with time factor 0, so the values the
agent read are still the values ``GET /state`` shows when the test compares them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.acquisition.e2e_helpers import (
    SCAN_INTERVAL_S,
    Portal,
    agent,
    make_e2e_site,
    mismatches_with_simulator,
    sim_state,
    simulator,
    stored_counts,
    tail,
    wait_for,
)
from tests.acquisition.simulator_helpers import free_port

UNITS = 16


@pytest.mark.slow
def test_readings_from_a_tcp_simulator_reach_postgresql_equal_to_the_simulator(
    transactional_db: Any, tmp_path: Path
) -> None:
    sim_port = free_port()
    site = make_e2e_site(UNITS, host="127.0.0.1", port=sim_port)
    with (
        simulator(tmp_path, site.scenario, "--tcp", f"127.0.0.1:{sim_port}") as control,
        Portal(tmp_path) as portal,
        agent(tmp_path, portal.url, site.token) as running_agent,
    ):
        deadline = 2 * SCAN_INTERVAL_S + 10
        try:
            wait_for(lambda: stored_counts(site) >= (UNITS, 1), deadline, "first scan stored")
        except AssertionError:
            pytest.fail(f"nothing stored; agent log:\n{tail(running_agent.log)}")
        health = running_agent.health()
        state = sim_state(control)
    assert health["silent_units"] == 0
    assert mismatches_with_simulator(site, state) == []
