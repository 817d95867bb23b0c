"""Shared helpers for the edge-agent tests: a real Modbus TCP device bus and a stand-in portal.

The Modbus side is a real pymodbus server on loopback (one device id per unit), so the agent talks
real frames; the portal side is a stdlib ``ThreadingHTTPServer`` implementing the ingest protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from acquisition import registermap as rm


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Unit:
    """One simulated unit: its register values, settable from the test thread."""

    kind: str  # "H", "L", "CMU" or "RELAY"
    values: dict[str, float] = field(default_factory=dict)
    serial: int = 1000
    delay_s: float = 0.0  # answer this late (a slow unit)
    corrupt: bool = False  # answer with an exception code (stands in for a bad frame)
    dead: bool = False  # never answer
    holding: dict[int, int] = field(default_factory=dict)
    coils: list[bool] = field(default_factory=lambda: [False] * rm.RELAY_COUNT)
    reads: int = 0

    def measurement_registers(self) -> list[int]:
        block = rm.CMU_MEASUREMENTS if self.kind == "CMU" else rm.BMU_MEASUREMENTS
        return block.encode(self.values)

    def identity_registers(self) -> list[int]:
        utype = {"L": rm.UnitType.BMU_L, "H": rm.UnitType.BMU_H, "CMU": rm.UnitType.CMU}.get(
            self.kind, rm.UnitType.RELAY
        )
        regs = rm.BMU_IDENTITY.encode(
            {"unit_type": int(utype), "firmware": 258, "serial": self.serial, "nominal_voltage": 12}
        )
        return regs


def bmu_values(voltage: float = 13.5, **kw: float) -> dict[str, float]:
    base = {
        "voltage": voltage,
        "temperature": 24.1,
        "dcr": 4.321,
        "micro_voltage": 13.48,
        "emf": 13.53,
        "status": 0,
        "dcr_seq": 1,
    }
    base.update(kw)
    return base


def cmu_values(**kw: float) -> dict[str, float]:
    base = {"string_voltage": 540.12, "current": -12.3, "status": 0, "ambient": 23.5}
    base.update(kw)
    return base


class ModbusBus:
    """A Modbus TCP server on loopback serving ``units`` (device id -> Unit) from a thread.

    A device id missing from ``units`` never answers (``ignore_missing_devices``): a dead unit.
    """

    def __init__(self, units: dict[int, Unit]) -> None:
        self.units = units
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server: ModbusTcpServer | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def _device(self, dev_id: int, unit: Unit) -> SimDevice:
        async def action(
            fc: int,
            start: int,
            address: int,
            count: int,
            regs: list[int],
            values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            if unit.dead:
                raise NoSuchIdException(f"unit {dev_id} is dead")
            if unit.delay_s:
                await asyncio.sleep(unit.delay_s)
            if unit.corrupt:
                return ExcCodes.DEVICE_FAILURE
            if fc == 4:
                unit.reads += 1
                src = [0] * 200
                src[0:8] = unit.measurement_registers()
                src[100:105] = unit.identity_registers()
                for i in range(count):
                    regs[address - start + i] = src[address + i]
            elif fc in (6, 16) and values is not None:
                for i, v in enumerate(values):
                    unit.holding[address + i] = int(v)
            elif fc in (5, 15) and values is not None:
                for i, v in enumerate(values):
                    unit.coils[address - rm.RELAY_COILS + i] = bool(v)
            return None

        return SimDevice(
            id=dev_id,
            simdata=(
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=300, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=200, values=0, datatype=DataType.REGISTERS)],
            ),
            action=action,
        )

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        devices = [self._device(i, u) for i, u in self.units.items()]
        devices.append(self._device(0, Unit("H", dead=True)))  # any other id: silence
        self.server = ModbusTcpServer(
            devices, address=("127.0.0.1", self.port), ignore_missing_devices=True
        )
        self._ready.set()
        await self.server.serve_forever()

    def start(self) -> ModbusBus:
        self.thread.start()
        self._ready.wait(5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.02)
        raise RuntimeError("modbus test server did not start")

    def stop(self) -> None:
        if self.server is not None:
            fut = asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop)
            with contextlib.suppress(Exception):
                fut.result(5)
        self.thread.join(5)


class FakePortal:
    """A stand-in portal speaking ``docs/ingest-protocol.md`` on loopback.

    ``status`` forces a reply code for ingest (e.g. 503 = down, 401); ``refuse`` is a predicate
    on one scan that makes any batch containing such a scan a 400; ``max_scans_per_batch`` makes
    larger batches a 413. Every accepted batch is kept in ``batches`` (id, scans).
    """

    def __init__(self, config: dict[str, Any], token: str = "secret-token") -> None:  # noqa: S107
        self.config = config
        self.token = token
        self.status = 200
        self.refuse: Callable[[dict[str, Any]], bool] | None = None
        self.max_scans_per_batch: int | None = None
        self.commands: dict[str, Any] = {}
        self.batches: list[tuple[str, list[dict[str, Any]]]] = []
        self.attempts: list[tuple[str, int, int]] = []  # (batch id, n scans, reply status)
        self.agents: list[dict[str, Any]] = []
        self.config_fetches = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    self._reply(401, {"error": "bad token"})
                    return False
                return True

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if self.path != "/api/v1/agent/config/":
                    self._reply(404, {"error": "not found"})
                    return
                with outer.lock:
                    outer.config_fetches += 1
                    cfg = outer.config
                if outer.status != 200:
                    self._reply(outer.status, {"error": "down"})
                    return
                self._reply(200, cfg)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self._authorized():
                    return
                code = outer.handle(body)
                if code != 200:
                    self._reply(code, {"error": "refused", "detail": []})
                    return
                with outer.lock:
                    commands, outer.commands = outer.commands, {}
                    version = outer.config["config_version"]
                self._reply(
                    200,
                    {
                        "accepted": 1,
                        "duplicates": 0,
                        "rejected": [],
                        "config_version": version,
                        "commands": commands,
                    },
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def handle(self, body: dict[str, Any]) -> int:
        scans = body["scans"]
        code = self.status
        if code == 200 and self.max_scans_per_batch and len(scans) > self.max_scans_per_batch:
            code = 413
        if code == 200 and self.refuse and any(self.refuse(s) for s in scans):
            code = 400
        with self.lock:
            self.attempts.append((body.get("batch"), len(scans), code))
            self.agents.append(body["agent"])
            if code == 200:
                self.batches.append((body.get("batch"), scans))
        return code

    def scans(self) -> list[dict[str, Any]]:
        with self.lock:
            return [s for _, batch in self.batches for s in batch]

    def start(self) -> FakePortal:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def portal_config(
    buses: list[dict[str, Any]],
    batteries: list[dict[str, Any]],
    banks: list[dict[str, Any]] | None = None,
    relay: dict[str, Any] | None = None,
    scan_interval_s: float = 1,
    heartbeat_s: float = 300,
    version: str = "v1",
) -> dict[str, Any]:
    return {
        "config_version": version,
        "gateway": {"id": 1, "name": "test", "site": "test"},
        "scan_interval_s": scan_interval_s,
        "heartbeat_s": heartbeat_s,
        "dcr_interval_h": 24,
        "buses": buses,
        "batteries": batteries,
        "banks": banks or [],
        "relay": relay,
        "deadbands": {},
    }


def tcp_bus(name: str, bus: ModbusBus, timeout_s: float = 0.3) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "tcp",
        "host": "127.0.0.1",
        "port": bus.port,
        "timeout_s": timeout_s,
    }


def batteries_on(
    bus: str, addresses: list[int], first_id: int = 1, bank: int = 1
) -> list[dict[str, Any]]:
    return [
        {
            "id": first_id + i,
            "bus": bus,
            "address": a,
            "unit_type": "H",
            "bank": bank,
            "position": i + 1,
        }
        for i, a in enumerate(addresses)
    ]


def write_config(path: Any, portal: FakePortal, state_dir: Any, **extra: Any) -> Any:
    """Write an agent TOML file pointing at ``portal``; extra keys are written as TOML values."""
    lines = [
        f'portal_url = "{portal.url}"',
        f'token = "{portal.token}"',
        f'state_dir = "{state_dir}"',
        "backoff_initial_s = 0.2",
        "backoff_max_s = 1.0",
        "http_timeout_s = 2",
    ]
    for key, value in extra.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(pred: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := pred():
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


class RunningAgent:
    """An agent running in-process on a thread (the scan loop as in production)."""

    def __init__(self, config_path: Any) -> None:
        from acquisition.agent.config import load_local
        from acquisition.agent.runtime import Agent

        self.agent = Agent(load_local(config_path))
        self.result: list[int] = []
        self.thread = threading.Thread(
            target=lambda: self.result.append(self.agent.run()), daemon=True
        )

    def __enter__(self) -> Any:
        self.thread.start()
        return self.agent

    def __exit__(self, *exc: object) -> None:
        self.agent.stop.set()
        self.thread.join(15)
