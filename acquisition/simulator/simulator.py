"""The simulated fleet: BMUs, CMUs and a relay module behind one Modbus gateway.

``Simulator`` owns every unit's physics (``physics.Block``), its *measured* values (true value plus
a fixed calibration error plus reading noise at the brochure's accuracy) and the registers those
values are served from. The Modbus server and the HTTP control server only read the cached
registers, so ``snapshot()`` is always exactly what a client reads.

Time: ``step(sim_seconds)`` advances the physics directly (tests, demo); ``sync()`` advances it by
the wall-clock time since the last call times ``time_factor`` (the servers call it on a ticker).
With ``time_factor`` 0 nothing moves, noise included, so tests can compare exact values.

Thread safety: one re-entrant lock guards all state, because the HTTP control server runs in a
thread while the Modbus server runs in the asyncio loop.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from acquisition import registermap as rm

from .physics import OPEN_CELL_DCR_MOHM, Block, Fault, ambient_at
from .scenario import COMM_FAULTS, FAULT_KINDS, PHYSICAL_FAULTS, BankSpec, Scenario

FIRMWARE = (1 << 8) | 4  # 1.4
DCR_PULSE_S = 1.0  # a DCR pulse takes this long, in simulated *or* wall-clock time
MAX_SUBSTEP_S = 60.0
MAX_SUBSTEPS = 2000
DEFAULT_DCR_INTERVAL_MIN = 1440


@dataclass(slots=True)
class Bmu:
    address: int
    bank: int
    letter: str
    block: Block
    cal: dict[str, float]  # fixed calibration error per parameter
    serial: int
    dcr_measured: float = 0.0
    dcr_seq: int = 0
    dcr_failed: bool = False
    interval_min: int = DEFAULT_DCR_INTERVAL_MIN
    next_dcr_s: float = 0.0
    pulse_end_s: float | None = None
    pulse_end_wall: float = 0.0
    command: int = 0
    registers: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Bank:
    spec: BankSpec
    bmus: list[int]
    forced: float | None = None
    current: float = 0.0
    cmu_registers: list[int] = field(default_factory=list)
    cmu_cal: dict[str, float] = field(default_factory=dict)


class Simulator:
    """Physics and register images of every unit of a ``Scenario``."""

    def __init__(self, scenario: Scenario, *, clock: Any = time.monotonic) -> None:
        self.scenario = scenario
        self.time_factor = scenario.time_factor
        self.rng = random.Random(scenario.seed)
        self.t = 0.0
        self.lock = threading.RLock()
        self._clock = clock
        self._wall = clock()
        self.bmus: dict[int, Bmu] = {}
        self.banks: list[Bank] = []
        self.cmus: dict[int, int] = {}  # CMU address -> bank index
        self.relay = scenario.relay
        self.coils = [False] * rm.RELAY_COUNT
        self.comm_faults: dict[int, dict[str, Fault]] = {}
        for index, spec in enumerate(scenario.banks):
            self._build_bank(index, spec)
        for f in scenario.faults:
            self.inject(f.address, f.kind, f.severity, after_s=f.after_s)
        self._substep(0.0)  # compute the first true values
        for bmu in self.bmus.values():
            self._complete_dcr(bmu)  # power-on measurement: dcr_seq starts at 1
        self._refresh(noise=True)

    # -- construction ------------------------------------------------------------------------------

    def _cal(self, names: tuple[str, ...]) -> dict[str, float]:
        """Fixed calibration error of one unit: uniform within half the stated accuracy."""
        return {n: self.rng.uniform(-0.5, 0.5) * rm.ACCURACY[n][1] for n in names}

    def _build_bank(self, index: int, spec: BankSpec) -> None:
        bank = Bank(spec=spec, bmus=list(spec.addresses))
        for address in spec.addresses:
            block = Block(
                nominal=spec.nominal_voltage,
                float_v=spec.float_voltage * (1.0 + self.rng.gauss(0.0, 0.004)),
                capacity_ah=spec.capacity_ah,
                dcr_base=spec.dcr_baseline_mohm * (1.0 + self.rng.gauss(0.0, 0.04)),
                age_s=spec.age_days * 86400.0,
                temp_offset=self.rng.uniform(-0.4, 0.4),
            )
            serial = 2_611_000_000 + (self.scenario.seed % 1000) * 1000 + address
            self.bmus[address] = Bmu(
                address,
                index,
                spec.unit_type,
                block,
                self._cal(rm.BMU_PARAMETERS),
                serial,
                next_dcr_s=self.rng.uniform(0, DEFAULT_DCR_INTERVAL_MIN * 60.0),
            )
        if spec.cmu is not None:
            self.cmus[spec.cmu] = index
            bank.cmu_cal = self._cal(rm.CMU_PARAMETERS)
        self.banks.append(bank)

    # -- public API --------------------------------------------------------------------------------

    def kind(self, address: int) -> str | None:
        """'bmu', 'cmu', 'relay' or None for an address nobody answers."""
        if address in self.bmus:
            return "bmu"
        if address in self.cmus:
            return "cmu"
        if address == self.relay:
            return "relay"
        return None

    def step(self, sim_seconds: float, *, substep_s: float = MAX_SUBSTEP_S) -> None:
        """Advance the physics by ``sim_seconds`` of simulated time (split into small steps).

        ``substep_s``: the longest physics step. The live servers keep the default (a minute);
        ``history.age`` steps hours at a time, which the ageing and thermal models tolerate.
        """
        with self.lock:
            if sim_seconds > 0:
                n = min(MAX_SUBSTEPS, max(1, math.ceil(sim_seconds / substep_s)))
                for _ in range(n):
                    self._substep(sim_seconds / n)
            finished = self._finish_pulses()
            if sim_seconds > 0 or finished:  # else nothing moved: spare the server loop the work
                self._refresh(noise=sim_seconds > 0)

    def sync(self) -> None:
        """Advance by wall-clock time since the last call times ``time_factor``."""
        with self.lock:
            now = self._clock()
            elapsed, self._wall = now - self._wall, now
            self.step(max(0.0, elapsed) * self.time_factor)

    def inject(self, address: int, kind: str, severity: float = 1.0, after_s: float = 0.0) -> None:
        """Start fault ``kind`` on a unit ``after_s`` simulated seconds from now.

        A negative ``after_s`` means the fault began that long ago: it has progressed as far.
        """
        with self.lock:
            if kind not in FAULT_KINDS:
                raise ValueError(f"kind: must be one of {', '.join(FAULT_KINDS)}")
            if self.kind(address) is None:
                raise ValueError(f"address: {address} is not a served unit")
            fault = Fault(kind, float(severity), self.t + after_s)
            if kind in COMM_FAULTS:
                self.comm_faults.setdefault(address, {})[kind] = fault
                return
            if address not in self.bmus:
                raise ValueError(
                    f"address: {kind} needs a BMU, {address} is a {self.kind(address)}"
                )
            self.bmus[address].block.faults[kind] = fault
            if kind == "open_cell" and after_s <= 0:
                self._start_dcr(self.bmus[address])  # the BMU notices at once
            self._refresh(noise=False)

    def clear(self, address: int) -> None:
        """Remove every fault of a unit (its ageing stays)."""
        with self.lock:
            self.comm_faults.pop(address, None)
            if address in self.bmus:
                bmu = self.bmus[address]
                bmu.block.faults.clear()
                bmu.dcr_failed = False
            self._refresh(noise=False)

    def force_current(self, bank_cmu: int, current: float | None) -> None:
        """Force the string current of the bank with CMU ``bank_cmu`` (None releases it)."""
        with self.lock:
            if bank_cmu not in self.cmus:
                raise ValueError(f"bank_cmu: {bank_cmu} is not a CMU")
            self.banks[self.cmus[bank_cmu]].forced = None if current is None else float(current)

    def comm_fault(self, address: int) -> str | None:
        """'silent' or 'corrupt' when the unit's communication is broken now."""
        faults = self.comm_faults.get(address)
        if not faults:
            return None
        for kind in ("silent", "corrupt"):
            if kind in faults and faults[kind].active(self.t):
                return kind
        return None

    def snapshot(self) -> dict[str, Any]:
        """Engineering values of every unit exactly as served (decoded from its registers)."""
        with self.lock:
            units: dict[str, dict[str, Any]] = {}
            for address, bmu in self.bmus.items():
                values: dict[str, Any] = rm.BMU_MEASUREMENTS.decode(bmu.registers)
                values.update(
                    kind="bmu",
                    unit_type=bmu.letter,
                    bank=bmu.bank,
                    faults=sorted(bmu.block.faults),
                    serial=bmu.serial,
                )
                units[str(address)] = values
            for address, index in self.cmus.items():
                cmu: dict[str, Any] = rm.CMU_MEASUREMENTS.decode(self.banks[index].cmu_registers)
                cmu.update(kind="cmu", bank=index)
                units[str(address)] = cmu
            if self.relay is not None:
                units[str(self.relay)] = {"kind": "relay", "relays": list(self.coils)}
            for address, faults in self.comm_faults.items():
                units[str(address)].setdefault("faults", [])
                units[str(address)]["faults"] = sorted({*units[str(address)]["faults"], *faults})
            return {"time_s": self.t, "time_factor": self.time_factor, "units": units}

    # -- register access (called by the Modbus server) ---------------------------------------------

    def input_registers(self, address: int) -> dict[int, int]:
        """Register address -> value of every input register of a unit."""
        with self.lock:
            kind = self.kind(address)
            if kind == "bmu":
                measurements, identity = self.bmus[address].registers, self._identity(address)
                base = rm.BMU_MEASUREMENTS.address
            elif kind == "cmu":
                measurements = self.banks[self.cmus[address]].cmu_registers
                identity, base = self._identity(address), rm.CMU_MEASUREMENTS.address
            else:
                measurements, base, identity = [], 0, self._identity(address)
            regs = {base + i: v for i, v in enumerate(measurements)}
            regs.update({100 + i: v for i, v in enumerate(identity)})
            return regs

    def holding_registers(self, address: int) -> list[int]:
        """[BMU_COMMAND, BMU_DCR_INTERVAL] of a BMU; the command reads 0 once accepted."""
        with self.lock:
            return [0, self.bmus[address].interval_min]

    def write_holding(self, address: int, register: int, value: int) -> None:
        """FC06/FC16 on a BMU: a command or the DCR interval (minutes)."""
        with self.lock:
            bmu = self.bmus[address]
            if register == rm.BMU_COMMAND:
                if value == rm.CMD_MEASURE_DCR:
                    self._start_dcr(bmu)
                elif value == rm.CMD_CLEAR_FAULTS:
                    bmu.dcr_failed = False
                elif value != 0:
                    raise ValueError(f"unknown command {value}")
            elif register == rm.BMU_DCR_INTERVAL:
                bmu.interval_min = value
                bmu.next_dcr_s = self.t + value * 60.0
            self._refresh(noise=False)

    def write_coils(self, first: int, values: list[bool]) -> None:
        with self.lock:
            for i, v in enumerate(values):
                self.coils[first - rm.RELAY_COILS + i] = bool(v)

    # -- internals ---------------------------------------------------------------------------------

    def _identity(self, address: int) -> list[int]:
        if address in self.bmus:
            bmu = self.bmus[address]
            unit_type = rm.UnitType.BMU_L if bmu.letter == "L" else rm.UnitType.BMU_H
            values = {
                "unit_type": unit_type,
                "firmware": FIRMWARE,
                "serial": bmu.serial,
                "nominal_voltage": bmu.block.nominal,
            }
            return rm.BMU_IDENTITY.encode(values)
        if address in self.cmus:
            spec = self.banks[self.cmus[address]].spec
            serial = 2_612_000_000 + (self.scenario.seed % 1000) * 1000 + address
            values = {
                "unit_type": rm.UnitType.CMU,
                "firmware": FIRMWARE,
                "serial": serial,
                "nominal_voltage": spec.nominal_voltage * spec.count,
            }
            return rm.CMU_IDENTITY.encode(values)
        serial = 2_613_000_000 + (self.scenario.seed % 1000) * 1000 + address
        return rm.RELAY_IDENTITY.encode(
            {"unit_type": rm.UnitType.RELAY, "firmware": FIRMWARE, "serial": serial}
        )

    def _bank_current(self, bank: Bank) -> tuple[float, str]:
        """String current (A, charge +) and mode from forced current, load events or charger."""
        blocks = [self.bmus[a].block for a in bank.bmus]
        effects = [b.effects(self.t) for b in blocks]
        i_float = 0.001 * bank.spec.capacity_ah * max(e.current_mult for e in effects)
        current: float | None = bank.forced
        if current is None and bank.spec.cmu is not None:
            for ev in self.scenario.load_events:
                if ev.bank_cmu == bank.spec.cmu and ev.at_s <= self.t < ev.at_s + ev.duration_s:
                    current = ev.current
        if any(e.open_cell for e in effects):
            return 0.0, "float"  # an open block breaks the string: no current flows
        if current is not None:
            return current, "discharge" if current < 0 else "charge"
        soc = min(b.soc for b in blocks)
        if soc < 0.995:
            return max(i_float, 0.1 * bank.spec.capacity_ah * min(1.0, (1 - soc) / 0.05)), "charge"
        return i_float, "float"

    def _substep(self, dt: float) -> None:
        for bank in self.banks:
            current, mode = self._bank_current(bank)
            bank.current = current
            ambient = ambient_at(self.t, self.scenario.ambient_c)
            for address in bank.bmus:
                self.bmus[address].block.step(dt, self.t, current, mode, ambient, self.rng)
        self.t += dt
        for bmu in self.bmus.values():
            if bmu.interval_min > 0 and self.t >= bmu.next_dcr_s and bmu.pulse_end_s is None:
                bmu.next_dcr_s = self.t + bmu.interval_min * 60.0
                self._start_dcr(bmu)
            if bmu.pulse_end_s is not None and self.t >= bmu.pulse_end_s:
                self._complete_dcr(bmu)

    def _start_dcr(self, bmu: Bmu) -> None:
        if bmu.pulse_end_s is None:
            bmu.pulse_end_s = self.t + DCR_PULSE_S
            bmu.pulse_end_wall = self._clock() + DCR_PULSE_S

    def _finish_pulses(self) -> bool:
        """Complete the pulses whose wall-clock time is up; True if there were any."""
        now = self._clock()
        finished = False
        for bmu in self.bmus.values():
            if bmu.pulse_end_s is not None and now >= bmu.pulse_end_wall:
                self._complete_dcr(bmu)
                finished = True
        return finished

    def _complete_dcr(self, bmu: Bmu) -> None:
        """Finish a DCR pulse: a new measured value (or a failure) and dcr_seq + 1."""
        bmu.pulse_end_s = None
        if bmu.block.effects(self.t).open_cell:
            bmu.dcr_measured, bmu.dcr_failed = OPEN_CELL_DCR_MOHM, True
        else:
            true = bmu.block.dcr(self.t)
            noise = self.rng.gauss(0.0, rm.ACCURACY["dcr"][1] / 6)
            bmu.dcr_measured, bmu.dcr_failed = true * (1 + bmu.cal["dcr"] + noise), False
        bmu.dcr_seq = (bmu.dcr_seq + 1) & 0xFFFF

    def _measure(self, cal: dict[str, float], name: str, true: float, noise: bool) -> float:
        kind, acc = rm.ACCURACY[name]
        jitter = self.rng.gauss(0.0, acc / 6) if noise else 0.0
        if kind == "rel":
            return true * (1.0 + cal[name] + jitter)
        return true + cal[name] + jitter

    def _refresh(self, noise: bool) -> None:
        """Recompute measured values (new noise only if time moved) and the register images."""
        for bmu in self.bmus.values():
            b = bmu.block
            if not bmu.registers or noise:
                m = {
                    n: self._measure(bmu.cal, n, getattr(b, n), True)
                    for n in ("voltage", "temperature", "emf")
                }
                # same ADC as the voltage: only the drop under the test load is measured anew
                drop = (b.voltage - b.micro_voltage) * (1.0 + self.rng.gauss(0.0, 0.01))
                m["micro_voltage"] = max(0.0, m["voltage"] - drop)
            else:
                m = rm.BMU_MEASUREMENTS.decode(bmu.registers)
            m["dcr"] = bmu.dcr_measured
            m["dcr_seq"] = bmu.dcr_seq
            m["status"] = self._bmu_status(bmu)
            bmu.registers = rm.BMU_MEASUREMENTS.encode(m)
        for bank in self.banks:
            if bank.spec.cmu is None or (bank.cmu_registers and not noise):
                continue
            volts = sum(
                rm.BMU_MEASUREMENTS.decode(self.bmus[a].registers)["voltage"] for a in bank.bmus
            )
            ambient = ambient_at(self.t, self.scenario.ambient_c)
            m = {
                "string_voltage": self._measure(bank.cmu_cal, "string_voltage", volts, True),
                "current": self._measure(bank.cmu_cal, "current", bank.current, True),
                "ambient": self._measure(bank.cmu_cal, "ambient", ambient, True),
            }
            bank.cmu_registers = rm.CMU_MEASUREMENTS.encode(m)

    def _bmu_status(self, bmu: Bmu) -> int:
        status = rm.BmuStatus(0)
        if bmu.pulse_end_s is not None:
            status |= rm.BmuStatus.DCR_IN_PROGRESS
        if bmu.dcr_failed:
            status |= rm.BmuStatus.DCR_FAILED
        effects = bmu.block.effects(self.t)
        if effects.open_cell:
            status |= rm.BmuStatus.OPEN_CIRCUIT
        if bmu.block.voltage not in rm.RANGES[bmu.letter]["voltage"]:
            status |= rm.BmuStatus.VOLTAGE_OUT_OF_RANGE
        return int(status)


__all__ = ["PHYSICAL_FAULTS", "Simulator"]
