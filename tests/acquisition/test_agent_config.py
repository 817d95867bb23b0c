"""The agent refuses portal configurations that break the Modbus limits."""

from __future__ import annotations

import pytest

from acquisition.agent.config import ConfigError, parse_portal
from tests.acquisition.agent_helpers import portal_config

RTU = {"name": "rs485", "kind": "rtu", "port": "/dev/ttyUSB0", "baud": 9600, "timeout_s": 0.5}
TCP = {"name": "lan", "kind": "tcp", "host": "10.0.0.2", "port": 502, "timeout_s": 1}


def _batteries(bus: str, n: int, first: int = 1) -> list[dict]:
    return [
        {"id": first + i, "bus": bus, "address": 1 + i, "unit_type": "H", "bank": 1, "position": i}
        for i in range(n)
    ]


def test_a_valid_config_is_ordered_by_bank_and_position_and_overrides_apply():
    raw = portal_config([RTU], list(reversed(_batteries("rs485", 3))))
    cfg = parse_portal(raw, {"rs485": {"port": "/dev/ttyUSB1"}})
    assert [b.id for b in cfg.batteries] == [1, 2, 3]
    assert cfg.buses["rs485"].port == "/dev/ttyUSB1"
    assert cfg.deadbands["voltage"] == ("rel", 0.005)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (portal_config([RTU], _batteries("rs485", 248)), "outside 1..247"),
        (
            portal_config([RTU, TCP], _batteries("rs485", 200) + _batteries("lan", 55, 300)),
            "at most 254",
        ),
        (
            portal_config([RTU], _batteries("rs485", 2) + _batteries("rs485", 1, 50)),
            "share address",
        ),
        (portal_config([RTU], _batteries("nowhere", 1)), "unknown bus"),
    ],
)
def test_a_config_breaking_the_limits_is_refused(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_portal(raw)
