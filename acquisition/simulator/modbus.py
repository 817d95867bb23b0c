"""Serve a ``Simulator`` over Modbus TCP or RTU with pymodbus 3.16's ``SimDevice`` API.

Each served address is one ``SimDevice`` with four separate tables (coils, discrete inputs,
holding, input registers). Its ``action`` hook runs before every access: on a read it copies the
simulator's current register image into the table, on a write it hands the values to the simulator.
So the physics lives in one place and pymodbus only does framing and addressing.

Communication faults cannot be expressed in a datastore, so they act on the wire through the
server's ``trace_packet`` hook, which sees every frame about to be sent:

- *silent*: the response is replaced by nothing, so the client times out;
- *corrupt*: on RTU the CRC is broken; on TCP the header stays (so the connection stays in step)
  and the PDU is garbage (an undefined function code and a bogus length byte);
- an address nobody serves is silent on RTU (no device on the line answers) and answers
  "gateway target failed to respond" (exception 0x0B) on TCP, as a real gateway does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from acquisition import registermap as rm

from .simulator import Simulator

log = logging.getLogger("acquisition.simulator")
TICK_S = 0.1  # how often the physics follows the wall clock

_READ_FC = {1: "c", 2: "d", 3: "h", 4: "i"}
_ALLOWED = {
    "bmu": {3, 4, 6, 16},
    "cmu": {4},
    "relay": {1, 4, 5, 15},
}


def _regs(address: int, count: int) -> SimData:
    return SimData(address, count=count, values=0, datatype=DataType.REGISTERS)


def _bits(address: int, count: int) -> SimData:
    return SimData(address, count=count, values=False, datatype=DataType.BITS)


def build_devices(sim: Simulator) -> list[SimDevice]:
    """One ``SimDevice`` per served address plus a catch-all (id 0) for unknown addresses."""
    devices = []
    for address in sim.scenario.addresses():
        kind = sim.kind(address)
        if kind == "bmu":
            ir = [_regs(0, rm.BMU_MEASUREMENTS.count), _regs(100, rm.BMU_IDENTITY.count)]
        elif kind == "cmu":
            ir = [_regs(0, rm.CMU_MEASUREMENTS.count), _regs(100, rm.CMU_IDENTITY.count)]
        else:
            ir = [_regs(100, rm.RELAY_IDENTITY.count)]
        tables = (
            [_bits(rm.RELAY_COILS, rm.RELAY_COUNT)],
            [_bits(0, 1)],
            [_regs(rm.BMU_COMMAND, 2)],
            ir,
        )
        action = functools.partial(_action, sim, address)
        devices.append(SimDevice(address, simdata=tables, action=action))
    # catch-all wide enough for every request of the map, so it answers 0x0B, not 0x02
    anything = ([_bits(0, 1024)], [_bits(0, 1024)], [_regs(0, 1024)], [_regs(0, 1024)])
    devices.append(SimDevice(0, simdata=anything, action=_unknown))
    return devices


async def _unknown(*_args: Any) -> ExcCodes:
    return ExcCodes.GATEWAY_NO_RESPONSE


async def _action(
    sim: Simulator,
    address: int,
    fc: int,
    start: int,
    first: int,
    count: int,
    registers: list[int],
    values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    """Serve one access of ``address`` from (or into) the simulator."""
    kind = sim.kind(address)
    if kind is None or fc not in _ALLOWED[kind]:
        return ExcCodes.ILLEGAL_FUNCTION
    if sim.comm_fault(address) == "silent":
        return ExcCodes.DEVICE_BUSY  # never sent: trace_packet drops it
    try:
        if fc == 4:
            image = sim.input_registers(address)
            for i in range(len(registers)):
                registers[i] = image.get(start + i, 0)
        elif fc == 3:
            registers[:2] = sim.holding_registers(address)
        elif fc in (6, 16) and values is not None:
            for i, v in enumerate(values):
                sim.write_holding(address, first + i, int(v))
        elif fc == 1:
            bits = [*sim.coils, *[False] * (16 - rm.RELAY_COUNT)]
            registers[0] = sum(1 << i for i, b in enumerate(bits) if b)
        elif fc in (5, 15) and values is not None:
            sim.write_coils(first, [bool(v) for v in values])
    except (ValueError, IndexError):
        return ExcCodes.ILLEGAL_VALUE
    return None


def _crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def make_trace_packet(sim: Simulator, rtu: bool) -> Callable[[bool, bytes], bytes]:
    """The wire-level hook that makes silent and corrupt units misbehave."""

    def trace(sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        unit = data[0] if rtu else (data[6] if len(data) > 6 else 0)
        if rtu and sim.kind(unit) is None:
            return b""
        fault = sim.comm_fault(unit)
        if fault == "silent":
            return b""
        if fault == "corrupt":
            if rtu:
                body = data[:-2]
                crc = _crc16(body) ^ 0x5A5A  # a frame whose CRC is wrong
                return body + crc.to_bytes(2, "little")
            pdu = bytes([0x00, 0xFF]) + bytes(sim.rng.getrandbits(8) for _ in data[9:])
            return data[:7] + pdu
        return data

    return trace


async def _ticker(sim: Simulator) -> None:
    while True:
        sim.sync()
        await asyncio.sleep(TICK_S)


async def _serve(sim: Simulator, server: Any, ready: Callable[[], Awaitable[None]] | None) -> None:
    ticker = asyncio.create_task(_ticker(sim))
    try:
        await server.serve_forever(background=True)
        if ready is not None:
            await ready()
        with contextlib.suppress(asyncio.CancelledError):
            await server.serving
    finally:
        ticker.cancel()
        await server.shutdown()


async def serve_tcp(
    sim: Simulator,
    host: str,
    port: int,
    ready: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve ``sim`` over Modbus TCP until cancelled."""
    server = ModbusTcpServer(
        build_devices(sim),
        address=(host, port),
        trace_packet=make_trace_packet(sim, rtu=False),
    )
    await _serve(sim, server, ready)


async def serve_rtu(
    sim: Simulator,
    device: str,
    baud: int = 9600,
    parity: str = "N",
    ready: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve ``sim`` over Modbus RTU on a serial device until cancelled.

    Addresses above 247 cannot exist on a serial line; the caller validates that.
    """
    server = ModbusSerialServer(
        build_devices(sim),
        framer=FramerType.RTU,
        port=device,
        baudrate=baud,
        parity=parity,
        stopbits=1,
        trace_packet=make_trace_packet(sim, rtu=True),
    )
    await _serve(sim, server, ready)
