"""Accelerated ageing offline: the measured history that led to a scenario's present state.

A live simulator starts "now", with its batteries ``age_days`` old and its faults ``after_s`` away
(negative: begun that long ago). :func:`age` runs the *same* simulator over the ``days`` before
that moment, in coarse steps, and yields what the BMUs would have measured. The units are built
from the same seed in the same order, so each keeps the manufacturing spread and calibration error
it has live, and the history ends where the live simulator begins: the portal's demo shows years of
ageing and a fault's onset behind the live values, and the forecasts are trained on them.

Starting ``days`` earlier means: every bank ``days`` younger (never below new) and every fault's
``after_s`` ``days`` later. Faults that begin after the start of the live run are not in the
history. The string current is the charger's float current throughout (load events are relative
to the live start and are not replayed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from acquisition import registermap as rm

from .physics import DAY_S
from .scenario import Scenario
from .simulator import Simulator

PARAMETERS = ("voltage", "temperature", "dcr", "micro_voltage", "emf")


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """What every BMU measured at ``t_s`` seconds after the start of the history."""

    t_s: float
    values: dict[int, dict[str, float]]  # BMU address -> parameter -> measured value


def earlier(scenario: Scenario, days: float) -> Scenario:
    """The scenario as it stood ``days`` before its start, frozen in time (no load events)."""
    shift = days * DAY_S
    banks = tuple(
        dataclasses.replace(b, age_days=max(0.0, b.age_days - days)) for b in scenario.banks
    )
    faults = tuple(
        dataclasses.replace(f, after_s=f.after_s + shift) for f in scenario.faults if f.after_s <= 0
    )
    return dataclasses.replace(
        scenario, banks=banks, faults=faults, load_events=(), time_factor=0.0
    )


def age(scenario: Scenario, days: int, *, step_s: float = 3 * 3600.0) -> Iterator[Sample]:
    """Measured values of every BMU every ``step_s`` over the ``days`` days before the start.

    The first sample is at ``t_s = 0`` (``days`` days before the start, at midnight of the
    simulator's clock); the last one a step before the start. Cost: about one millisecond per
    step and hundred BMUs.
    """
    if days < 1:
        raise ValueError("days: must be at least 1")
    if not 60.0 <= step_s <= DAY_S:
        raise ValueError("step_s: must be between 60 s and one day")
    sim = Simulator(earlier(scenario, days))
    steps = int(days * DAY_S // step_s)
    decode = rm.BMU_MEASUREMENTS.decode
    for i in range(steps):
        if i:
            sim.step(step_s, substep_s=step_s)
        values = {}
        for address, bmu in sim.bmus.items():
            measured = decode(bmu.registers)
            values[address] = {p: float(measured[p]) for p in PARAMETERS}
        yield Sample(i * step_s, values)


__all__ = ["PARAMETERS", "Sample", "age", "earlier"]
