"""Portal commands reach the devices; the SCADA server re-publishes the latest values."""

from __future__ import annotations

import pytest
from pymodbus.client import ModbusTcpClient

from acquisition import registermap as rm
from acquisition.agent import scada
from tests.acquisition.agent_helpers import (
    FakePortal,
    ModbusBus,
    RunningAgent,
    Unit,
    batteries_on,
    bmu_values,
    cmu_values,
    free_port,
    portal_config,
    tcp_bus,
    wait_for,
    write_config,
)


@pytest.fixture
def units():
    return {
        1: Unit("H", bmu_values(voltage=13.1, temperature=-5.2)),
        2: Unit("H", bmu_values(voltage=12.9), dead=True),
        10: Unit("CMU", cmu_values(current=-250.5)),
        247: Unit("RELAY"),
    }


@pytest.fixture
def site(units):
    bus = ModbusBus(units).start()
    portal = FakePortal(
        portal_config(
            [tcp_bus("lan", bus)],
            batteries_on("lan", [1, 2]),
            banks=[{"id": 5, "bus": "lan", "address": 10}],
            relay={"bus": "lan", "address": 247},
            scan_interval_s=0.5,
            heartbeat_s=0,
        )
    ).start()
    yield bus, portal
    portal.stop()
    bus.stop()


def test_relay_and_dcr_commands_are_written_to_the_devices(tmp_path, site, units):
    _bus, portal = site
    portal.commands = {"relays": [True, False, True, False], "measure_dcr": [1]}
    with RunningAgent(write_config(tmp_path / "a.toml", portal, tmp_path / "s")):
        wait_for(lambda: units[247].coils == [True, False, True, False], timeout=5)
        wait_for(lambda: units[1].holding.get(rm.BMU_COMMAND) == rm.CMD_MEASURE_DCR, timeout=5)
        # the next requests report what the relay module acknowledged
        wait_for(
            lambda: portal.agents and portal.agents[-1]["relays"] == [True, False, True, False]
        )
    assert portal.agents[0]["config_version"] == "v1"


def test_relays_are_reasserted(tmp_path, site, units):
    _bus, portal = site
    portal.commands = {"relays": [False, True, False, False]}
    cfg = write_config(tmp_path / "a.toml", portal, tmp_path / "s", relay_reassert_s=1)
    with RunningAgent(cfg):
        wait_for(lambda: units[247].coils == [False, True, False, False], timeout=5)
        units[247].coils[:] = [False] * 4  # the module was power-cycled
        wait_for(lambda: units[247].coils == [False, True, False, False], timeout=5)


def test_a_quiet_site_still_gets_relay_changes_within_two_scans(tmp_path, units):
    bus = ModbusBus(units).start()
    portal = FakePortal(
        portal_config(
            [tcp_bus("lan", bus)],
            batteries_on("lan", [1]),
            relay={"bus": "lan", "address": 247},
            scan_interval_s=0.5,
            heartbeat_s=3600,  # nothing changes and no heartbeat is due: no readings to upload
        )
    ).start()
    try:
        with RunningAgent(write_config(tmp_path / "a.toml", portal, tmp_path / "s")):
            wait_for(lambda: len(portal.scans()) >= 1, timeout=5)  # the first full report
            wait_for(lambda: len(portal.attempts) >= 3, timeout=5)  # then command polls
            assert all(n == 0 for _batch, n, _code in portal.attempts[1:])
            portal.commands = {"relays": [True, True, False, False]}
            wait_for(lambda: units[247].coils == [True, True, False, False], timeout=1.5)
    finally:
        portal.stop()
        bus.stop()


def test_the_scada_server_serves_the_documented_registers(tmp_path, site, units):
    _bus, portal = site
    port = free_port()
    cfg = write_config(
        tmp_path / "a.toml", portal, tmp_path / "s", scada_listen=f"127.0.0.1:{port}"
    )
    with RunningAgent(cfg) as agent:
        wait_for(lambda: agent.scans >= 1, timeout=5)
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        try:
            header = client.read_input_registers(scada.HEADER, count=10, device_id=1).registers
            b0 = client.read_input_registers(scada.BATTERIES, count=8, device_id=1).registers
            b1 = client.read_input_registers(scada.BATTERIES + 8, count=8, device_id=1).registers
            bank = client.read_input_registers(scada.BANKS, count=6, device_id=1).registers
            flags = client.read_input_registers(scada.BATTERY_FLAGS, count=2, device_id=1).registers
            bank_flag = client.read_input_registers(
                scada.BANK_FLAGS, count=1, device_id=1
            ).registers
        finally:
            client.close()
    assert header[0:3] == [1, 2, 1]
    assert header[3] << 16 | header[4] > 1_700_000_000
    assert b0 == units[1].measurement_registers()  # raw, exactly what the BMU served
    assert rm.BMU_MEASUREMENTS.decode(b0)["temperature"] == pytest.approx(-5.2)
    assert b1 == [0] * 8
    assert bank == units[10].measurement_registers()
    assert flags == [scada.FLAG_OK, scada.FLAG_NEVER]
    assert bank_flag == [scada.FLAG_OK]
