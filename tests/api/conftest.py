"""API test fixtures: personal-token clients, the generated schema, and the objects a manager of
sites 1-2 must never see (``foreign``), per API resource."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from bms_portal.api.tokens import create_token
from sites.models import Battery
from tests.conftest import Fleet, make_gateway, make_user

API = "/api/v1/"
#: Resources that belong to no site (every signed-in user reads them).
UNSCOPED = {"battery-models"}


def token_client(user: Any, name: str = "tests") -> APIClient:
    """A client that authenticates with a new personal token of ``user``."""
    _, key = create_token(user, name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(scope="session")
def schema() -> dict[str, Any]:
    """The OpenAPI document the portal serves at /api/schema/."""
    return SchemaGenerator().get_schema(request=None, public=True)


def resource_of(path: str) -> str:
    """``/api/v1/batteries/{id}/readings/`` -> ``batteries``."""
    return path.removeprefix(API).split("/", 1)[0]


def concrete(path: str, pk: int) -> str:
    return re.sub(r"\{[^}]+\}", str(pk), path)


def operations(schema: dict[str, Any], method: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, ops in schema["paths"].items():
        if path.startswith(API) and method in ops:
            yield path, ops[method]


@dataclass
class Foreign:
    """Per resource, ids the manager must get 404 for (site 3's objects, another user's token)."""

    ids: dict[str, list[int]] = field(default_factory=dict)
    site: int = 0
    bank: int = 0
    battery: int = 0


def alarm_ids(fleet: Fleet, index: int = 2) -> list[int]:
    """An alarm on site ``index + 1``, raised the way the alarms app raises them (tests/alarms)."""
    from alarms import actions
    from alarms.models import Alarm
    from tests.alarms.conftest import T0, store

    bank = fleet.banks[index]
    batteries = list(bank.batteries.order_by("position"))
    plant = type("P", (), {"batteries": batteries, "bank": bank, "gateway": bank.bus.gateway})
    store(plant, T0, {1: {"voltage": 14.5}}, {"string_voltage": 13.62 * len(batteries)})
    actions.evaluate_batch(
        {
            "gateway": bank.bus.gateway.pk,
            "batteries": [b.pk for b in batteries],
            "banks": [bank.pk],
        },
        now=T0,
    )
    return list(Alarm.objects.filter(site=bank.site).visible().values_list("pk", flat=True))


def forecast_rows(fleet: Fleet, index: int = 2) -> tuple[list[int], list[int], list[int]]:
    """A forecast, remaining life (due in a month) and a site-level threshold override on site
    ``index + 1``: (forecast ids, battery ids with a remaining life, threshold ids)."""
    import datetime as dt

    from django.utils import timezone

    from alarms.models import Threshold
    from forecasting.models import Forecast, ForecastModel, RemainingLife

    stored, _ = ForecastModel.objects.get_or_create(
        parameter="dcr", version=1, defaults={"payload": "{}"}
    )
    battery = fleet.banks[index].batteries.order_by("position").first()
    today = timezone.localdate()
    forecast = Forecast.objects.create(
        battery=battery,
        parameter="dcr",
        model=stored,
        origin=today,
        baseline=4.0,
        level=4.4,
        horizons=[30, 90],
        q10=[4.4, 4.6],
        q50=[4.6, 5.0],
        q90=[4.8, 5.4],
    )
    RemainingLife.objects.create(
        battery=battery,
        model=stored,
        origin=today,
        dcr_pct=140.0,
        days=30.0,
        replace_on=today + dt.timedelta(days=30),
        cause="dry_out",
        evidence="DCR up 40 %",
    )
    threshold = Threshold.objects.create(
        kind="temperature_high", severity="warning", site=fleet.sites[index], limit=33.0
    )
    return [forecast.pk], [battery.pk], [threshold.pk]


@pytest.fixture
def foreign(fleet: Fleet) -> Foreign:
    site, bank = fleet.sites[2], fleet.banks[2]
    batteries = list(Battery.objects.filter(bank=bank).values_list("pk", flat=True))
    other_token, _ = create_token(make_user("someone-else"), "theirs")
    make_gateway(fleet.sites[0])  # a gateway the manager's sites have: still admins only
    forecasts, lives, thresholds = forecast_rows(fleet)
    return Foreign(
        ids={
            "sites": [site.pk],
            "banks": [bank.pk],
            "batteries": batteries,
            "gateways": list(site.gateways.values_list("pk", flat=True)),
            "alarms": alarm_ids(fleet),
            "tokens": [other_token.pk],
            "latest": [],  # scoped by its site / bank parameters (test_scoping)
            "thresholds": thresholds,
            "forecasts": forecasts,
            "remaining-life": lives,
            "replacement-plan": lives,
            "reports": [site.pk],
        },
        site=site.pk,
        bank=bank.pk,
        battery=batteries[0],
    )
