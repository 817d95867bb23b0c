"""The Modbus register map of the BMU, CMU and relay module.

One module shared by the edge agent, the simulator and the portal: it imports nothing but the
standard library, so the agent can run on a small box without Django. The human-readable version is
``docs/modbus-register-map.md``; keep both in step.

Conventions
- Measurements are *input registers* (function code 04), read in one request per unit and scan.
- Identity is a second input-register block (function code 04), read once when a unit is first seen.
- Commands and settings are *holding registers* (function codes 03 read, 06/16 write).
- The relay module's outputs are *coils* (function code 01 read, 05/15 write).
- 32-bit values take two registers, high word first (big-endian word order, as Modbus itself is
  big-endian within a register). Signed values are two's complement.
- Every value is an integer in a fixed unit; ``scale`` converts it to the engineering unit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

# -- unit kinds ------------------------------------------------------------------------------------


class UnitType(enum.IntEnum):
    """Value of the identity register ``UNIT_TYPE``."""

    BMU_L = 1  # 1.2 V / 2 V cells
    BMU_H = 2  # 6 V / 12 V blocks
    CMU = 3  # one per string: string voltage and current
    RELAY = 4  # 4-relay dry-contact output module


# -- value descriptions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One value in a register block."""

    name: str
    offset: int  # register offset inside its block
    words: int  # 1 or 2 registers
    signed: bool
    scale: float  # engineering value = raw * scale
    unit: str
    doc: str

    def decode(self, registers: list[int] | tuple[int, ...]) -> int:
        """Return the raw integer of this field from the registers of its whole block."""
        if self.words == 1:
            raw = registers[self.offset] & 0xFFFF
            if self.signed and raw >= 0x8000:
                raw -= 0x10000
            return raw
        raw = ((registers[self.offset] & 0xFFFF) << 16) | (registers[self.offset + 1] & 0xFFFF)
        if self.signed and raw >= 0x80000000:
            raw -= 0x100000000
        return raw

    def encode(self, raw: int) -> list[int]:
        """Return the register words holding ``raw`` (clamped to the field's range)."""
        bits = 16 * self.words
        if self.signed:
            lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            lo, hi = 0, (1 << bits) - 1
        raw = max(lo, min(hi, int(raw)))
        raw &= (1 << bits) - 1
        if self.words == 1:
            return [raw]
        return [(raw >> 16) & 0xFFFF, raw & 0xFFFF]

    def to_raw(self, value: float) -> int:
        """Engineering value -> raw integer, rounded to the field's resolution."""
        return round(value / self.scale)

    def to_value(self, raw: int) -> float:
        """Raw integer -> engineering value."""
        return raw * self.scale


@dataclass(frozen=True, slots=True)
class Block:
    """A contiguous block of registers read (or written) in one request."""

    name: str
    function_code: int
    address: int
    count: int
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"block {self.name!r} has no field {name!r}")

    def decode(self, registers: list[int] | tuple[int, ...]) -> dict[str, float]:
        """Decode a whole block into engineering values keyed by field name."""
        if len(registers) < self.count:
            raise ValueError(
                f"block {self.name!r} needs {self.count} registers, got {len(registers)}"
            )
        return {f.name: f.to_value(f.decode(registers)) for f in self.fields}

    def decode_raw(self, registers: list[int] | tuple[int, ...]) -> dict[str, int]:
        if len(registers) < self.count:
            raise ValueError(
                f"block {self.name!r} needs {self.count} registers, got {len(registers)}"
            )
        return {f.name: f.decode(registers) for f in self.fields}

    def encode(self, values: dict[str, float]) -> list[int]:
        """Encode engineering values (missing ones as 0) into the block's registers."""
        regs = [0] * self.count
        for f in self.fields:
            words = f.encode(f.to_raw(values.get(f.name, 0.0)))
            regs[f.offset : f.offset + f.words] = words
        return regs


# -- BMU -------------------------------------------------------------------------------------------

BMU_MEASUREMENTS: Final = Block(
    name="bmu_measurements",
    function_code=4,
    address=0,
    count=8,
    fields=(
        Field("voltage", 0, 1, False, 0.001, "V", "terminal voltage, 1 mV"),
        Field("temperature", 1, 1, True, 0.1, "C", "battery (case) temperature, 0.1 C, signed"),
        Field("dcr", 2, 2, False, 0.001, "mOhm", "DC internal resistance, 1 micro-ohm (uint32)"),
        Field("micro_voltage", 4, 1, False, 0.001, "V", "micro-discharge voltage, 1 mV"),
        Field("emf", 5, 1, False, 0.001, "V", "electromotive force (open-circuit estimate), 1 mV"),
        Field("status", 6, 1, False, 1, "", "status and fault bits, see BmuStatus"),
        Field("dcr_seq", 7, 1, False, 1, "", "DCR measurement counter, +1 per measurement"),
    ),
)


class BmuStatus(enum.IntFlag):
    """Bits of the BMU ``status`` register."""

    VOLTAGE_OUT_OF_RANGE = 1 << 0  # terminal voltage outside the unit's measuring range
    TEMP_SENSOR_FAULT = 1 << 1
    DCR_FAILED = 1 << 2  # last DCR measurement failed (e.g. open cell, no pulse current)
    DCR_IN_PROGRESS = 1 << 3  # a DCR pulse is running now
    REVERSE_POLARITY = 1 << 4
    OPEN_CIRCUIT = 1 << 5  # no current path through the block
    INTERNAL_FAULT = 1 << 6


BMU_IDENTITY: Final = Block(
    name="bmu_identity",
    function_code=4,
    address=100,
    count=5,
    fields=(
        Field("unit_type", 0, 1, False, 1, "", "UnitType: 1 = BMU L, 2 = BMU H"),
        Field("firmware", 1, 1, False, 1, "", "firmware version, major * 256 + minor"),
        Field("serial", 2, 2, False, 1, "", "serial number (uint32)"),
        Field("nominal_voltage", 4, 1, False, 0.1, "V", "nominal block voltage, 0.1 V"),
    ),
)

# Holding registers (FC03 read, FC06 write single)
BMU_COMMAND: Final = 200  # write CMD_* here
BMU_DCR_INTERVAL: Final = 201  # automatic DCR measurement interval, minutes (0 = only on command)
CMD_MEASURE_DCR: Final = 1  # start a DCR pulse measurement now
CMD_CLEAR_FAULTS: Final = 2


# -- CMU -------------------------------------------------------------------------------------------

CMU_MEASUREMENTS: Final = Block(
    name="cmu_measurements",
    function_code=4,
    address=0,
    count=6,
    fields=(
        Field("string_voltage", 0, 2, False, 0.01, "V", "total string voltage, 0.01 V (uint32)"),
        Field("current", 2, 2, True, 0.1, "A", "string current, 0.1 A, charge +, discharge -"),
        Field("status", 4, 1, False, 1, "", "status bits, see CmuStatus"),
        Field("ambient", 5, 1, True, 0.1, "C", "ambient (room) temperature, 0.1 C, signed"),
    ),
)


class CmuStatus(enum.IntFlag):
    """Bits of the CMU ``status`` register."""

    CHARGER_FAULT = 1 << 0
    VOLTAGE_OUT_OF_RANGE = 1 << 1
    CURRENT_SENSOR_FAULT = 1 << 2
    AMBIENT_SENSOR_FAULT = 1 << 3


CMU_IDENTITY: Final = Block(
    name="cmu_identity",
    function_code=4,
    address=100,
    count=5,
    fields=(
        Field("unit_type", 0, 1, False, 1, "", "UnitType: 3 = CMU"),
        *BMU_IDENTITY.fields[1:3],
        Field("nominal_voltage", 4, 1, False, 0.1, "V", "nominal string voltage, 0.1 V"),
    ),
)

# -- relay module ----------------------------------------------------------------------------------

RELAY_COILS: Final = 0  # coils 0..3 = relay 1..4 (FC01 read, FC05/FC15 write); 1 = energised
RELAY_COUNT: Final = 4
RELAY_IDENTITY: Final = Block(
    name="relay_identity",
    function_code=4,
    address=100,
    count=4,
    fields=BMU_IDENTITY.fields[:3],
)

# -- measuring ranges (from the product brochure) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high


#: Measuring ranges per unit type and parameter. A reading outside them is not a measurement.
RANGES: Final[dict[str, dict[str, Range]]] = {
    "L": {
        "voltage": Range(0.9, 3.0),
        "temperature": Range(-10.0, 70.0),
        "dcr": Range(0.05, 11.0),
        "micro_voltage": Range(0.0, 3.0),
        "emf": Range(0.0, 3.0),
    },
    "H": {
        "voltage": Range(5.0, 16.0),
        "temperature": Range(-10.0, 70.0),
        "dcr": Range(1.0, 50.0),
        "micro_voltage": Range(0.0, 16.0),
        "emf": Range(0.0, 16.0),
    },
    "CMU": {
        "string_voltage": Range(0.0, 600.0),
        "current": Range(-3000.0, 3000.0),
        "ambient": Range(-10.0, 70.0),
    },
}

#: Stated accuracy, used as default report-by-exception deadbands and as simulator noise.
#: Relative values are fractions of the reading; absolute ones in the field's unit.
ACCURACY: Final[dict[str, tuple[str, float]]] = {
    "voltage": ("rel", 0.005),  # +-0.5 %
    "temperature": ("abs", 1.0),  # +-1 C
    "dcr": ("rel", 0.02),  # +-2 %
    "micro_voltage": ("rel", 0.005),
    "emf": ("rel", 0.005),
    "string_voltage": ("rel", 0.0025),  # +-0.25 %
    "current": ("abs", 0.1),  # 0.1 A resolution; +-1 % of full scale is the stated accuracy
    "ambient": ("abs", 1.0),
}

BMU_PARAMETERS: Final = ("voltage", "temperature", "dcr", "micro_voltage", "emf")
CMU_PARAMETERS: Final = ("string_voltage", "current", "ambient")

MAX_RTU_ADDRESS: Final = 247
MAX_UNITS_PER_GATEWAY: Final = 254


def unit_type_letter(unit_type: int) -> str:
    """'L', 'H' or 'CMU' for a ``UnitType`` value (ValueError otherwise)."""
    return {UnitType.BMU_L: "L", UnitType.BMU_H: "H", UnitType.CMU: "CMU"}[UnitType(unit_type)]


def rtu_wire_seconds(request_bytes: int, response_bytes: int, baud: int) -> float:
    """Time on the wire for one RTU request/response pair (Modbus over serial line spec v1.02).

    Every character is 11 bits (start, 8 data, parity or a second stop bit, stop) and frames are
    separated by a silent interval of at least 3.5 character times. For baud rates above 19200 the
    spec fixes the inter-frame gap at 1.75 ms.
    """
    char = 11.0 / baud
    gap = 3.5 * char if baud <= 19200 else 0.00175
    return (request_bytes + response_bytes) * char + 2 * gap


def read_registers_frame_sizes(count: int) -> tuple[int, int]:
    """(request bytes, response bytes) of an RTU FC03/FC04 read of ``count`` registers."""
    # request: address, function, start(2), count(2), crc(2)
    # response: address, function, byte count, data(2*count), crc(2)
    return 8, 5 + 2 * count
