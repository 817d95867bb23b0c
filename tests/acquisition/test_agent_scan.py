"""The edge agent scans real Modbus TCP devices on loopback and uploads what it read."""

from __future__ import annotations

import time

import pytest

from acquisition import registermap as rm
from tests.acquisition.agent_helpers import (
    FakePortal,
    ModbusBus,
    RunningAgent,
    Unit,
    batteries_on,
    bmu_values,
    cmu_values,
    portal_config,
    tcp_bus,
    wait_for,
    write_config,
)


@pytest.fixture
def bus_factory():
    started: list[ModbusBus] = []

    def make(units: dict[int, Unit]) -> ModbusBus:
        bus = ModbusBus(units).start()
        started.append(bus)
        return bus

    yield make
    for bus in started:
        bus.stop()


@pytest.fixture
def portal_factory():
    started: list[FakePortal] = []

    def make(config: dict) -> FakePortal:
        portal = FakePortal(config).start()
        started.append(portal)
        return portal

    yield make
    for p in started:
        p.stop()


def test_a_scan_reads_every_unit_and_uploads_the_served_values(
    tmp_path, bus_factory, portal_factory
):
    units = {a: Unit("H", bmu_values(voltage=12 + a / 100, temperature=20 + a)) for a in (1, 2, 3)}
    units[10] = Unit("CMU", cmu_values(current=-12.3))
    bus = bus_factory(units)
    cfg = portal_config(
        [tcp_bus("lan", bus)],
        batteries_on("lan", [1, 2, 3]),
        banks=[{"id": 7, "bus": "lan", "address": 10}],
    )
    portal = portal_factory(cfg)
    with RunningAgent(write_config(tmp_path / "a.toml", portal, tmp_path / "state")):
        scan = wait_for(lambda: portal.scans() and portal.scans()[0])
    assert scan["ts"].endswith("Z") and len(scan["ts"]) == 24
    got = {b["id"]: b for b in scan["batteries"]}
    assert set(got) == {1, 2, 3}
    for i, address in enumerate((1, 2, 3), start=1):
        served = units[address].values
        for name in rm.BMU_PARAMETERS:
            assert got[i][name] == pytest.approx(
                served[name], abs=rm.BMU_MEASUREMENTS.field(name).scale
            )
        assert got[i]["status"] == 0
    assert scan["banks"] == [
        {"id": 7, "string_voltage": 540.12, "current": -12.3, "ambient": 23.5, "status": 0}
    ]
    assert scan["silent"] == {"batteries": [], "banks": []}
    # every BMU got its automatic DCR interval (24 h) when first seen
    assert all(units[a].holding.get(rm.BMU_DCR_INTERVAL) == 24 * 60 for a in (1, 2, 3))


def test_a_dead_unit_costs_one_timeout_and_is_listed_silent(tmp_path, bus_factory, portal_factory):
    units = {
        1: Unit("H", bmu_values()),
        2: Unit("H", bmu_values(), dead=True),
        3: Unit("H", bmu_values()),
    }
    bus = bus_factory(units)
    cfg = portal_config([tcp_bus("lan", bus, timeout_s=0.4)], batteries_on("lan", [1, 2, 3]))
    portal = portal_factory(cfg)
    with RunningAgent(write_config(tmp_path / "a.toml", portal, tmp_path / "state")) as agent:
        scan = wait_for(lambda: portal.scans() and portal.scans()[0])
        assert {b["id"] for b in scan["batteries"]} == {1, 3}
        assert scan["silent"] == {"batteries": [2], "banks": []}
        # one timeout (0.4 s) for the dead unit, the others answer in milliseconds
        assert 0.35 < agent.last_scan_s < 0.8
        assert agent.overruns == 0


def test_a_unit_answering_with_an_exception_is_a_failed_read_of_that_unit_only(
    tmp_path, bus_factory, portal_factory
):
    units = {1: Unit("H", bmu_values()), 2: Unit("H", bmu_values(), corrupt=True)}
    bus = bus_factory(units)
    portal = portal_factory(portal_config([tcp_bus("lan", bus)], batteries_on("lan", [1, 2])))
    with RunningAgent(write_config(tmp_path / "a.toml", portal, tmp_path / "state")):
        scan = wait_for(lambda: portal.scans() and portal.scans()[0])
    assert [b["id"] for b in scan["batteries"]] == [1]
    assert scan["silent"]["batteries"] == [2]


def test_two_buses_are_polled_in_parallel(tmp_path, bus_factory, portal_factory):
    # each bus has one slow unit answering after 0.5 s: sequential would take 1 s, parallel 0.5 s
    bus_a = bus_factory({1: Unit("H", bmu_values(), delay_s=0.5), 2: Unit("H", bmu_values())})
    bus_b = bus_factory({1: Unit("H", bmu_values(), delay_s=0.5), 2: Unit("H", bmu_values())})
    cfg = portal_config(
        [tcp_bus("a", bus_a, timeout_s=2), tcp_bus("b", bus_b, timeout_s=2)],
        batteries_on("a", [1, 2]) + batteries_on("b", [1, 2], first_id=3, bank=2),
        scan_interval_s=2,
    )
    portal = portal_factory(cfg)
    with RunningAgent(write_config(tmp_path / "a.toml", portal, tmp_path / "state")) as agent:
        scan = wait_for(lambda: portal.scans() and portal.scans()[0])
        assert {b["id"] for b in scan["batteries"]} == {1, 2, 3, 4}
        # the first scan also reads identities (one more slow answer per bus)
        wait_for(lambda: agent.scans >= 2, timeout=6)
        assert 0.45 < agent.last_scan_s < 0.9


def test_report_by_exception(tmp_path, bus_factory, portal_factory):
    units = {1: Unit("H", bmu_values(voltage=13.0)), 2: Unit("H", bmu_values(voltage=13.0))}
    bus = bus_factory(units)
    cfg = portal_config([tcp_bus("lan", bus)], batteries_on("lan", [1, 2]), scan_interval_s=0.5)
    portal = portal_factory(cfg)

    def reported(battery_id: int) -> list[dict]:
        return [b for s in portal.scans() for b in s["batteries"] if b["id"] == battery_id]

    with RunningAgent(write_config(tmp_path / "a.toml", portal, tmp_path / "state")) as agent:
        wait_for(lambda: reported(1))
        n = agent.scans
        wait_for(lambda: agent.scans >= n + 3)
        assert len(reported(1)) == 1  # unchanged values are not re-sent
        units[1].values["voltage"] = 13.05  # within 0.5 % of 13.0: still not sent
        wait_for(lambda: agent.scans >= n + 6)
        assert len(reported(1)) == 1
        units[1].values["voltage"] = 13.2  # beyond the deadband: sent at once
        wait_for(lambda: len(reported(1)) == 2, timeout=3)
        assert reported(1)[-1]["voltage"] == 13.2
        units[2].values["status"] = int(rm.BmuStatus.OPEN_CIRCUIT)  # a status change: sent at once
        wait_for(lambda: len(reported(2)) == 2, timeout=3)
        assert reported(2)[-1]["status"] == rm.BmuStatus.OPEN_CIRCUIT
        units[2].dead = True  # going silent is reported in the next scan
        wait_for(lambda: any(s["silent"]["batteries"] == [2] for s in portal.scans()), timeout=4)
        stats = agent.filter.stats
        assert stats.queued < stats.taken


def test_heartbeat_resends_unchanged_values(tmp_path, bus_factory, portal_factory):
    bus = bus_factory({1: Unit("H", bmu_values())})
    cfg = portal_config(
        [tcp_bus("lan", bus)], batteries_on("lan", [1]), scan_interval_s=0.5, heartbeat_s=1.2
    )
    portal = portal_factory(cfg)
    with RunningAgent(write_config(tmp_path / "a.toml", portal, tmp_path / "state")):
        wait_for(lambda: len(portal.scans()) >= 3, timeout=8)
    times = [s["ts"] for s in portal.scans()]
    assert len(set(times)) == len(times)


def test_the_agent_starts_from_its_cached_config_when_the_portal_is_down(
    tmp_path, bus_factory, portal_factory
):
    bus = bus_factory({1: Unit("H", bmu_values())})
    portal = portal_factory(portal_config([tcp_bus("lan", bus)], batteries_on("lan", [1])))
    path = write_config(tmp_path / "a.toml", portal, tmp_path / "state")
    with RunningAgent(path):
        wait_for(lambda: portal.scans())
    portal.status = 503
    with RunningAgent(path) as agent:
        wait_for(lambda: agent.scans >= 1, timeout=5)
        wait_for(lambda: agent.outbox.depth() >= 1, timeout=5)
        assert agent.cfg is not None and agent.cfg.version == "v1"
    time.sleep(0)
