"""End to end: simulator fault -> edge agent -> real HTTP ingest (gunicorn) -> alarm -> e-mail
accepted by a real SMTP server (aiosmtpd) -> acknowledgement over the API -> recovery.

The simulator runs in real time (time factor 1: the injected fault takes effect at once). The
gateway's heartbeat is one scan (10 s) so every scan's values reach the portal; relay commands
travel in ingest replies (a quiet site's agent polls for them every scan, test_agent_commands).
A site override makes 2.34 V/cell (14.04 V) critical, which the simulator's dry-out fault crosses.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from alarms import actions
from alarms.choices import AlarmState, RuleKind, Severity, SubscriptionRole
from alarms.models import Alarm, Threshold
from bms_portal.api import tokens
from sites.choices import Role
from sites.models import Gateway
from tests.acquisition.e2e_helpers import (
    SCAN_INTERVAL_S,
    Portal,
    agent,
    make_e2e_site,
    simulator,
    tail,
    wait_for,
)
from tests.acquisition.simulator_helpers import free_port
from tests.alarms.conftest import subscribe
from tests.conftest import grant, make_user

UNITS = 8
FAULTED = 4  # Modbus address: battery #3 of the bank (addresses 2..9)
RELAY_ADDRESS = 247


def _http(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_a_simulated_fault_reaches_a_person_switches_the_relay_and_clears_on_recovery(
    transactional_db: Any, tmp_path: Path, smtp: Any, settings: Any
) -> None:
    sim_port = free_port()
    site = make_e2e_site(UNITS, host="127.0.0.1", port=sim_port, heartbeat_s=SCAN_INTERVAL_S)
    Gateway.objects.filter(pk=site.gateway.pk).update(
        relay_bus=site.bus, relay_address=RELAY_ADDRESS
    )
    site.scenario["relay"] = RELAY_ADDRESS
    for severity, per_cell in ((Severity.WARNING, 2.32), (Severity.CRITICAL, 2.34)):
        Threshold.objects.create(
            kind=RuleKind.VOLTAGE_HIGH, severity=severity, site=site.site, limit=per_cell
        )
    subscribe(site.site, "oncall@example.test", role=SubscriptionRole.PRIMARY)
    manager = make_user("e2e-manager")
    grant(manager, site.site, Role.MANAGER)
    _, token = tokens.create_token(manager, "e2e")
    faulted = next(b for b in site.batteries if b.bmu_address == FAULTED)
    env = {
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "PORTAL_URL": settings.PORTAL_URL,
        "ALARMS_DEBOUNCE_S": "0",
    }
    with (
        simulator(
            tmp_path, site.scenario, "--tcp", f"127.0.0.1:{sim_port}", time_factor=1.0
        ) as control,
        Portal(tmp_path, env=env) as portal,
        agent(tmp_path, portal.url, site.token) as running_agent,
    ):
        sim = f"http://127.0.0.1:{control}"
        logs = lambda: f"agent:\n{tail(running_agent.log)}\nportal:\n{tail(portal.log)}"  # noqa: E731
        try:
            wait_for(
                lambda: Gateway.objects.get(pk=site.gateway.pk).last_seen_at,
                3 * SCAN_INTERVAL_S,
                "first upload",
            )
        except AssertionError:
            pytest.fail(logs())
        assert _http(f"{sim}/relays") == [False, False, False, False]

        _http(f"{sim}/fault", {"address": FAULTED, "kind": "dry_out", "severity": 3.0})
        alarm = wait_for(
            lambda: Alarm.objects.filter(kind=RuleKind.VOLTAGE_HIGH, battery=faulted).first(),
            2 * SCAN_INTERVAL_S + 5,
            "voltage alarm raised",
        )
        assert (alarm.severity, alarm.state) == (Severity.CRITICAL, AlarmState.ACTIVE)
        wait_for(lambda: smtp.inbox.messages, 15, "alarm e-mail accepted by the SMTP server")
        body = smtp.inbox.bodies()[0]
        for expected in (
            site.site.name,
            site.bank.name,
            f"#{faulted.position}, serial {faulted.serial}",
            "Value:     14.",
            "Threshold: 14.04 V (site ",
            f"https://bms.example.test/batteries/{faulted.pk}/",
        ):
            assert expected in body, f"{expected!r} missing from:\n{body}"

        # relay 1 (any critical) switches within two scans of the alarm
        wait_for(lambda: _http(f"{sim}/relays")[0], 2 * SCAN_INTERVAL_S + 5, "relay 1 energised")
        wait_for(
            lambda: (Gateway.objects.get(pk=site.gateway.pk).agent_state.get("relays") or [0])[0],
            2 * SCAN_INTERVAL_S + 5,
            "the agent reports relay 1 on",
        )

        # a reminder after N hours; acknowledging over the API stops them
        later = timezone.now() + dt.timedelta(hours=settings.ALARMS_REMINDER_HOURS, seconds=5)
        actions.notify_due(now=later)
        wait_for(lambda: len(smtp.inbox.messages) >= 2, 10, "reminder e-mail")
        acked = _http(
            f"{portal.url}/api/v1/alarms/{alarm.pk}/acknowledge/", {"note": "on site"}, token
        )
        assert acked["state"] == "acknowledged"
        actions.notify_due(now=later + dt.timedelta(hours=2 * settings.ALARMS_REMINDER_HOURS))
        assert len(smtp.inbox.messages) == 2, "no reminder after the acknowledgement"

        # recovery: the fault is removed, the voltage falls back past the clear band
        _http(f"{sim}/clear", {"address": FAULTED})
        wait_for(
            lambda: Alarm.objects.get(pk=alarm.pk).state == AlarmState.CLEARED,
            2 * SCAN_INTERVAL_S + 5,
            "alarm cleared after recovery",
        )
        wait_for(lambda: not _http(f"{sim}/relays")[0], 2 * SCAN_INTERVAL_S + 5, "relay 1 released")
