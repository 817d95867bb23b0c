"""Scenario files: which units the simulator serves and what happens to them.

A scenario is plain JSON so that a test, the portal's demo and a person at a shell can all write
one. Validation is strict and every error names the offending key and where it is
(``banks[1].count: must be 1..247``), because a simulator that silently ignores a typo wastes the
afternoon of whoever is debugging the agent against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acquisition import registermap as rm

UNIT_TYPES = ("L", "H")
#: Faults that change the physics of a battery (need a BMU address).
PHYSICAL_FAULTS = ("dry_out", "sulfation", "thermal_runaway", "open_cell")
#: Faults of the communication only (any unit: BMU, CMU or relay module).
COMM_FAULTS = ("silent", "corrupt")
FAULT_KINDS = PHYSICAL_FAULTS + COMM_FAULTS

#: Float voltage per nominal block voltage (VRLA 2.27 V/cell, NiCd 1.40 V/cell).
DEFAULT_FLOAT = {1.2: 1.40, 2.0: 2.27, 6.0: 6.81, 12.0: 13.62, 12.8: 13.8}
#: Block nominal voltages per BMU type: lead-acid/NiCd cells and blocks, and 4-cell LFP (12.8 V).
NOMINALS = {"L": (1.2, 2.0), "H": (6.0, 12.0, 12.8)}
MAX_ADDRESS = rm.MAX_UNITS_PER_GATEWAY  # 254 on TCP; RTU is checked against 247 when serving


class ScenarioError(ValueError):
    """A scenario is invalid; the message names the key and its place."""


@dataclass(frozen=True, slots=True)
class BankSpec:
    """One string of identical batteries, optionally with a CMU."""

    cmu: int | None
    unit_type: str
    nominal_voltage: float
    first_address: int
    count: int
    capacity_ah: float
    dcr_baseline_mohm: float
    age_days: float
    float_voltage: float

    @property
    def addresses(self) -> range:
        return range(self.first_address, self.first_address + self.count)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    address: int
    kind: str
    after_s: float = 0.0
    severity: float = 1.0


@dataclass(frozen=True, slots=True)
class LoadEvent:
    """A forced string current (negative = discharge) during ``[at_s, at_s + duration_s)``."""

    bank_cmu: int
    at_s: float
    duration_s: float
    current: float


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything the simulator serves. Build with ``from_dict``, ``from_file`` or ``default``."""

    banks: tuple[BankSpec, ...]
    relay: int | None = None
    ambient_c: float = 24.0
    time_factor: float = 1.0
    seed: int = 1
    faults: tuple[FaultSpec, ...] = ()
    load_events: tuple[LoadEvent, ...] = field(default=())

    @classmethod
    def default(cls, units: int = 8, *, time_factor: float = 1.0, seed: int = 1) -> Scenario:
        """``units`` H-type 12 V blocks at addresses 1..units, one bank, no CMU, no relay."""
        return cls.from_dict(
            {
                "time_factor": time_factor,
                "seed": seed,
                "banks": [{"cmu": None, "unit_type": "H", "first_address": 1, "count": units}],
            }
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"{path}: not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Scenario:
        """Validate ``data`` (parsed JSON) and build a scenario, or raise ``ScenarioError``."""
        if not isinstance(data, dict):
            raise ScenarioError("scenario: must be a JSON object")
        known = {"time_factor", "seed", "banks", "relay", "ambient_c", "faults", "load_events"}
        _no_unknown(data, known, "")
        banks_raw = data.get("banks")
        if not isinstance(banks_raw, list) or not banks_raw:
            raise ScenarioError("banks: must be a non-empty list")
        banks = tuple(_bank(b, f"banks[{i}]") for i, b in enumerate(banks_raw))
        relay = data.get("relay")
        if relay is not None:
            relay = _int(relay, "relay", 1, MAX_ADDRESS)
        _check_addresses(banks, relay)
        bmus = {a for b in banks for a in b.addresses}
        everyone = bmus | {b.cmu for b in banks if b.cmu is not None}
        if relay is not None:
            everyone.add(relay)
        faults = tuple(
            _fault(f, f"faults[{i}]", bmus, everyone) for i, f in enumerate(_list(data, "faults"))
        )
        cmus = {b.cmu for b in banks if b.cmu is not None}
        events = tuple(
            _event(e, f"load_events[{i}]", cmus) for i, e in enumerate(_list(data, "load_events"))
        )
        return cls(
            banks=banks,
            relay=relay,
            ambient_c=_num(data.get("ambient_c", 24.0), "ambient_c", -10, 60),
            time_factor=_num(data.get("time_factor", 1.0), "time_factor", 0, 1e9),
            seed=_int(data.get("seed", 1), "seed", 0, 2**63),
            faults=faults,
            load_events=events,
        )

    def addresses(self) -> list[int]:
        """Every Modbus device id served, sorted."""
        ids = {a for b in self.banks for a in b.addresses}
        ids |= {b.cmu for b in self.banks if b.cmu is not None}
        if self.relay is not None:
            ids.add(self.relay)
        return sorted(ids)


# -- helpers ---------------------------------------------------------------------------------------


def _no_unknown(obj: dict[str, Any], known: set[str], where: str) -> None:
    for key in obj:
        if key not in known:
            raise ScenarioError(f"{where}{'.' if where else ''}{key}: unknown key")


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ScenarioError(f"{key}: must be a list")
    return value


def _num(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: must be a number")
    if not low <= value <= high:
        raise ScenarioError(f"{where}: must be {low:g}..{high:g}")
    return float(value)


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: must be an integer")
    if not low <= value <= high:
        raise ScenarioError(f"{where}: must be {low}..{high}")
    return value


def _bank(raw: Any, where: str) -> BankSpec:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be an object")
    known = {"cmu", "unit_type", "nominal_voltage", "first_address", "count", "capacity_ah"}
    known |= {"dcr_baseline_mohm", "age_days", "float_voltage"}
    _no_unknown(raw, known, where)
    unit_type = raw.get("unit_type", "H")
    if unit_type not in UNIT_TYPES:
        raise ScenarioError(f"{where}.unit_type: must be one of {', '.join(UNIT_TYPES)}")
    nominal = _num(
        raw.get("nominal_voltage", 12.0 if unit_type == "H" else 2.0),
        f"{where}.nominal_voltage",
        0,
        100,
    )
    if nominal not in NOMINALS[unit_type]:
        allowed = " or ".join(f"{v:g}" for v in NOMINALS[unit_type])
        raise ScenarioError(f"{where}.nominal_voltage: type {unit_type} must be {allowed}")
    cmu = raw.get("cmu")
    if "first_address" not in raw:
        raise ScenarioError(f"{where}.first_address: required")
    rng = rm.RANGES[unit_type]["dcr"]
    float_v = _num(
        raw.get("float_voltage", DEFAULT_FLOAT[nominal]),
        f"{where}.float_voltage",
        nominal * 0.9,
        nominal * 1.3,
    )
    return BankSpec(
        cmu=None if cmu is None else _int(cmu, f"{where}.cmu", 1, MAX_ADDRESS),
        unit_type=unit_type,
        nominal_voltage=nominal,
        first_address=_int(raw["first_address"], f"{where}.first_address", 1, MAX_ADDRESS),
        count=_int(raw.get("count", 1), f"{where}.count", 1, MAX_ADDRESS),
        capacity_ah=_num(raw.get("capacity_ah", 100.0), f"{where}.capacity_ah", 0.1, 20000),
        dcr_baseline_mohm=_num(
            raw.get("dcr_baseline_mohm", 4.0 if unit_type == "H" else 0.4),
            f"{where}.dcr_baseline_mohm",
            rng.low,
            rng.high,
        ),
        age_days=_num(raw.get("age_days", 180.0), f"{where}.age_days", 0, 365 * 30),
        float_voltage=float_v,
    )


def _check_addresses(banks: tuple[BankSpec, ...], relay: int | None) -> None:
    """Every device id is used once, and all fit in the address space."""
    seen: dict[int, str] = {}

    def claim(address: int, where: str) -> None:
        if address > MAX_ADDRESS:
            raise ScenarioError(f"{where}: address {address} is above {MAX_ADDRESS}")
        if address in seen:
            raise ScenarioError(f"{where}: address {address} already used by {seen[address]}")
        seen[address] = where

    for i, bank in enumerate(banks):
        if bank.cmu is not None:
            claim(bank.cmu, f"banks[{i}].cmu")
        for address in bank.addresses:
            claim(address, f"banks[{i}].first_address/count")
    if relay is not None:
        claim(relay, "relay")


def _fault(raw: Any, where: str, bmus: set[int], everyone: set[int]) -> FaultSpec:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be an object")
    _no_unknown(raw, {"address", "kind", "after_s", "severity"}, where)
    kind = raw.get("kind")
    if kind not in FAULT_KINDS:
        raise ScenarioError(f"{where}.kind: must be one of {', '.join(FAULT_KINDS)}")
    address = _int(raw.get("address"), f"{where}.address", 1, MAX_ADDRESS)
    pool = bmus if kind in PHYSICAL_FAULTS else everyone
    if address not in pool:
        what = "a BMU" if kind in PHYSICAL_FAULTS else "a served unit"
        raise ScenarioError(f"{where}.address: {address} is not {what}")
    return FaultSpec(
        address=address,
        kind=kind,
        # negative: the fault began that long before the simulator started (an aged history)
        after_s=_num(raw.get("after_s", 0.0), f"{where}.after_s", -1e10, 1e10),
        severity=_num(raw.get("severity", 1.0), f"{where}.severity", 0, 10),
    )


def _event(raw: Any, where: str, cmus: set[int]) -> LoadEvent:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be an object")
    _no_unknown(raw, {"bank_cmu", "at_s", "duration_s", "current"}, where)
    bank_cmu = _int(raw.get("bank_cmu"), f"{where}.bank_cmu", 1, MAX_ADDRESS)
    if bank_cmu not in cmus:
        raise ScenarioError(f"{where}.bank_cmu: {bank_cmu} is not the CMU of any bank")
    return LoadEvent(
        bank_cmu=bank_cmu,
        at_s=_num(raw.get("at_s", 0.0), f"{where}.at_s", 0, 1e10),
        duration_s=_num(raw.get("duration_s"), f"{where}.duration_s", 0, 1e10),
        current=_num(raw.get("current"), f"{where}.current", -3000, 3000),
    )
