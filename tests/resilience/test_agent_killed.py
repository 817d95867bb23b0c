"""The edge agent is killed (SIGKILL) with scans in its outbox and restarted: every reading arrives,
exactly once.

Simulator (TCP) -> agent -> portal (gunicorn) -> PostgreSQL. The portal is stopped so scans pile up
in the agent's outbox, then the agent is killed outright (no clean shutdown: as a power cut of the
site box), restarted with the same config while the portal is still away, and the portal comes
back. The gateway's heartbeat is 1 s, so every scan queues every unit; the readings taken are the
first agent's ``readings_queued`` at the kill plus the second's at the end, and the stored rows
must be exactly those, one per (unit, scan).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db.models import Count

from acquisition.models import BankReading, Reading
from tests.acquisition.e2e_helpers import (
    SCAN_INTERVAL_S,
    Portal,
    agent,
    make_e2e_site,
    outbox_readings,
    simulator,
    stop_process,
    stored_counts,
    tail,
    wait_for,
)
from tests.acquisition.simulator_helpers import free_port
from tests.resilience.helpers import kill_session

UNITS = 6
QUEUED_SCANS = 2


def _right_after_a_scan(running_agent: Any) -> dict[str, Any]:
    """The agent's counters just after a scan ended: the next one is a scan interval away."""
    scans = running_agent.health()["scans"]
    wait_for(lambda: running_agent.health()["scans"] > scans, SCAN_INTERVAL_S + 10, "a scan")
    return running_agent.health()


@pytest.mark.slow
def test_an_agent_killed_with_a_full_outbox_delivers_every_reading_once_after_restart(
    transactional_db: Any, tmp_path: Path
) -> None:
    sim_port = free_port()
    site = make_e2e_site(UNITS, heartbeat_s=1, host="127.0.0.1", port=sim_port)
    ids = [b.pk for b in site.batteries]
    portal = Portal(tmp_path)
    with simulator(tmp_path, site.scenario, "--tcp", f"127.0.0.1:{sim_port}"), portal:
        with agent(tmp_path, portal.url, site.token) as first:
            try:
                wait_for(
                    lambda: stored_counts(site)[0] >= UNITS, 2 * SCAN_INTERVAL_S + 10, "upload"
                )
                portal.stop()
                # the outbox grows at the end of a scan: the next one is a scan interval away
                before = wait_for(
                    lambda: (h := first.health()).get("outbox_depth", 0) >= QUEUED_SCANS and h,
                    (QUEUED_SCANS + 1) * SCAN_INTERVAL_S + 10,
                    "scans queued in the outbox while the portal is down",
                )
            except AssertionError as exc:
                pytest.fail(f"{exc}; agent log:\n{tail(first.log)}")
            kill_session(first.proc)
        assert first.proc.returncode == -9
        _, in_outbox = outbox_readings(first.state_dir)
        stored_before = sum(stored_counts(site))
        assert stored_before + in_outbox == before["readings_queued"], (
            "every reading the killed agent had queued is stored or still in its outbox"
        )
        assert in_outbox >= QUEUED_SCANS * (UNITS + 1)

        with agent(tmp_path, portal.url, site.token) as second:  # same config and state dir
            try:
                wait_for(
                    lambda: second.health().get("scans", 0) >= 1, SCAN_INTERVAL_S + 10, "a scan"
                )
                portal.start()
                wait_for(
                    lambda: second.health().get("outbox_depth") == 0,
                    2 * SCAN_INTERVAL_S + 10,
                    "outbox drained after the portal came back",
                )
                after = _right_after_a_scan(second)
            except AssertionError as exc:
                pytest.fail(f"{exc}; agent log:\n{tail(second.log)}")
            stop_process(second.proc)
        assert second.proc.returncode == 0, tail(second.log)

    assert before["silent_units"] == after["silent_units"] == 0
    taken = before["readings_queued"] + after["readings_queued"]
    assert taken == (before["scans"] + after["scans"]) * (UNITS + 1)
    left_ts, left = outbox_readings(second.state_dir)  # the last scan may not be sent yet
    assert sum(stored_counts(site)) + left == taken, "every reading taken is stored, once"

    per_ts = Reading.objects.filter(battery_id__in=ids).values("ts").annotate(n=Count("battery_id"))
    assert {row["n"] for row in per_ts} == {UNITS}, "every scan stored every battery, once"
    assert len(per_ts) + len(left_ts) == before["scans"] + after["scans"]
    bank_ts = set(BankReading.objects.filter(bank_id=site.bank.pk).values_list("ts", flat=True))
    assert bank_ts == {row["ts"] for row in per_ts}
