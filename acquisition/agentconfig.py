"""The configuration a gateway's edge agent runs (``GET /api/v1/agent/config/``) and its version.

The same data serves the ingest: which battery ids a gateway may report and their unit types. The
ingest looks it up through a small per-process cache (``gateway_fleet``) so a request costs no
fleet queries on a hit; entries live ``CACHE_TTL_S`` seconds and are keyed by the gateway's own
settings too, so a change to the gateway row shows at once and a change of buses, banks or
batteries within the TTL (a scan interval).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from acquisition import registermap
from sites.choices import BatteryStatus, BusKind
from sites.models import Bank, Battery, Bus, Gateway

CACHE_TTL_S = 10.0


def build_config(gateway: Gateway) -> dict[str, Any]:
    """The agent configuration of ``gateway`` as in docs/ingest-protocol.md (three queries)."""
    buses = list(Bus.objects.filter(gateway=gateway).order_by("name"))
    bus_names: dict[int | None, str] = {b.pk: b.name for b in buses}
    banks = Bank.objects.filter(bus__gateway=gateway, cmu_address__isnull=False).order_by("pk")
    batteries = (
        Battery.objects.filter(bus__gateway=gateway, status=BatteryStatus.IN_SERVICE)
        .select_related("model")
        .order_by("pk")
    )
    relay = None
    if gateway.relay_bus_id and gateway.relay_address:
        relay = {"bus": bus_names.get(gateway.relay_bus_id), "address": gateway.relay_address}
    config: dict[str, Any] = {
        "gateway": {"id": gateway.pk, "name": gateway.name, "site": gateway.site.slug},
        "scan_interval_s": gateway.scan_interval_s,
        "heartbeat_s": gateway.heartbeat_s,
        "dcr_interval_h": gateway.dcr_interval_h,
        "buses": [_bus(b) for b in buses],
        "batteries": [
            {
                "id": b.pk,
                "bus": bus_names[b.bus_id],
                "address": b.bmu_address,
                "unit_type": b.model.unit_type,
                "bank": b.bank_id,
                "position": b.position,
            }
            for b in batteries
        ],
        "banks": [
            {"id": k.pk, "bus": bus_names[k.bus_id], "address": k.cmu_address} for k in banks
        ],
        "relay": relay,
        "deadbands": {name: list(band) for name, band in registermap.ACCURACY.items()},
    }
    return {"config_version": config_version(config), **config}


def _bus(bus: Bus) -> dict[str, Any]:
    timeout_s = bus.timeout_ms / 1000
    if bus.kind == BusKind.RTU:
        return {
            "name": bus.name,
            "kind": "rtu",
            "port": bus.serial_port,
            "baud": bus.baud,
            "parity": bus.parity,
            "timeout_s": timeout_s,
        }
    return {
        "name": bus.name,
        "kind": "tcp",
        "host": bus.host,
        "port": bus.port,
        "timeout_s": timeout_s,
    }


def config_version(config: dict[str, Any]) -> str:
    """8 hex digits of the SHA-256 of the canonical JSON: changes exactly when the content does."""
    content = {k: v for k, v in config.items() if k != "config_version"}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class GatewayFleet:
    """What the ingest needs to know about one gateway's units."""

    version: str
    batteries: dict[int, str]  # in-service battery id -> unit type ("L" / "H")
    banks: frozenset[int]  # banks with a CMU on this gateway's buses
    relay: bool


_cache: dict[tuple, tuple[float, GatewayFleet]] = {}
_lock = threading.Lock()


def _cache_key(gateway: Gateway) -> tuple:
    return (
        gateway.pk,
        gateway.name,
        gateway.site.slug,
        gateway.scan_interval_s,
        gateway.heartbeat_s,
        gateway.dcr_interval_h,
        gateway.relay_bus_id,
        gateway.relay_address,
    )


def gateway_fleet(gateway: Gateway, *, max_age_s: float = CACHE_TTL_S) -> GatewayFleet:
    """The gateway's units and config version, from the process cache when fresh enough."""
    key = _cache_key(gateway)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and now - hit[0] < max_age_s:
        return hit[1]
    config = build_config(gateway)
    fleet = GatewayFleet(
        version=config["config_version"],
        batteries={b["id"]: b["unit_type"] for b in config["batteries"]},
        banks=frozenset(k["id"] for k in config["banks"]),
        relay=config["relay"] is not None,
    )
    with _lock:
        for stale in [k for k, (t, _) in _cache.items() if now - t >= max_age_s]:
            del _cache[stale]
        _cache[key] = (now, fleet)
    return fleet


def clear_cache() -> None:
    """Forget every cached gateway (tests; after a bulk fleet change)."""
    with _lock:
        _cache.clear()
