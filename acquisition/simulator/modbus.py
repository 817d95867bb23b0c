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

Line timing (RTU on a pseudo-terminal): a pty moves bytes instantly whatever baud rate is set on
it, so without help a client would scan 247 units in ~2 s where a real 9600 baud line needs ~10 s.
``LineTiming`` charges every exchange its wire time on the simulator's side (see its docstring);
``serve_rtu`` turns it on for ptys and off for real serial ports, whose UART paces the bytes itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import serial
from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.transport.serialtransport import SerialTransport

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


@dataclass
class LineTiming:
    """The timing of an RS-485 line, for a link that has none (a pseudo-terminal).

    Modbus over serial line (spec v1.02, as ``registermap.rtu_wire_seconds``): a character takes
    11 bit times and frames are separated by 3.5 character times of silence (1.75 ms above 19200
    baud). A pty delivers the master's request the instant it is written, so:

    - a request occupies the line for ``len(request)`` characters from the arrival of its first
      byte, or from the moment the line is free again if the master started too early;
    - the slave may answer only after the 3.5-character silence that ends the request;
    - the response leaves one character per character time (``answer`` returns its start), so its
      last byte reaches the master ``len(response)`` characters later;
    - the line is busy until 3.5 characters after that last byte.

    The simulated slave thus answers with the spec's minimum turnaround (no processing delay); a
    master that keeps up sees exactly the wire time, and nothing can be faster than it.
    """

    char_s: float
    gap_s: float
    free_at: float = 0.0  # loop time from which the line is silent and may carry a new frame
    rx_start: float | None = None  # wire start of the request being received
    rx_bytes: int = 0
    rx_last: float = 0.0

    @classmethod
    def for_baud(cls, baud: int) -> LineTiming:
        char = 11.0 / baud
        return cls(char, 3.5 * char if baud <= 19200 else 0.00175)

    def received(self, now: float, n: int) -> None:
        """``n`` request bytes arrived at ``now``."""
        if self.rx_start is None or now - self.rx_last > self.gap_s:
            self.rx_start, self.rx_bytes = max(now, self.free_at), 0
        self.rx_bytes += n
        self.rx_last = now
        self.free_at = self.rx_start + self.rx_bytes * self.char_s + self.gap_s

    def answer(self, now: float, n: int) -> float:
        """Start of an ``n``-byte response asked for at ``now`` (byte k is due k+1 chars later)."""
        start = max(now, self.free_at)
        self.free_at = start + n * self.char_s + self.gap_s
        self.rx_start = None
        return start

    def no_answer(self) -> None:
        self.rx_start = None


_TIMER_SLACK_S = 0.0012


class _PacedSerialTransport(SerialTransport):
    """pymodbus's serial transport with ``LineTiming``: requests are timed, responses paced."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = LineTiming.for_baud(int(self.sync_serial.baudrate))

    def intern_read_ready(self) -> None:
        try:
            data = self.sync_serial.read(1024)
        except serial.SerialException as exc:
            self.close(exc=exc)
            return
        if data:
            self.line.received(self.async_loop.time(), len(data))
            self.intern_protocol.data_received(data)  # type: ignore[attr-defined]

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:  # a silent unit, or an address nobody serves
            self.line.no_answer()
            return
        start = self.line.answer(self.async_loop.time(), len(data))
        frame = _Frame(bytes(data))
        last = len(data) - 1
        for k in range(last):
            self.async_loop.call_at(start + (k + 1) * self.line.char_s, self._emit, frame, k + 1)
        # The loop's timers fire up to 1 ms late (epoll counts in ms): the frame's last byte, which
        # ends the exchange for the master, is scheduled early and sent exactly on time.
        due = start + len(data) * self.line.char_s
        self.async_loop.call_at(due - _TIMER_SLACK_S, self._emit_last, frame, due)

    def _emit(self, frame: _Frame, upto: int) -> None:
        """Write ``frame`` up to byte ``upto`` now (not at the loop's next turn), in order."""
        chunk, frame.sent = frame.data[frame.sent : upto], max(frame.sent, upto)
        if not chunk or not self.sync_serial:  # already sent, or closed meanwhile
            return
        if not self.intern_write_buffer:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                chunk = chunk[self.sync_serial.write(chunk) or 0 :]
        if chunk:
            super().write(chunk)

    def _emit_last(self, frame: _Frame, due: float) -> None:
        while self.async_loop.time() < due:  # at most _TIMER_SLACK_S
            pass
        self._emit(frame, len(frame.data))


@dataclass
class _Frame:
    data: bytes
    sent: int = 0


async def _create_paced_serial(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], Any], url: str, **kw: Any
) -> tuple[SerialTransport, Any]:
    """``pymodbus.transport.serialtransport.create_serial_connection`` with the paced transport."""
    protocol = factory()
    transport = _PacedSerialTransport(loop, protocol, url, **kw)
    loop.call_soon(transport.setup)
    return transport, protocol


def is_pty(device: str) -> bool:
    """True for a pseudo-terminal (e.g. a socat link), which has no baud-rate timing of its own."""
    real = os.path.realpath(device)
    return real.startswith("/dev/pts/") or real == "/dev/ptmx"


async def serve_rtu(
    sim: Simulator,
    device: str,
    baud: int = 9600,
    parity: str = "N",
    ready: Callable[[], Awaitable[None]] | None = None,
    line_timing: bool | None = None,
) -> None:
    """Serve ``sim`` over Modbus RTU on a serial device until cancelled.

    Addresses above 247 cannot exist on a serial line; the caller validates that.
    ``line_timing`` (``LineTiming``): None = on for a pseudo-terminal, off for a real port.
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
    if line_timing is None:
        line_timing = is_pty(device)
    if line_timing:
        # pymodbus 3.16 opens the port through ``call_create`` (also when it re-opens it)
        server.call_create = functools.partial(
            _create_paced_serial,
            server.loop,
            server.handle_new_connection,
            device,
            baudrate=baud,
            bytesize=8,
            parity=parity,
            stopbits=1,
            timeout=server.comm_params.timeout_connect,
        )
    log.debug("RTU line timing %s", "on" if line_timing else "off")
    await _serve(sim, server, ready)
