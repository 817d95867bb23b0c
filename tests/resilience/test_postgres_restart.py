"""PostgreSQL restarts during ingest: the agent retries, every reading arrives exactly once.

Simulator (TCP) -> agent -> portal (gunicorn, persistent database connections as in production)
-> a private PostgreSQL cluster, which the test stops (fast shutdown: sessions cut) for two scans
and starts again. Meanwhile the portal answers 5xx and the agent keeps its scans in the outbox;
afterwards the portal's workers must reconnect by themselves and the agent must deliver the
backlog. The gateway's heartbeat is 1 s, so every scan queues every unit: what the agent took is
``scans x (units + 1)`` and the stored rows must be exactly those, one per (unit, scan).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acquisition.e2e_helpers import (
    SCAN_INTERVAL_S,
    Portal,
    agent,
    outbox_readings,
    simulator,
    stop_process,
    tail,
    wait_for,
)
from tests.acquisition.simulator_helpers import free_port
from tests.resilience.helpers import poll, private_postgres, seed_e2e_site

UNITS = 6
OUTAGE_SCANS = 2


@pytest.mark.slow
def test_readings_taken_while_postgresql_restarts_arrive_exactly_once(tmp_path: Path) -> None:
    with private_postgres() as pg:
        sim_port = free_port()
        site = seed_e2e_site(pg.url, UNITS, sim_port)
        batteries, bank = site["batteries"], site["bank"]

        def stored() -> int:
            return int(
                pg.scalar(
                    "SELECT count(*) FROM acquisition_reading WHERE battery_id = ANY(%s)", batteries
                )
            )

        portal = Portal(tmp_path, env={"DATABASE_URL": pg.url, "DB_CONN_MAX_AGE": "60"})
        with (
            simulator(tmp_path, site["scenario"], "--tcp", f"127.0.0.1:{sim_port}"),
            portal,
            agent(tmp_path, portal.url, site["token"]) as running_agent,
        ):
            logs = lambda: f"agent:\n{tail(running_agent.log)}\nportal:\n{tail(portal.log)}"  # noqa: E731
            try:
                poll(lambda: stored() >= UNITS, 2 * SCAN_INTERVAL_S + 10, "first scan stored")
                pg.stop()
                down = wait_for(
                    lambda: (
                        (h := running_agent.health()).get("outbox_depth", 0) >= OUTAGE_SCANS and h
                    ),
                    (OUTAGE_SCANS + 1) * SCAN_INTERVAL_S + 10,
                    "scans kept in the outbox while PostgreSQL is down",
                )
                assert down["portal_reachable"] is False, "the portal refused, the agent knows"
                pg.start()
                wait_for(
                    lambda: running_agent.health().get("outbox_depth") == 0,
                    2 * SCAN_INTERVAL_S + 10,
                    "outbox drained after PostgreSQL came back",
                )
                # stop right after a scan, so none starts between reading the counters and the stop
                scans = running_agent.health()["scans"]
                wait_for(
                    lambda: running_agent.health()["scans"] > scans, SCAN_INTERVAL_S + 10, "a scan"
                )
            except AssertionError as exc:
                pytest.fail(f"{exc}\n{logs()}")
            health = running_agent.health()
            stop_process(running_agent.proc)
        assert running_agent.proc.returncode == 0, tail(running_agent.log)
        # >= the first scan, the outage's scans and one after; the first scan can itself be among
        # the outage's: stored, but its reply lost when PostgreSQL stopped (then resent, and the
        # retried batch stores nothing twice: checked below)
        assert health["silent_units"] == 0 and health["scans"] >= OUTAGE_SCANS + 1
        taken = health["readings_queued"]
        assert taken == health["scans"] * (UNITS + 1)
        left_ts, left = outbox_readings(running_agent.state_dir)  # the last may be unsent

        per_ts = pg.rows(
            "SELECT ts, count(*), count(DISTINCT battery_id) FROM acquisition_reading"
            " WHERE battery_id = ANY(%s) GROUP BY ts",
            batteries,
        )
        bank_ts = pg.rows("SELECT ts FROM acquisition_bankreading WHERE bank_id = %s", bank)
        assert {(n, distinct) for _, n, distinct in per_ts} == {(UNITS, UNITS)}, (
            "every scan stored every battery, once"
        )
        assert sorted(ts for (ts,) in bank_ts) == sorted(ts for ts, _, _ in per_ts)
        assert len(per_ts) * (UNITS + 1) + left == taken, "every reading taken is stored or queued"
        assert len(per_ts) + len(left_ts) == health["scans"]
