"""Battery physics of one block: plausible, cheap, and documented; not a research model.

Everything is in engineering units (V, C, mOhm, A, seconds of *simulated* time).

Voltage
    Open-circuit voltage (the EMF the BMU estimates) follows state of charge linearly per cell,
    ``ocv = nominal_cell * (0.975 + 0.1 * soc)``: 1.95..2.15 V for a 2 V lead-acid cell.
    On *float* (charger holding the string, tiny current) the terminal voltage is the float voltage
    with a fixed per-unit spread (blocks in a string never share the charger voltage equally).
    On *discharge* it is ``ocv + I * R_eff`` (I negative) minus a knee that grows near empty, so
    voltage drops with load and with state of charge. On *charge* it rises toward the charger
    (float) voltage: ``min(float, ocv + I * R_eff + polarisation)``.
Resistance (DCR)
    ``baseline * (1 + a*t + b*(exp(c*t) - 1))`` with ``t`` the effective age in years: a slow linear
    rise that bends upward near end of life (+50 % at about 8 years at 25 C, the usual replacement
    trigger). Effective age runs faster when warm: the rate doubles every 8.5 C above 25 C (the
    rule of thumb that life halves every 8-10 C). Capacity fades with the same curve.
Temperature
    Ambient with a daily cycle (+-1.5 C, warmest at 15:00) plus a per-unit offset plus self-heating
    ``I^2 * R`` through a first-order thermal lag (1 h time constant, 0.5 K/W).
Faults
    See ``FAULT_EFFECTS`` in ``apply_faults``: each fault ramps in over its own time so that a fault
    injected "now" is visible at once in a demo but keeps worsening with simulated time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

A_LIN, B_EXP, C_EXP = 0.03, 0.01, 0.41  # DCR ageing curve, t in years
YEAR_S = 365.0 * 86400.0
DAY_S = 86400.0
THERMAL_TAU_S = 3600.0
THERMAL_K_PER_W = 0.5
DCR_POLARISATION = 1.5  # effective discharge resistance / DCR (adds polarisation)
OPEN_CELL_DCR_MOHM = 9999.999  # "huge": far outside every measuring range


def ageing_factor(age_years: float) -> float:
    """DCR multiplier for an effective age (1.0 when new)."""
    t = max(0.0, age_years)
    return 1.0 + A_LIN * t + B_EXP * (math.exp(C_EXP * t) - 1.0)


def ageing_rate(temperature_c: float) -> float:
    """Effective-age seconds per simulated second at a battery temperature."""
    return max(0.25, float(2.0 ** ((temperature_c - 25.0) / 8.5)))


def ambient_at(t_s: float, mean_c: float) -> float:
    """Room temperature with a daily cycle; simulated time 0 is midnight."""
    hour = (t_s % DAY_S) / 3600.0
    return mean_c + 1.5 * math.sin(2.0 * math.pi * (hour - 9.0) / 24.0)


@dataclass(slots=True)
class Fault:
    kind: str
    severity: float
    onset_s: float  # simulated time the fault starts

    def progress(self, t_s: float, ramp_s: float) -> float:
        """0 before onset, then rising linearly to ``severity`` over ``ramp_s``."""
        if t_s < self.onset_s:
            return 0.0
        if ramp_s <= 0:
            return self.severity
        return self.severity * min(1.0, (t_s - self.onset_s) / ramp_s)

    def active(self, t_s: float) -> bool:
        return t_s >= self.onset_s


@dataclass(slots=True)
class Effects:
    """How the active faults bend the healthy values of one block."""

    dcr_mult: float = 1.0
    temp_add: float = 0.0
    float_add: float = 0.0  # V on the float voltage
    emf_add: float = 0.0
    micro_add: float = 0.0  # extra micro-discharge drop, V (positive = lower reading)
    current_mult: float = 1.0  # multiplier on the string float current
    open_cell: bool = False


def apply_faults(faults: dict[str, Fault], t_s: float, nominal: float) -> Effects:
    """Combine the active faults of a block into ``Effects``.

    dry_out: DCR +20 % at once then +100 % per 30 days; +1.5 C; float voltage +2.5 %.
    sulfation: DCR +10 % then +100 % per 60 days; EMF and float -2 %; micro-discharge -3 %.
    thermal_runaway: over 2 h temperature +35 C, float current x5, voltage -4 %.
    open_cell: DCR measurement fails, voltage erratic (set by the caller).
    """
    e = Effects()
    for f in faults.values():
        if not f.active(t_s):
            continue
        days = (t_s - f.onset_s) / DAY_S
        s = f.severity
        if f.kind == "dry_out":
            e.dcr_mult *= 1.0 + s * (0.2 + days / 30.0)
            e.temp_add += 1.5 * s
            e.float_add += 0.025 * nominal * min(s, 2.0)
        elif f.kind == "sulfation":
            e.dcr_mult *= 1.0 + s * (0.1 + days / 60.0)
            e.emf_add -= 0.02 * nominal * min(s, 2.0)
            e.float_add -= 0.02 * nominal * min(s, 2.0)
            e.micro_add += 0.03 * nominal * min(s, 2.0)
        elif f.kind == "thermal_runaway":
            p = f.progress(t_s, 2 * 3600.0)
            e.temp_add += 35.0 * p
            e.current_mult *= 1.0 + 4.0 * p
            e.float_add -= 0.04 * nominal * min(p, 2.0)
        elif f.kind == "open_cell":
            e.open_cell = True
    e.dcr_mult = min(e.dcr_mult, 20.0)
    return e


@dataclass(slots=True)
class Block:
    """True (noise-free) state of one battery block."""

    nominal: float
    float_v: float  # this unit's float voltage, spread included
    capacity_ah: float
    dcr_base: float  # mOhm, manufacturing spread included
    age_s: float  # effective age
    temp_offset: float
    soc: float = 1.0
    heat_c: float = 0.0  # self-heating above ambient
    faults: dict[str, Fault] = field(default_factory=dict)
    # outputs of the last step (true values)
    voltage: float = 0.0
    temperature: float = 0.0
    emf: float = 0.0
    micro_voltage: float = 0.0

    @property
    def cell_nominal(self) -> float:
        if self.nominal == 12.8:
            return 3.2  # LFP
        return 2.0 if self.nominal in (2.0, 6.0, 12.0) else 1.2

    @property
    def cells(self) -> int:
        return max(1, round(self.nominal / self.cell_nominal))

    def effects(self, t_s: float) -> Effects:
        return apply_faults(self.faults, t_s, self.nominal)

    def dcr(self, t_s: float) -> float:
        """True DC resistance now, mOhm."""
        return self.dcr_base * ageing_factor(self.age_s / YEAR_S) * self.effects(t_s).dcr_mult

    def capacity(self, t_s: float) -> float:
        """Available capacity, Ah: fades 40 % of the relative DCR rise, never below 30 %."""
        rise = self.dcr(t_s) / self.dcr_base - 1.0
        return self.capacity_ah * max(0.3, 1.0 - 0.4 * rise)

    def ocv(self, soc: float) -> float:
        return self.cells * self.cell_nominal * (0.975 + 0.1 * soc)

    def step(
        self, dt: float, t_s: float, current: float, mode: str, ambient: float, rng: random.Random
    ) -> None:
        """Advance ``dt`` simulated seconds at string ``current`` (A) in ``mode``.

        ``mode`` is "float", "charge" or "discharge" (decided per bank from the current).
        """
        e = self.effects(t_s)
        r_ohm = self.dcr(t_s) / 1000.0
        if not e.open_cell:
            self.soc = min(1.0, max(0.0, self.soc + current * dt / 3600.0 / self.capacity(t_s)))
        heat_target = current * current * r_ohm * THERMAL_K_PER_W
        self.heat_c = heat_target + (self.heat_c - heat_target) * math.exp(-dt / THERMAL_TAU_S)
        self.temperature = ambient + self.temp_offset + self.heat_c + e.temp_add
        self.age_s += dt * ageing_rate(self.temperature)
        self.emf = self.ocv(self.soc) + e.emf_add
        if mode == "discharge":
            knee = self.cells * 0.15 * math.exp(-12.0 * self.soc)
            v = self.emf + current * r_ohm * DCR_POLARISATION - knee
        elif mode == "charge":
            v = min(self.float_v, self.emf + current * r_ohm * DCR_POLARISATION + 0.05 * self.cells)
        else:
            v = self.float_v
        v += e.float_add if mode != "discharge" else e.float_add / 2
        if e.open_cell:
            v = self.nominal * rng.uniform(0.05, 0.5)
        self.voltage = max(0.0, v)
        i_test = 0.02 * self.capacity_ah  # BMU micro-discharge test load, A
        self.micro_voltage = max(0.0, self.voltage - i_test * r_ohm - e.micro_add)
