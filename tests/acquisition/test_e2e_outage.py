"""The portal goes away mid-run and comes back: every reading taken meanwhile arrives, once.

Simulator (TCP, running physics) -> agent -> portal (gunicorn) -> PostgreSQL. The gateway's
heartbeat is 1 s, shorter than the 10 s scan interval, so the agent queues every unit of every
scan: the readings it took are exactly ``scans x units``, and the stored rows must be that many,
one per (unit, scan timestamp), with no scan missing from the sequence.
"""

from __future__ import annotations

import datetime as dt
import itertools
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

UNITS = 8
OUTAGE_SCANS = 2


@pytest.mark.slow
def test_readings_taken_while_the_portal_is_down_arrive_exactly_once(
    transactional_db: Any, tmp_path: Path
) -> None:
    sim_port = free_port()
    site = make_e2e_site(UNITS, heartbeat_s=1, host="127.0.0.1", port=sim_port)
    ids = [b.pk for b in site.batteries]
    portal = Portal(tmp_path)
    with (
        simulator(
            tmp_path, site.scenario, "--tcp", f"127.0.0.1:{sim_port}", time_factor=60
        ) as _control,
        portal,
        agent(tmp_path, portal.url, site.token) as running_agent,
    ):
        try:
            wait_for(lambda: stored_counts(site)[0] >= UNITS, 2 * SCAN_INTERVAL_S + 5, "first scan")
            portal.stop()
            down = wait_for(
                lambda: (h := running_agent.health()).get("outbox_depth", 0) >= OUTAGE_SCANS and h,
                (OUTAGE_SCANS + 1) * SCAN_INTERVAL_S + 5,
                "scans queued in the outbox while the portal is down",
            )
            assert down["portal_reachable"] is False
            portal.start()
            wait_for(
                lambda: running_agent.health().get("outbox_depth") == 0,
                SCAN_INTERVAL_S,
                "outbox drained after the portal came back",
            )
        except AssertionError as exc:
            pytest.fail(f"{exc}; agent log:\n{tail(running_agent.log)}")
        # Stop right after a scan, so none starts between reading the counters and the stop.
        scans = running_agent.health()["scans"]
        wait_for(lambda: running_agent.health()["scans"] > scans, SCAN_INTERVAL_S + 5, "a scan")
        health = running_agent.health()
        stop_process(running_agent.proc)
    assert running_agent.proc.returncode == 0, tail(running_agent.log)
    assert health["silent_units"] == 0 and health["scans"] >= OUTAGE_SCANS + 2
    taken = health["readings_queued"]
    assert taken == health["scans"] * (UNITS + 1)
    left_ts, left = outbox_readings(running_agent.state_dir)  # the last scan may not be sent yet
    assert sum(stored_counts(site)) + left == taken

    per_ts = Reading.objects.filter(battery_id__in=ids).values("ts").annotate(n=Count("battery_id"))
    assert {row["n"] for row in per_ts} == {UNITS}, "every scan stored every battery, once"
    stamps = sorted({row["ts"] for row in per_ts} | {dt.datetime.fromisoformat(t) for t in left_ts})
    assert len(stamps) == health["scans"]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert all(abs(g - SCAN_INTERVAL_S) < 1.0 for g in gaps), gaps  # no scan missing
    bank_ts = set(BankReading.objects.filter(bank_id=site.bank.pk).values_list("ts", flat=True))
    assert bank_ts == {row["ts"] for row in per_ts}
