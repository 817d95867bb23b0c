"""One Modbus bus: its client, its scan, and every write that goes on it.

Each bus gets exactly one worker thread (a one-thread executor): a serial line can carry one
request at a time anyway, and queueing relay/DCR writes on the same worker keeps them from
interleaving with a scan. Different buses run on different threads, so a gateway with two RS-485
lines scans in max(bus times), not their sum.

A unit that does not answer costs its timeout once per scan: pymodbus retries are off
(``retries=0``) and a unit that fails its identity read is not asked for measurements in the
same scan. An exception response or a corrupted frame is a failed read of that unit only.

RTU timing: ``RtuClient`` ends a response the moment its last byte arrives (the length follows
from its first three bytes) and keeps the line silent for 3.5 characters before the next request,
so a scan takes the serial line's wire time (``registermap.rtu_wire_seconds``) and little more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from acquisition import registermap as rm

from .config import Bus, UnitRef

log = logging.getLogger(__name__)
T = TypeVar("T")

_EXPECTED_TYPE = {"L": rm.UnitType.BMU_L, "H": rm.UnitType.BMU_H, "CMU": rm.UnitType.CMU}


def rtu_response_length(head: bytes) -> int | None:
    """Length of an RTU response frame from its first three bytes (None: a function we never use).

    Address, function, then: exception code (exception response, 5 bytes in all), byte count
    (FC01-04: 5 + count), or a fixed echo (FC05/06/15/16: 8 bytes).
    """
    fc = head[1]
    if fc & 0x80:
        return 5
    if fc in (1, 2, 3, 4):
        return 5 + head[2]
    if fc in (5, 6, 15, 16):
        return 8
    return None


class RtuClient(ModbusSerialClient):
    """pymodbus' serial client with the frame timing of a Modbus RTU master.

    pymodbus 3.16 finds the end of a response by polling the port every four character times
    (at least 1 ms) until two polls see the same byte count, 4.2 to 8.3 ms after the last byte
    at 9600 baud, and sends the next request right then: a scan 3-5 % slower than with this
    client, and at high baud rates less than the 1.75 ms inter-frame silence. Here the end of a
    response is known from its length (``rtu_response_length``), so the frame is handed to
    pymodbus the moment its last byte arrives; then the line is kept silent for exactly the
    3.5-character gap the slaves need to see a frame end before the next request goes out.
    The wait for a response never exceeds ``timeout`` in all (one timeout per silent unit).
    """

    def __init__(self, port: str, *, baudrate: int, parity: str, timeout: float) -> None:
        super().__init__(port, baudrate=baudrate, parity=parity, timeout=timeout, retries=0)
        char = 11.0 / baudrate  # as registermap.rtu_wire_seconds: 11-bit characters
        self.gap_s = 3.5 * char if baudrate <= 19200 else 0.00175
        self._timeout = timeout
        self._rx = bytearray()  # bytes of the response to the last request so far
        self._deadline = 0.0
        self._quiet_at = 0.0  # monotonic time from which the line has been silent long enough

    def send(self, request: bytes, addr: tuple | None = None) -> int:
        if request:
            delay = self._quiet_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._rx = bytearray()
            self._deadline = time.monotonic() + self._timeout
        return super().send(request, addr)

    def recv(self, size: int | None) -> bytes:
        if size is not None or self.socket is None:
            return super().recv(size)
        sock = self.socket
        got = bytearray()
        try:
            while True:
                have = len(self._rx) + len(got)
                need = 3 if have < 3 else rtu_response_length(bytes(self._rx + got))
                if need is None:  # not a frame we know: pymodbus' own end detection
                    got += super().recv(None)
                    break
                if have >= need:
                    if got:
                        break  # a whole frame: hand it to pymodbus
                    # pymodbus refused the last frame (bad CRC, another unit's late answer):
                    # listen on for the right one until the deadline
                    self._rx = bytearray()
                    continue
                left = self._deadline - time.monotonic()
                if left <= 0:
                    break
                sock.timeout = left
                chunk = sock.read(need - have)
                got += chunk
                if len(chunk) < need - have:
                    break  # timed out
        except OSError:
            self.close()
            raise ConnectionException(str(self)) from None
        finally:
            if self.socket is not None:
                self.socket.timeout = self._timeout
        self._rx += got
        self._quiet_at = time.monotonic() + (self.gap_s if got else 0.0)
        return bytes(got)


@dataclass
class BusScan:
    """What one bus delivered in one scan: unit -> measurement registers (None = silent)."""

    results: dict[UnitRef, list[int] | None] = field(default_factory=dict)
    duration_s: float = 0.0
    abandoned: bool = False


class BusPoller:
    """Owns the pymodbus client of one bus; every call runs on the bus's own thread."""

    def __init__(self, bus: Bus, dcr_interval_min: int) -> None:
        self.bus = bus
        self.dcr_interval_min = dcr_interval_min
        self.identified: dict[int, dict[str, int]] = {}  # address -> identity registers decoded
        self._pending_setup: set[int] = set()  # BMUs whose DCR interval is still to be written
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"bus-{bus.name}")
        self._lock = threading.Lock()
        self._queued: set[Future[Any]] = set()
        self._closed = False
        self.client = self._make_client()

    def _make_client(self) -> ModbusTcpClient | ModbusSerialClient:
        b = self.bus
        if b.kind == "tcp":
            return ModbusTcpClient(b.host, port=int(b.port), timeout=b.timeout_s, retries=0)
        return RtuClient(str(b.port), baudrate=b.baud, parity=b.parity, timeout=b.timeout_s)

    # -- called from other threads: queue work on the bus thread ---------------------------------

    def submit_scan(self, units: list[UnitRef], stop: threading.Event) -> Future[BusScan]:
        return self._submit(self._scan, units, stop)

    def submit_write_register(self, address: int, register: int, value: int) -> Future[bool]:
        return self._submit(self._write_register, address, register, value)

    def submit_write_coils(self, address: int, start: int, values: list[bool]) -> Future[bool]:
        return self._submit(self._write_coils, address, start, values)

    def submit_read_coils(self, address: int, start: int, count: int) -> Future[list[bool] | None]:
        return self._submit(self._read_coils, address, start, count)

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        with self._lock:
            if self._closed:  # a poller replaced by a new config: the work is dropped
                fut: Future[T] = Future()
                fut.cancel()
                return fut
            fut = self.executor.submit(fn, *args)
            self._queued.add(fut)
        fut.add_done_callback(self._queued.discard)
        return fut

    def close(self) -> None:
        """Stop taking work, drop queued work, close the client (on the bus thread).

        The client must really close: a serial port stays locked (pyserial opens it exclusively)
        until it is, and the poller of a new configuration needs it. (``shutdown(cancel_futures=
        True)`` would also cancel the queued close itself.)
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fut in list(self._queued):
                fut.cancel()  # the work not started yet; a running scan ends on its own
            self.executor.submit(self.client.close)
        self.executor.shutdown(wait=False)

    # -- on the bus thread ----

    def _read(self, address: int, block: rm.Block) -> list[int] | None:
        try:
            resp = self.client.read_input_registers(
                block.address, count=block.count, device_id=address
            )
        except ModbusException as exc:
            log.debug("bus %s unit %d: %s", self.bus.name, address, exc)
            return None
        except (OSError, ValueError, IndexError) as exc:  # garbled frame, closed port
            log.debug("bus %s unit %d: bad frame %r", self.bus.name, address, exc)
            return None
        if resp.isError() or len(resp.registers) < block.count:
            log.debug("bus %s unit %d: exception response %s", self.bus.name, address, resp)
            return None
        return list(resp.registers[: block.count])

    def _identify(self, unit: UnitRef) -> bool:
        block = rm.CMU_IDENTITY if unit.kind == "bank" else rm.BMU_IDENTITY
        regs = self._read(unit.address, block)
        if regs is None:
            return False
        ident = block.decode_raw(regs)
        self.identified[unit.address] = ident
        expected = _EXPECTED_TYPE.get(unit.unit_type)
        if expected is not None and ident["unit_type"] != expected:
            log.warning(
                "bus %s address %d: configured as %s but the unit says type %d",
                self.bus.name,
                unit.address,
                unit.unit_type,
                ident["unit_type"],
            )
        log.info(
            "bus %s address %d (%s %d): serial %d, firmware %d.%d",
            self.bus.name,
            unit.address,
            unit.kind,
            unit.id,
            ident["serial"],
            ident["firmware"] >> 8,
            ident["firmware"] & 0xFF,
        )
        if unit.kind == "battery":
            self._pending_setup.add(unit.address)
        return True

    def _scan(self, units: list[UnitRef], stop: threading.Event) -> BusScan:
        t0 = time.monotonic()
        out = BusScan()
        connected = self.client.connect()
        if not connected:
            log.warning("bus %s: cannot connect to %s", self.bus.name, self._where())
        for unit in units:
            if stop.is_set():
                out.abandoned = True
                break
            if not connected:
                out.results[unit] = None
                continue
            if unit.address not in self.identified and not self._identify(unit):
                out.results[unit] = None
                continue
            block = rm.CMU_MEASUREMENTS if unit.kind == "bank" else rm.BMU_MEASUREMENTS
            out.results[unit] = regs = self._read(unit.address, block)
            if regs is not None and unit.address in self._pending_setup:
                self._setup_bmu(unit.address)
            if regs is None and self.bus.kind == "tcp" and not self.client.connected:
                connected = self.client.connect()  # the gateway dropped us: one reconnect
        out.duration_s = time.monotonic() - t0
        return out

    def _setup_bmu(self, address: int) -> None:
        """Write the automatic DCR interval once per BMU (at start, or when first seen)."""
        if self._write_register(address, rm.BMU_DCR_INTERVAL, self.dcr_interval_min):
            self._pending_setup.discard(address)

    def _write_register(self, address: int, register: int, value: int) -> bool:
        try:
            resp = self.client.write_register(register, value, device_id=address)
        except (ModbusException, OSError, ValueError) as exc:
            log.warning(
                "bus %s unit %d: write %d=%d failed: %s",
                self.bus.name,
                address,
                register,
                value,
                exc,
            )
            return False
        if resp.isError():
            log.warning(
                "bus %s unit %d: write %d=%d refused: %s",
                self.bus.name,
                address,
                register,
                value,
                resp,
            )
            return False
        return True

    def _write_coils(self, address: int, start: int, values: list[bool]) -> bool:
        try:
            resp = self.client.write_coils(start, values, device_id=address)
        except (ModbusException, OSError, ValueError) as exc:
            log.warning("bus %s relay %d: write coils failed: %s", self.bus.name, address, exc)
            return False
        if resp.isError():
            log.warning("bus %s relay %d: write coils refused: %s", self.bus.name, address, resp)
            return False
        return True

    def _read_coils(self, address: int, start: int, count: int) -> list[bool] | None:
        try:
            resp = self.client.read_coils(start, count=count, device_id=address)
        except (ModbusException, OSError, ValueError) as exc:
            log.warning("bus %s relay %d: read coils failed: %s", self.bus.name, address, exc)
            return None
        return None if resp.isError() else list(resp.bits[:count])

    def _where(self) -> str:
        return f"{self.bus.host}:{self.bus.port}" if self.bus.kind == "tcp" else str(self.bus.port)
