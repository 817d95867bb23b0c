"""Report by exception: decide which readings of a scan are worth uploading.

A fleet of 1,000 sites scanning every 10 s would send ~25,000 readings/s if every reading went up;
most of them repeat the last one within the sensor's accuracy. So the agent keeps, per unit, the
last *reported* values and queues a reading only when

- a value moved beyond its deadband (``("rel", x)``: x times the last reported value;
  ``("abs", x)``: x in the field's unit; defaults are the stated accuracies in
  ``registermap.ACCURACY``), or
- the status word changed or the unit went silent / came back (alarm-relevant), or
- a new DCR measurement completed (``dcr_seq`` moved), or
- ``heartbeat_s`` passed since the unit was last reported (so the portal sees it is alive).

A scan is queued when at least one unit is due; its ``silent`` list is always complete.
Each queued scan gets a priority used by the outbox when it is full (see ``outbox.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from acquisition import registermap as rm

from .config import UnitRef

PRIO_HEARTBEAT = 0  # only heartbeats: the portal learns nothing new
PRIO_CHANGE = 1  # a value moved beyond its deadband (or a unit's first reading)
PRIO_ALARM = 2  # a status bit changed, or a unit went silent / came back

#: Fault bits whose value is not a measurement: the reading is sent as null.
_BMU_INVALID = {"temperature": rm.BmuStatus.TEMP_SENSOR_FAULT}
_CMU_INVALID = {
    "current": rm.CmuStatus.CURRENT_SENSOR_FAULT,
    "ambient": rm.CmuStatus.AMBIENT_SENSOR_FAULT,
}


def _decimals(scale: float) -> int:
    return max(0, -math.floor(math.log10(scale) + 1e-9))


def decode(unit: UnitRef, registers: list[int]) -> tuple[dict[str, float | None], int, int]:
    """Registers of one measurement block -> (engineering values, status, dcr_seq)."""
    is_cmu = unit.kind == "bank"
    block = rm.CMU_MEASUREMENTS if is_cmu else rm.BMU_MEASUREMENTS
    params = rm.CMU_PARAMETERS if is_cmu else rm.BMU_PARAMETERS
    invalid = _CMU_INVALID if is_cmu else _BMU_INVALID
    raw = block.decode_raw(registers)
    status = raw["status"]
    values: dict[str, float | None] = {}
    for name in params:
        f = block.field(name)
        bit = invalid.get(name)
        if bit is not None and status & bit:
            values[name] = None
        else:
            values[name] = round(f.to_value(raw[name]), _decimals(f.scale))
    return values, status, raw.get("dcr_seq", 0)


def moved(
    name: str, new: float | None, old: float | None, bands: dict[str, tuple[str, float]]
) -> bool:
    """True when ``new`` left the deadband around the last reported ``old``."""
    if new is None or old is None:
        return new is not old
    mode, width = bands.get(name, ("abs", 0.0))
    band = width * abs(old) if mode == "rel" else width
    # round away float noise so a one-step move of exactly the band width is not "beyond" it
    return round(abs(new - old), 9) > round(band, 9)


@dataclass
class _Last:
    values: dict[str, float | None]
    status: int
    dcr_seq: int
    silent: bool
    reported_at: float


@dataclass
class FilterStats:
    taken: int = 0  # readings acquired (units that answered)
    queued: int = 0  # readings put in the outbox


class ReportFilter:
    """Keeps the last reported state per unit and builds the scan to queue (or None)."""

    def __init__(self, deadbands: dict[str, tuple[str, float]], heartbeat_s: float) -> None:
        self.deadbands = deadbands
        self.heartbeat_s = heartbeat_s
        self.last: dict[tuple[str, int], _Last] = {}
        self.stats = FilterStats()

    def reconfigure(self, deadbands: dict[str, tuple[str, float]], heartbeat_s: float) -> None:
        self.deadbands = deadbands
        self.heartbeat_s = heartbeat_s

    def _due(
        self,
        key: tuple[str, int],
        values: dict[str, float | None] | None,
        status: int,
        seq: int,
        now: float,
    ) -> int | None:
        """Priority if this unit must be reported now, else None."""
        last = self.last.get(key)
        silent = values is None
        if last is None:
            return PRIO_ALARM if silent else PRIO_CHANGE
        if silent != last.silent:
            return PRIO_ALARM
        if silent:
            return PRIO_HEARTBEAT if now - last.reported_at >= self.heartbeat_s else None
        if status != last.status:
            return PRIO_ALARM
        assert values is not None
        if seq != last.dcr_seq or any(
            moved(n, v, last.values.get(n), self.deadbands) for n, v in values.items()
        ):
            return PRIO_CHANGE
        if now - last.reported_at >= self.heartbeat_s:
            return PRIO_HEARTBEAT
        return None

    def filter(
        self, ts: str, now: float, results: dict[UnitRef, list[int] | None]
    ) -> tuple[dict[str, Any] | None, int]:
        """Return (scan to queue or None, its priority) for one scan's results."""
        batteries: list[dict[str, Any]] = []
        banks: list[dict[str, Any]] = []
        silent: dict[str, list[int]] = {"batteries": [], "banks": []}
        updates: list[tuple[tuple[str, int], _Last]] = []
        prio = -1
        for unit, regs in results.items():
            key = (unit.kind, unit.id)
            if regs is None:
                values, status, seq = None, 0, 0
                silent["batteries" if unit.kind == "battery" else "banks"].append(unit.id)
            else:
                values, status, seq = decode(unit, regs)
                self.stats.taken += 1
            p = self._due(key, values, status, seq, now)
            if p is None:
                continue
            prio = max(prio, p)
            prev = self.last.get(key)
            if values is None:
                kept = prev.values if prev else {}
                updates.append(
                    (
                        key,
                        _Last(
                            kept, prev.status if prev else 0, prev.dcr_seq if prev else 0, True, now
                        ),
                    )
                )
                continue
            row = {"id": unit.id, **values, "status": status}
            (batteries if unit.kind == "battery" else banks).append(row)
            updates.append((key, _Last(values, status, seq, False, now)))
        if prio < 0:
            return None, PRIO_HEARTBEAT
        for key, last in updates:
            self.last[key] = last
        self.stats.queued += len(batteries) + len(banks)
        scan = {"ts": ts, "batteries": batteries, "banks": banks, "silent": silent}
        return scan, prio
