"""Checks of an ingest body: its structure (400 when wrong) and each reading's values.

Two levels, because they call for different answers (docs/storage.md, "How ingest validates"):

- Structure: the body must be the protocol's JSON. Anything else is a bug in the agent; the whole
  request is refused with ``400`` and a list of problems, each naming its JSON path
  (``scans[0].batteries[3].voltage: expected a number or null, got string``).
- Values: a well-formed reading can still be unusable: a value outside the unit's measuring range,
  a unit this gateway does not own, a timestamp far off. Those are rejected one by one with a
  reason; the rest of the batch is stored.

Plain Python over orjson's output (about a microsecond per reading); no serializer framework on the
hot path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

from acquisition.registermap import BMU_PARAMETERS, CMU_PARAMETERS, RANGES

MAX_PROBLEMS = 50
MAX_ID = 2**31 - 1
MAX_STATUS = 2**15 - 1  # stored as smallint; the units define bits 0-6
_NUMBER_TYPES = frozenset({float, int, type(None)})  # a parameter's value (bool is not int here)
UNITS = {
    "voltage": "V",
    "temperature": "C",
    "dcr": "mOhm",
    "micro_voltage": "V",
    "emf": "V",
    "string_voltage": "V",
    "current": "A",
    "ambient": "C",
}


class BadRequest(Exception):
    """The body is not a protocol message; ``detail`` lists the problems by JSON path."""

    def __init__(self, error: str, detail: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail or []


@dataclass(slots=True)
class Scan:
    index: int
    ts: dt.datetime
    batteries: list[tuple]  # (id, *BMU_PARAMETERS, status)
    banks: list[tuple]  # (id, *CMU_PARAMETERS, status)
    silent_batteries: list[int] = field(default_factory=list)
    silent_banks: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Envelope:
    batch: str | None
    agent: dict[str, Any]
    scans: list[Scan]


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"malformed JSON at line {exc.lineno} column {exc.colno} (byte {exc.pos}): {exc.msg}"
        ) from None


def _type_name(value: Any) -> str:
    return {
        type(None): "null",
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def parse_ts(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp with a UTC offset (``Z`` or ``+00:00``), else None."""
    if type(value) is not str or len(value) < 20:
        return None
    try:
        ts = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if ts.tzinfo is None or ts.utcoffset() != dt.timedelta(0):
        return None
    return ts.astimezone(dt.UTC)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def ids(self, path: str, value: Any) -> list[int]:
        if value is None:
            return []
        if type(value) is not list:
            self.fail(path, f"expected an array of unit ids, got {_type_name(value)}")
            return []
        for i, v in enumerate(value):
            if type(v) is not int or not 0 < v <= MAX_ID:
                self.fail(f"{path}[{i}]", f"expected a positive integer id, got {v!r}")
        return value

    def readings(self, path: str, value: Any, params: tuple[str, ...]) -> list[tuple]:
        """The readings as ``(id, *params, status)`` tuples; problems are recorded.

        One pass with a fast path (a well-formed reading costs one comprehension and a few type
        checks); the JSON path of a problem is only built for a reading that has one.
        """
        if value is None:
            return []
        if type(value) is not list:
            self.fail(path, f"expected an array of readings, got {_type_name(value)}")
            return []
        out = []
        for i, r in enumerate(value):
            if type(r) is dict:
                uid = r.get("id")
                status = r.get("status")
                values = [r.get(name) for name in params]
                if (
                    type(uid) is int
                    and 0 < uid <= MAX_ID
                    and (status is None or (type(status) is int and 0 <= status <= MAX_STATUS))
                    and _NUMBER_TYPES.issuperset(map(type, values))
                ):
                    out.append((uid, *values, status))
                    continue
            self._reading_problems(f"{path}[{i}]", r, params)
        return out

    def _reading_problems(self, where: str, r: Any, params: tuple[str, ...]) -> None:
        if type(r) is not dict:
            self.fail(where, f"expected an object, got {_type_name(r)}")
            return
        uid = r.get("id")
        if type(uid) is not int or not 0 < uid <= MAX_ID:
            self.fail(f"{where}.id", f"expected a positive integer id, got {uid!r}")
        for name in params:
            v = r.get(name)
            if v is not None and type(v) is not float and type(v) is not int:
                self.fail(f"{where}.{name}", f"expected a number or null, got {_type_name(v)}")
        status = r.get("status")
        if status is not None and (type(status) is not int or not 0 <= status <= MAX_STATUS):
            self.fail(f"{where}.status", f"expected an integer 0-{MAX_STATUS} or null")

    def scan(self, i: int, raw: Any) -> Scan | None:
        path = f"scans[{i}]"
        if type(raw) is not dict:
            self.fail(path, f"expected an object, got {_type_name(raw)}")
            return None
        ts = parse_ts(raw.get("ts"))
        if ts is None:
            self.fail(f"{path}.ts", "not an ISO 8601 UTC timestamp (e.g. 2026-11-24T04:20:00.123Z)")
        batteries = self.readings(f"{path}.batteries", raw.get("batteries"), BMU_PARAMETERS)
        banks = self.readings(f"{path}.banks", raw.get("banks"), CMU_PARAMETERS)
        silent = raw.get("silent")
        silent_batteries: list[int] = []
        silent_banks: list[int] = []
        if silent is not None:
            if type(silent) is not dict:
                self.fail(f"{path}.silent", f"expected an object, got {_type_name(silent)}")
            else:
                silent_batteries = self.ids(f"{path}.silent.batteries", silent.get("batteries"))
                silent_banks = self.ids(f"{path}.silent.banks", silent.get("banks"))
        if ts is None:
            return None
        return Scan(i, ts, batteries, banks, silent_batteries, silent_banks)


def parse_envelope(body: Any) -> Envelope:
    """Check the structure of a decoded ingest body; raise BadRequest listing every problem."""
    if type(body) is not dict:
        raise BadRequest("wrong structure", [f"$: expected an object, got {_type_name(body)}"])
    checker = _Checker()
    batch = body.get("batch")
    if batch is not None and type(batch) is not str:
        checker.fail("batch", f"expected a string, got {_type_name(batch)}")
    agent = body.get("agent")
    if agent is not None and type(agent) is not dict:
        checker.fail("agent", f"expected an object, got {_type_name(agent)}")
    raw_scans = body.get("scans")
    scans: list[Scan] = []
    if raw_scans is None:
        checker.fail("scans", "missing")
    elif type(raw_scans) is not list:
        checker.fail("scans", f"expected an array, got {_type_name(raw_scans)}")
    else:
        for i, raw in enumerate(raw_scans):
            scan = checker.scan(i, raw)
            if scan is not None:
                scans.append(scan)
    if checker.problems:
        detail = checker.problems[:MAX_PROBLEMS]
        if len(checker.problems) > MAX_PROBLEMS:
            detail.append(f"... and {len(checker.problems) - MAX_PROBLEMS} more problems")
        raise BadRequest("wrong structure", detail)
    return Envelope(batch, agent or {}, scans)


def out_of_range(name: str, value: float, kind: str) -> str | None:
    """The reason ``value`` is not a measurement of a ``kind`` ("L", "H", "CMU") unit, or None."""
    rng = RANGES[kind][name]
    if rng.low <= value <= rng.high:
        return None
    what = f"{kind}-type" if kind != "CMU" else "CMU"
    unit = UNITS[name]
    return f"{name} {value} {unit} outside the {what} measuring range {rng.low}-{rng.high} {unit}"
