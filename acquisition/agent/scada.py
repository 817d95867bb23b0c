"""The Modbus TCP server for the site's SCADA: the agent's latest values, as raw registers.

The map (also in ``docs/agent.md``), all *input registers* (FC04) of device id 1:

- 0..9 header: 0 map version (1), 1 battery count, 2 bank count, 3-4 last scan end as Unix
  seconds (uint32, high word first), 5 last scan duration in ms, 6 scans done (mod 65536),
  7 overruns (mod 65536), 8 outbox depth (capped 65535), 9 portal reachable (1/0).
- 1000 + 8*n: battery slot n (portal order: by bank, then position), the 8 registers of
  ``BMU_MEASUREMENTS`` exactly as the BMU served them.
- 4000 + 6*m: bank slot m (by bank id), the 6 registers of ``CMU_MEASUREMENTS``.
- 6000 + n / 6500 + m: communication flag per battery / bank slot: 0 ok, 1 silent in the last
  scan (values are the last good ones), 2 never answered since the agent started.

Raw integers are served so SCADA sees exactly what the devices said; scales are in the register map.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

log = logging.getLogger(__name__)

DEVICE_ID = 1
HEADER = 0
BATTERIES = 1000
BANKS = 4000
BATTERY_FLAGS = 6000
BANK_FLAGS = 6500
SIZE = 6800
FLAG_OK, FLAG_SILENT, FLAG_NEVER = 0, 1, 2


class ScadaServer:
    """Serves an in-memory register image; the scan loop replaces the image after each scan."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.image: list[int] = [0] * SIZE  # replaced as a whole (atomic under the GIL)
        self.loop = asyncio.new_event_loop()
        self.server: ModbusTcpServer | None = None
        self.thread = threading.Thread(target=self._run, name="scada", daemon=True)
        self._started = threading.Event()
        self.error: BaseException | None = None

    async def _action(
        self,
        fc: int,
        start: int,
        address: int,
        count: int,
        regs: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if values is not None:  # read-only map
            return ExcCodes.ILLEGAL_FUNCTION
        image = self.image
        regs[address - start : address - start + count] = image[address : address + count]
        return None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self.error = exc
            self._started.set()

    async def _serve(self) -> None:
        device = SimDevice(
            id=DEVICE_ID,
            simdata=(
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=SIZE, values=0, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )
        self.server = ModbusTcpServer([device], address=(self.host, self.port))
        try:
            await self.server.serve_forever(background=True)
        except RuntimeError:
            raise OSError(f"cannot listen on {self.host}:{self.port}") from None
        self._started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self.server.serving

    def start(self) -> None:
        self.thread.start()
        self._started.wait(10)
        if self.error is not None:
            raise self.error
        log.info("SCADA Modbus TCP server on %s:%d (device id %d)", self.host, self.port, DEVICE_ID)

    def stop(self) -> None:
        if self.server is not None and self.loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop)
            with contextlib.suppress(Exception):
                fut.result(5)
        self.thread.join(5)
