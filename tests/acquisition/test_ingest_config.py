"""GET /api/v1/agent/config/: the agent's configuration and its version."""

from __future__ import annotations

from typing import Any

from sites.choices import BusKind
from tests.conftest import make_bank, make_bus, make_gateway, make_site


def get_config(client: Any, token: str) -> Any:
    return client.get("/api/v1/agent/config/", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_agent_config_describes_the_gateways_buses_banks_and_batteries(
    client: Any, db: Any
) -> None:
    site = make_site(slug="shelter-a")
    gateway, token = make_gateway(site, name="Shelter A edge")
    rtu = make_bus(gateway, name="rs485-1", kind=BusKind.RTU, serial_port="/dev/ttyUSB0")
    gateway.relay_bus, gateway.relay_address = rtu, 247
    gateway.save()
    bank = make_bank(site, bus=rtu, batteries=2, cmu_address=1)
    other_site = make_site()
    make_bank(other_site, batteries=2)  # another gateway's units are not listed

    reply = get_config(client, token)
    assert reply.status_code == 200
    config = reply.json()
    b1, b2 = bank.batteries.order_by("position")
    assert len(config["config_version"]) == 8
    assert config["gateway"] == {"id": gateway.pk, "name": "Shelter A edge", "site": "shelter-a"}
    assert (config["scan_interval_s"], config["heartbeat_s"], config["dcr_interval_h"]) == (
        10,
        300,
        24,
    )
    assert config["buses"] == [
        {
            "name": "rs485-1",
            "kind": "rtu",
            "port": "/dev/ttyUSB0",
            "baud": 9600,
            "parity": "N",
            "timeout_s": 0.5,
        }
    ]
    assert config["batteries"] == [
        {
            "id": b.pk,
            "bus": "rs485-1",
            "address": b.bmu_address,
            "unit_type": "H",
            "bank": bank.pk,
            "position": b.position,
        }
        for b in (b1, b2)
    ]
    assert config["banks"] == [{"id": bank.pk, "bus": "rs485-1", "address": 1}]
    assert config["relay"] == {"bus": "rs485-1", "address": 247}
    assert config["deadbands"]["voltage"] == ["rel", 0.005]
    assert config["deadbands"]["current"] == ["abs", 0.1]


def test_config_version_is_stable_and_changes_when_a_battery_is_added(
    client: Any, setup: Any
) -> None:
    first = get_config(client, setup.token).json()["config_version"]
    assert get_config(client, setup.token).json()["config_version"] == first
    make_bank(setup.site, bus=setup.bus, batteries=1, cmu_address=20)
    assert get_config(client, setup.token).json()["config_version"] != first


def test_agent_config_needs_a_gateway_token(client: Any, setup: Any) -> None:
    assert client.get("/api/v1/agent/config/").status_code == 401
    assert get_config(client, "nope").json() == {"error": "unknown gateway token"}
