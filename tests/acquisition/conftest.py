"""Fixtures for the portal side of acquisition: a gateway with its units, ingest bodies, and a
real portal (gunicorn) subprocess that end-to-end agent tests can reuse (``portal_server``)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from django.conf import settings
from django.test import Client

from acquisition import agentconfig
from sites.models import Bank, Battery, Bus, Gateway, Site
from tests.conftest import make_bank, make_bus, make_gateway, make_site

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_gateway_cache() -> Iterator[None]:
    """The ingest caches each gateway's unit list per process; tests must not see another's."""
    agentconfig.clear_cache()
    yield
    agentconfig.clear_cache()


@dataclass
class GatewaySetup:
    site: Site
    gateway: Gateway
    token: str
    bus: Bus
    bank: Bank
    batteries: list[Battery]


def make_gateway_setup(batteries: int = 4, **site_fields: Any) -> GatewaySetup:
    site = make_site(**site_fields)
    gateway, token = make_gateway(site)
    bus = make_bus(gateway)
    bank = make_bank(site, bus=bus, batteries=batteries)
    return GatewaySetup(site, gateway, token, bus, bank, list(bank.batteries.order_by("position")))


@pytest.fixture
def setup(db: Any) -> GatewaySetup:
    """A site with one gateway, one TCP bus and one bank of four H-type batteries."""
    return make_gateway_setup()


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def battery_reading(battery_id: int, **values: Any) -> dict[str, Any]:
    reading = {
        "id": battery_id,
        "voltage": 13.512,
        "temperature": 24.1,
        "dcr": 4.321,
        "micro_voltage": 13.48,
        "emf": 13.53,
        "status": 0,
    }
    reading.update(values)
    return reading


def bank_reading(bank_id: int, **values: Any) -> dict[str, Any]:
    reading = {"id": bank_id, "string_voltage": 54.12, "current": -12.3, "ambient": 23.5}
    reading.update({"status": 0, **values})
    return reading


def scan(
    ts: dt.datetime,
    batteries: list[dict[str, Any]] | None = None,
    banks: list[dict[str, Any]] | None = None,
    silent: list[int] | None = None,
) -> dict[str, Any]:
    return {
        "ts": iso(ts),
        "batteries": batteries or [],
        "banks": banks or [],
        "silent": {"batteries": silent or [], "banks": []},
    }


def body(*scans: dict[str, Any], batch: str = "b-1") -> dict[str, Any]:
    agent = {"version": "0.1.0", "outbox_depth": 0, "config_version": None, "relays": None}
    return {"batch": batch, "agent": agent, "scans": list(scans)}


def full_scan(setup: GatewaySetup, ts: dt.datetime) -> dict[str, Any]:
    return scan(
        ts,
        [battery_reading(b.pk) for b in setup.batteries],
        [bank_reading(setup.bank.pk)],
    )


def post(client: Client, token: str | None, payload: Any, **extra: Any) -> Any:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.post(
        "/api/v1/ingest/", data=data, content_type="application/json", **headers, **extra
    )


# -- a real portal process --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url() -> str:
    """DATABASE_URL of the test database (HOST may be a Unix socket directory)."""
    db = settings.DATABASES["default"]
    user = quote(str(db.get("USER") or ""))
    password = quote(str(db.get("PASSWORD") or ""))
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host, port = str(db.get("HOST") or ""), str(db.get("PORT") or "")
    name = quote(str(db["NAME"]))
    if host.startswith("/"):
        netloc = f"{auth}:{port}" if port else auth
        return f"postgresql://{netloc}/{name}?host={quote(host)}"
    return f"postgresql://{auth}{host}{':' + port if port else ''}/{name}"


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{out[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s")


@pytest.fixture
def portal_server(transactional_db: Any) -> Iterator[str]:
    """A real portal under gunicorn on loopback against the test database; yields its base URL.

    Uses ``transactional_db`` so data created by the test is committed and visible to the
    subprocess (and the subprocess's writes to the test).
    """
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": "",
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bms_portal.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "30",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
