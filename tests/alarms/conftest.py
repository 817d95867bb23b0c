"""Fixtures for the alarms tests: a small site, latest values written as the ingest leaves them,
a real SMTP server on loopback (aiosmtpd) and a helper that evaluates a batch."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from acquisition.models import LatestBankReading, LatestReading
from alarms import actions
from alarms.choices import Channel, SubscriptionRole
from alarms.models import Subscription
from sites.models import Bank, Battery, Gateway, Site
from tests.conftest import make_bank, make_bus, make_gateway, make_site

T0 = dt.datetime(2026, 11, 24, 4, 20, tzinfo=dt.UTC)
FLOAT_V = 13.62  # a 12 V VRLA block on float (2.27 V/cell)


@dataclass
class AlarmSite:
    site: Site
    gateway: Gateway
    bank: Bank
    batteries: list[Battery]

    def battery(self, position: int) -> Battery:
        return self.batteries[position - 1]


def make_alarm_site(batteries: int = 4, **site_fields: Any) -> AlarmSite:
    site = make_site(**site_fields)
    gateway, _ = make_gateway(site)
    bus = make_bus(gateway)
    bank = make_bank(site, bus=bus, batteries=batteries)
    return AlarmSite(site, gateway, bank, list(bank.batteries.order_by("position")))


@pytest.fixture
def plant(db: Any) -> AlarmSite:
    """One site, one gateway, one bank of four 12 V VRLA blocks (baseline DCR 4 mOhm)."""
    return make_alarm_site()


def healthy(**values: Any) -> dict[str, Any]:
    reading = {
        "voltage": FLOAT_V,
        "temperature": 24.0,
        "dcr": 4.1,
        "micro_voltage": 13.60,
        "emf": 12.85,
        "status": 0,
    }
    reading.update(values)
    return reading


def healthy_bank(**values: Any) -> dict[str, Any]:
    reading = {"string_voltage": FLOAT_V * 4, "current": 0.1, "ambient": 23.5, "status": 0}
    reading.update(values)
    return reading


def store(
    plant: AlarmSite,
    ts: dt.datetime,
    batteries: dict[int, dict[str, Any]] | None = None,
    bank: dict[str, Any] | None = None,
) -> None:
    """Write latest values as the ingest does: every battery healthy unless given (by position)."""
    batteries = batteries or {}
    for b in plant.batteries:
        values = healthy(**batteries.get(b.position, {}))
        LatestReading.objects.update_or_create(
            battery=b, defaults={"ts": ts, "updated": ts, **values}
        )
    LatestBankReading.objects.update_or_create(
        bank=plant.bank, defaults={"ts": ts, "updated": ts, **healthy_bank(**(bank or {}))}
    )


def payload(
    plant: AlarmSite,
    ts: dt.datetime,
    *,
    silent: list[int] | None = None,
    silent_banks: list[int] | None = None,
    heard: bool = True,
) -> dict[str, Any]:
    silent = silent or []
    return {
        "gateway": plant.gateway.pk,
        "batteries": [b.pk for b in plant.batteries if b.pk not in silent] if heard else [],
        "banks": [plant.bank.pk] if heard and not silent_banks else [],
        "start": ts.isoformat(),
        "end": ts.isoformat(),
        "silent": {"batteries": silent, "banks": silent_banks or []},
    }


def evaluate(
    plant: AlarmSite,
    ts: dt.datetime,
    batteries: dict[int, dict[str, Any]] | None = None,
    bank: dict[str, Any] | None = None,
    *,
    now: dt.datetime | None = None,
    **kwargs: Any,
) -> actions.transitions.Outcome:
    """Store a scan at ``ts`` and evaluate it as the ingest's hand-off would."""
    store(plant, ts, batteries, bank)
    return actions.evaluate_batch(payload(plant, ts, **kwargs), now=now or ts)


def subscribe(site: Site, email: str, **fields: Any) -> Subscription:
    fields.setdefault("role", SubscriptionRole.PRIMARY)
    return Subscription.objects.create(site=site, channel=Channel.EMAIL, email=email, **fields)


# -- a real SMTP server on loopback ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Inbox:
    """What the loopback SMTP server accepted."""

    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def bodies(self) -> list[str]:
        with self.lock:
            return [m.get_payload(decode=True).decode() for m in self.messages]


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpServer]:
    """aiosmtpd on a free loopback port; Django's SMTP backend pointed at it."""
    server = SmtpServer(free_port())
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.PORTAL_URL = "https://bms.example.test"
    yield server
    server.stop()
