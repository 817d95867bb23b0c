"""Configuration: the local TOML file and the portal-supplied gateway configuration.

Two sources on purpose: the local file holds what belongs to the box (portal URL, token, state
directory, serial device names); the portal holds what belongs to the site (which units sit on which
bus, scan interval, deadbands). A bad local file is fatal at start (exit 2, the key and file named);
a bad portal configuration is refused and the last good one (cached on disk) keeps running.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acquisition import registermap as rm


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names the key and the source."""


@dataclass(frozen=True)
class LocalConfig:
    """The agent's own TOML file (``--config``)."""

    path: Path
    portal_url: str
    token: str
    state_dir: Path
    outbox_max_scans: int = 100_000
    upload_max_scans: int = 50
    http_timeout_s: float = 10.0
    scada_listen: tuple[str, int] | None = None
    health_listen: tuple[str, int] | None = None
    log_level: str = "INFO"
    bus_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    relay_reassert_s: float = 60.0


def _listen(value: object, key: str, where: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f"{where}: {key} must be 'HOST:PORT', got {value!r}")
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where}: {key} has an invalid port in {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _typed(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}: {key} has the wrong type ({type(value).__name__})")
    return value


def load_local(path: str | os.PathLike[str]) -> LocalConfig:
    """Read and validate the TOML file; raise ConfigError naming the key and the file."""
    p = Path(path)
    where = str(p)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{where}: config file not found") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read config file: {exc}") from None
    known = {f for f in LocalConfig.__dataclass_fields__ if f != "path"} | {"token_file"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}")
    for key in ("portal_url", "state_dir"):
        if key not in data:
            raise ConfigError(f"{where}: missing required key {key!r}")
    url = _typed(data, "portal_url", str, where).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: portal_url must start with http:// or https://")
    token = _token(data, where)
    kw: dict[str, Any] = {}
    for key, kind, low in (
        ("outbox_max_scans", int, 10),
        ("upload_max_scans", int, 1),
        ("http_timeout_s", (int, float), 0.1),
        ("backoff_initial_s", (int, float), 0.01),
        ("backoff_max_s", (int, float), 0.01),
        ("relay_reassert_s", (int, float), 1),
    ):
        if key in data:
            value = _typed(data, key, kind, where)
            if value < low:
                raise ConfigError(f"{where}: {key} must be at least {low}")
            kw[key] = value
    for key in ("scada_listen", "health_listen"):
        if key in data:
            kw[key] = _listen(data[key], key, where)
    if "log_level" in data:
        level = str(data["log_level"]).upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigError(f"{where}: log_level must be DEBUG, INFO, WARNING or ERROR")
        kw["log_level"] = level
    overrides = data.get("bus_overrides", {})
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise ConfigError(f"{where}: bus_overrides must be tables, e.g. [bus_overrides.rs485-1]")
    state_dir = Path(_typed(data, "state_dir", str, where))
    return LocalConfig(p, url, token, state_dir, bus_overrides=overrides, **kw)


def _token(data: dict[str, Any], where: str) -> str:
    if "token" in data:
        token = _typed(data, "token", str, where).strip()
    elif "token_file" in data:
        tf = Path(_typed(data, "token_file", str, where))
        try:
            token = tf.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: token_file {str(tf)!r} unreadable: {exc}") from None
    else:
        raise ConfigError(f"{where}: missing required key 'token' (or 'token_file')")
    if not token:
        raise ConfigError(f"{where}: token is empty")
    return token


# -- portal configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bus:
    name: str
    kind: str  # "rtu" or "tcp"
    timeout_s: float
    host: str = ""
    port: int | str = 502  # TCP port, or the serial device for RTU
    baud: int = 9600
    parity: str = "N"


@dataclass(frozen=True)
class UnitRef:
    """One polled unit: a battery (BMU) or a bank (CMU)."""

    kind: str  # "battery" or "bank"
    id: int
    bus: str
    address: int
    unit_type: str  # "L", "H" or "CMU"
    bank: int | None = None
    position: int = 0


@dataclass(frozen=True)
class PortalConfig:
    version: str
    raw: dict[str, Any]
    scan_interval_s: float
    heartbeat_s: float
    dcr_interval_h: float
    buses: dict[str, Bus]
    batteries: list[UnitRef]  # ordered by bank then position (the SCADA slot order)
    banks: list[UnitRef]  # ordered by id
    relay: tuple[str, int] | None
    deadbands: dict[str, tuple[str, float]]

    def units_on(self, bus: str) -> list[UnitRef]:
        return [u for u in self.banks + self.batteries if u.bus == bus]


def parse_portal(
    raw: dict[str, Any], overrides: dict[str, dict[str, Any]] | None = None
) -> PortalConfig:
    """Validate the portal's JSON configuration (raise ConfigError saying what is wrong)."""
    where = "portal config"
    try:
        return _parse_portal(raw, overrides or {}, where)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: malformed ({type(exc).__name__}: {exc})") from None


def _parse_portal(
    raw: dict[str, Any], overrides: dict[str, dict[str, Any]], where: str
) -> PortalConfig:
    buses: dict[str, Bus] = {}
    for b in raw["buses"]:
        b = {**b, **overrides.get(b["name"], {})}
        kind = b["kind"]
        if kind not in ("rtu", "tcp"):
            raise ConfigError(f"{where}: bus {b['name']!r} has unknown kind {kind!r}")
        buses[b["name"]] = Bus(
            name=b["name"],
            kind=kind,
            timeout_s=float(b.get("timeout_s", 1.0)),
            host=str(b.get("host", "")),
            port=b["port"] if kind == "rtu" else int(b.get("port", 502)),
            baud=int(b.get("baud", 9600)),
            parity=str(b.get("parity", "N")),
        )
    batteries = [
        UnitRef(
            "battery",
            int(x["id"]),
            x["bus"],
            int(x["address"]),
            str(x["unit_type"]),
            x.get("bank"),
            int(x.get("position") or 0),
        )
        for x in raw.get("batteries", [])
    ]
    batteries.sort(key=lambda u: (u.bank if u.bank is not None else 1 << 30, u.position, u.id))
    banks = sorted(
        (
            UnitRef("bank", int(x["id"]), x["bus"], int(x["address"]), "CMU")
            for x in raw.get("banks", [])
        ),
        key=lambda u: u.id,
    )
    relay = raw.get("relay")
    relay_ref = (str(relay["bus"]), int(relay["address"])) if relay else None
    _check_units(buses, batteries, banks, relay_ref, where)
    deadbands = dict(rm.ACCURACY)
    for name, band in (raw.get("deadbands") or {}).items():
        mode, width = band
        if mode not in ("rel", "abs") or float(width) < 0:
            raise ConfigError(f"{where}: deadband {name!r} must be ['rel'|'abs', >= 0]")
        deadbands[name] = (mode, float(width))
    interval = float(raw["scan_interval_s"])
    if interval <= 0:
        raise ConfigError(f"{where}: scan_interval_s must be positive")
    return PortalConfig(
        version=str(raw["config_version"]),
        raw=raw,
        scan_interval_s=interval,
        heartbeat_s=float(raw.get("heartbeat_s", 300)),
        dcr_interval_h=float(raw.get("dcr_interval_h", 24)),
        buses=buses,
        batteries=batteries,
        banks=banks,
        relay=relay_ref,
        deadbands=deadbands,
    )


def _check_units(
    buses: dict[str, Bus],
    batteries: list[UnitRef],
    banks: list[UnitRef],
    relay: tuple[str, int] | None,
    where: str,
) -> None:
    """Enforce the Modbus limits: 1..247 per RTU bus, 254 units per gateway, no address twice."""
    units = [(u.kind, u.id, u.bus, u.address) for u in banks + batteries]
    if relay:
        units.append(("relay", 0, relay[0], relay[1]))
    if len(units) > rm.MAX_UNITS_PER_GATEWAY:
        raise ConfigError(
            f"{where}: {len(units)} units, a gateway polls at most {rm.MAX_UNITS_PER_GATEWAY}"
        )
    seen: dict[tuple[str, int], str] = {}
    per_bus: dict[str, int] = {}
    for kind, uid, bus, address in units:
        if bus not in buses:
            raise ConfigError(f"{where}: {kind} {uid} is on unknown bus {bus!r}")
        high = rm.MAX_RTU_ADDRESS if buses[bus].kind == "rtu" else 255
        if not 1 <= address <= high:
            raise ConfigError(f"{where}: {kind} {uid} address {address} outside 1..{high}")
        if (bus, address) in seen:
            raise ConfigError(
                f"{where}: {kind} {uid} and {seen[(bus, address)]} "
                f"share address {address} on {bus!r}"
            )
        seen[(bus, address)] = f"{kind} {uid}"
        per_bus[bus] = per_bus.get(bus, 0) + 1
    for bus, n in per_bus.items():
        if buses[bus].kind == "rtu" and n > rm.MAX_RTU_ADDRESS:
            raise ConfigError(
                f"{where}: {n} units on RTU bus {bus!r}, at most {rm.MAX_RTU_ADDRESS}"
            )


def cache_path(state_dir: Path) -> Path:
    return state_dir / "portal-config.json"


def save_cached(state_dir: Path, raw: dict[str, Any]) -> None:
    """Atomically store the last good portal config (write, fsync, rename)."""
    path = cache_path(state_dir)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(raw, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def load_cached(state_dir: Path) -> dict[str, Any] | None:
    try:
        with cache_path(state_dir).open(encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
