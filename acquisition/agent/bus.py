"""One Modbus bus: its client, its scan, and every write that goes on it.

Each bus gets exactly one worker thread (a one-thread executor): a serial line can carry one
request at a time anyway, and queueing relay/DCR writes on the same worker keeps them from
interleaving with a scan. Different buses run on different threads, so a gateway with two RS-485
lines scans in max(bus times), not their sum.

A unit that does not answer costs its timeout once per scan: pymodbus retries are off
(``retries=0``) and a unit that fails its identity read is not asked for measurements in the
same scan. An exception response or a corrupted frame is a failed read of that unit only.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

from acquisition import registermap as rm

from .config import Bus, UnitRef

log = logging.getLogger(__name__)

_EXPECTED_TYPE = {"L": rm.UnitType.BMU_L, "H": rm.UnitType.BMU_H, "CMU": rm.UnitType.CMU}


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
        self.client = self._make_client()

    def _make_client(self) -> ModbusTcpClient | ModbusSerialClient:
        b = self.bus
        if b.kind == "tcp":
            return ModbusTcpClient(b.host, port=int(b.port), timeout=b.timeout_s, retries=0)
        return ModbusSerialClient(
            str(b.port), baudrate=b.baud, parity=b.parity, timeout=b.timeout_s, retries=0
        )

    # -- called from other threads: queue work on the bus thread ---------------------------------

    def submit_scan(self, units: list[UnitRef], stop: threading.Event) -> Future[BusScan]:
        return self.executor.submit(self._scan, units, stop)

    def submit_write_register(self, address: int, register: int, value: int) -> Future[bool]:
        return self.executor.submit(self._write_register, address, register, value)

    def submit_write_coils(self, address: int, start: int, values: list[bool]) -> Future[bool]:
        return self.executor.submit(self._write_coils, address, start, values)

    def submit_read_coils(self, address: int, start: int, count: int) -> Future[list[bool] | None]:
        return self.executor.submit(self._read_coils, address, start, count)

    def close(self) -> None:
        """Stop taking work, drop queued work, close the client (on the bus thread)."""
        self.executor.submit(self.client.close)
        self.executor.shutdown(wait=False, cancel_futures=True)

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
