"""Helpers for the end-to-end tests: real processes on loopback, always killed afterwards.

Simulator (``python -m acquisition.simulator``), portal (gunicorn on the test database) and edge
agent (``python -m acquisition.agent``) each run as a subprocess in its own session; every
launcher is a context manager that terminates (then kills) its process on the way out, and each
process writes its output to a log file in the test's tmp dir, which failures print.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acquisition import registermap as rm
from acquisition.models import BankReading, LatestBankReading, LatestReading, Reading
from sites.choices import BusKind
from sites.models import Bank, Battery, Bus, Gateway, Site
from tests.acquisition.conftest import ROOT, _wait_ready, database_url, free_port
from tests.conftest import make_bank, make_battery_model, make_bus, make_gateway, make_site

SCAN_INTERVAL_S = 10  # the model's minimum (Gateway.scan_interval_s)


def wait_for(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.2) -> Any:
    """Poll ``pred`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := pred():
            return value
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL of the whole session if it does not exit in ``timeout``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def running(
    cmd: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` (output to ``log``) for the duration of the block, then stop it."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_process(proc)


def tail(path: Path, chars: int = 4000) -> str:
    """The end of a log file, for assertion messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# -- the processes ----------------------------------------------------------------------------


@contextlib.contextmanager
def simulator(
    tmp: Path, scenario: dict[str, Any], *where: str, time_factor: float = 0.0
) -> Iterator[int]:
    """The device simulator serving ``scenario`` (``--tcp H:P`` or ``--rtu DEV``); yields the
    port of its control API, once that answers."""
    path = tmp / "scenario.json"
    path.write_text(json.dumps(scenario))
    control = free_port()
    cmd = [sys.executable, "-m", "acquisition.simulator", *where, "--scenario", str(path)]
    cmd += ["--time-factor", str(time_factor), "--control", f"127.0.0.1:{control}"]
    log = tmp / "simulator.log"
    with running(cmd, log) as proc:
        wait_for(
            lambda: proc.poll() is not None or _answers(f"http://127.0.0.1:{control}/state"),
            15,
            "simulator control API",
        )
        assert proc.poll() is None, f"simulator exited:\n{tail(log)}"
        yield control


def sim_state(control: int) -> dict[str, dict[str, Any]]:
    """The simulator's units, exactly as served (``GET /state``), keyed by address."""
    with urllib.request.urlopen(f"http://127.0.0.1:{control}/state", timeout=5) as resp:
        return dict(json.loads(resp.read())["units"])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@contextlib.contextmanager
def socat_pair(tmp: Path) -> Iterator[tuple[str, str]]:
    """A virtual RS-485 line: two linked pseudo-terminals (device end, agent end)."""
    a, b = str(tmp / "ttyA"), str(tmp / "ttyB")
    cmd = ["socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"]
    with running(cmd, tmp / "socat.log") as proc:
        wait_for(
            lambda: proc.poll() is not None or (Path(a).exists() and Path(b).exists()),
            5,
            "socat pty pair",
            step=0.05,
        )
        assert proc.poll() is None, tail(tmp / "socat.log")
        yield a, b


class Portal:
    """The portal under gunicorn on a fixed loopback port; can be stopped and started again."""

    def __init__(
        self,
        tmp: Path,
        workers: int = 2,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "gunicorn.log"
        self.workers = workers
        self.args = args or []  # more gunicorn options, e.g. ["--worker-class", "gthread"]
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DB_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": "",
            "REDIS_URL": "",
            "LOG_LEVEL": "WARNING",
            **self.env,
        }
        cmd = [sys.executable, "-m", "gunicorn", "bms_portal.wsgi"]
        cmd += ["-b", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--timeout", "30"]
        cmd += self.args
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_ready(self.url, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def __enter__(self) -> Portal:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Agent:
    """A running edge agent: its process, state directory, log and endpoints."""

    proc: subprocess.Popen[bytes]
    state_dir: Path
    log: Path
    health_port: int
    scada_port: int

    def health(self) -> dict[str, Any]:
        """``GET /healthz`` (503 before the first scan still carries the JSON)."""
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))
        except OSError:
            return {}


@contextlib.contextmanager
def agent(
    tmp: Path,
    portal_url: str,
    token: str,
    *,
    bus_overrides: dict[str, dict[str, Any]] | None = None,
    log_level: str = "INFO",
) -> Iterator[Agent]:
    """The edge agent with a TOML config pointing at the portal; SCADA and health on loopback."""
    state_dir = tmp / "agent-state"
    health, scada = free_port(), free_port()
    lines = [
        f'portal_url = "{portal_url}"',
        f'token = "{token}"',
        f'state_dir = "{state_dir}"',
        f'scada_listen = "127.0.0.1:{scada}"',
        f'health_listen = "127.0.0.1:{health}"',
        f'log_level = "{log_level}"',
        "backoff_initial_s = 0.2",
        "backoff_max_s = 1.0",
        "http_timeout_s = 5",
    ]
    for bus, values in (bus_overrides or {}).items():
        lines.append(f'[bus_overrides."{bus}"]')
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path = tmp / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    log = tmp / "agent.log"
    with running([sys.executable, "-m", "acquisition.agent", "--config", str(path)], log) as proc:
        running_agent = Agent(proc, state_dir, log, health, scada)
        wait_for(
            lambda: proc.poll() is not None or running_agent.health(), 15, "agent health endpoint"
        )
        assert proc.poll() is None, f"agent exited:\n{tail(log)}"
        yield running_agent


# -- the fleet in the portal ------------------------------------------------------------------


@dataclass
class E2ESite:
    """A portal site whose gateway's bus matches the simulator scenario it was built with."""

    site: Site
    gateway: Gateway
    token: str
    bus: Bus
    bank: Bank
    batteries: list[Battery]
    scenario: dict[str, Any] = field(default_factory=dict)

    def battery_address(self) -> dict[int, int]:
        return {b.pk: int(b.bmu_address or 0) for b in self.batteries}


def make_e2e_site(
    units: int, *, kind: str = BusKind.TCP, heartbeat_s: int = 300, **bus_fields: Any
) -> E2ESite:
    """One gateway, one bus, one bank of ``units`` H-type 12 V batteries at addresses 2.. and its
    CMU at address 1: the same layout as ``scenario`` (a simulator JSON scenario)."""
    site = make_site()
    gateway, token = make_gateway(site, scan_interval_s=SCAN_INTERVAL_S, heartbeat_s=heartbeat_s)
    bus = make_bus(gateway, kind=kind, timeout_ms=1000, **bus_fields)
    bank = make_bank(site, bus=bus, batteries=units, cmu_address=1, model=make_battery_model())
    scenario = {
        "seed": 11,
        "banks": [{"cmu": 1, "unit_type": "H", "first_address": 2, "count": units}],
    }
    batteries = list(bank.batteries.order_by("position"))
    return E2ESite(site, gateway, token, bus, bank, batteries, scenario)


def stored_counts(site: E2ESite) -> tuple[int, int]:
    """(battery readings, bank readings) stored for ``site``."""
    ids = [b.pk for b in site.batteries]
    return (
        Reading.objects.filter(battery_id__in=ids).count(),
        BankReading.objects.filter(bank_id=site.bank.pk).count(),
    )


def _close(name: str, stored: float | None, served: float, scale: float) -> str | None:
    if stored is None or abs(stored - served) > scale * 0.5 + 1e-6 * max(1.0, abs(served)):
        return f"{name}: stored {stored}, simulator {served} (resolution {scale})"
    return None


def mismatches_with_simulator(site: E2ESite, state: dict[str, dict[str, Any]]) -> list[str]:
    """Every stored value (latest and its Reading row) that differs from the simulator's by more
    than half its resolution (1 mV, 0.1 C, 1 micro-ohm, 0.01 V, 0.1 A), as messages."""
    problems: list[str] = []
    scales = {f.name: f.scale for f in (*rm.BMU_MEASUREMENTS.fields, *rm.CMU_MEASUREMENTS.fields)}
    for battery in site.batteries:
        served = state[str(battery.bmu_address)]
        latest = LatestReading.objects.filter(battery=battery).first()
        if latest is None:
            problems.append(f"battery {battery.pk}: no latest reading")
            continue
        row = Reading.objects.get(battery_id=battery.pk, ts=latest.ts)
        for obj, what in ((latest, "latest"), (row, "reading")):
            for name in (*rm.BMU_PARAMETERS, "status"):
                problem = _close(name, getattr(obj, name), served[name], scales[name])
                if problem:
                    problems.append(f"battery {battery.pk} {what} {problem}")
    cmu = state["1"]
    bank_latest = LatestBankReading.objects.filter(bank=site.bank).first()
    if bank_latest is None:
        return [*problems, "bank: no latest reading"]
    bank_row = BankReading.objects.get(bank_id=site.bank.pk, ts=bank_latest.ts)
    for obj, what in ((bank_latest, "latest"), (bank_row, "reading")):
        for name in (*rm.CMU_PARAMETERS, "status"):
            problem = _close(name, getattr(obj, name), cmu[name], scales[name])
            if problem:
                problems.append(f"bank {what} {problem}")
    return problems


def outbox_readings(state_dir: Path) -> tuple[set[str], int]:
    """Scan timestamps and reading count left in a stopped agent's outbox."""
    db = sqlite3.connect(state_dir / "outbox.sqlite3")
    try:
        bodies = [json.loads(row[0]) for row in db.execute("SELECT body FROM scans")]
    finally:
        db.close()
    return {b["ts"] for b in bodies}, sum(len(b["batteries"]) + len(b["banks"]) for b in bodies)
