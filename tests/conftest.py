"""Shared fixtures: users with roles, and builders for a small fleet.

Builders are plain functions (``make_site``, ``make_bank`` ...) so a test can create exactly the
fleet it needs; ``fleet`` is a ready three-site fleet with the demo's access pattern.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from sites import actions
from sites.choices import BusKind, Chemistry, Role, UnitType
from sites.models import Bank, Battery, BatteryModel, Bus, Gateway, Site, SiteMembership

_counter = itertools.count(1)


def make_battery_model(unit_type: str = UnitType.H, **fields: Any) -> BatteryModel:
    n = next(_counter)
    defaults: dict[str, Any] = {
        "manufacturer": "Acme",
        "model": f"M{n}",
        "chemistry": Chemistry.VRLA,
        "nominal_voltage": Decimal("12") if unit_type == UnitType.H else Decimal("2"),
        "capacity_ah": Decimal("100"),
        "unit_type": unit_type,
        "float_voltage": Decimal("13.62") if unit_type == UnitType.H else Decimal("2.27"),
    }
    defaults.update(fields)
    return BatteryModel.objects.create(**defaults)


def make_site(name: str | None = None, **fields: Any) -> Site:
    n = next(_counter)
    name = name or f"Site {n}"
    fields.setdefault("slug", f"site-{n}")
    fields.setdefault("time_zone", "Europe/Paris")
    return Site.objects.create(name=name, **fields)


def make_gateway(site: Site, **fields: Any) -> tuple[Gateway, str]:
    return actions.create_gateway(site, fields.pop("name", f"gw-{next(_counter)}"), **fields)


def make_bus(gateway: Gateway, **fields: Any) -> Bus:
    defaults: dict[str, Any] = {"name": f"bus-{next(_counter)}", "kind": BusKind.TCP}
    defaults.update(fields)
    if defaults["kind"] == BusKind.TCP:
        defaults.setdefault("host", "127.0.0.1")
    else:
        defaults.setdefault("serial_port", "/dev/ttyUSB0")
    return Bus.objects.create(gateway=gateway, **defaults)


def make_bank(
    site: Site,
    *,
    bus: Bus | None = None,
    batteries: int = 4,
    model: BatteryModel | None = None,
    cmu_address: int | None = 1,
    first_address: int | None = None,
    **fields: Any,
) -> Bank:
    model = model or make_battery_model()
    if bus is None:
        gateway = site.gateways.first() or make_gateway(site)[0]
        bus = gateway.buses.first() or make_bus(gateway)
    bank = Bank.objects.create(
        site=site,
        name=fields.pop("name", f"String {next(_counter)}"),
        bus=bus,
        cmu_address=cmu_address,
        battery_model=model,
        nominal_voltage=model.nominal_voltage * batteries,
        float_voltage=(model.float_voltage or model.nominal_voltage) * batteries,
        positions=batteries,
        **fields,
    )
    start = first_address or ((cmu_address or 0) + 1)
    for position in range(1, batteries + 1):
        Battery.objects.create(
            bank=bank,
            position=position,
            model=model,
            bus=bus,
            bmu_address=start + position - 1,
            serial=f"SN{bank.pk}-{position}",
            install_date=dt.date(2024, 1, 1),
            dcr_baseline_mohm=Decimal("4.000"),
        )
    return bank


def make_user(username: str, *, superuser: bool = False) -> Any:
    user_model = get_user_model()
    user = user_model.objects.create_user(username=username, password=username + "-pw")
    if superuser:
        user.is_superuser = user.is_staff = True
        user.save()
    return user


def grant(user: Any, site: Site, role: str) -> SiteMembership:
    return SiteMembership.objects.create(user=user, site=site, role=role)


@dataclass
class Fleet:
    sites: list[Site]
    banks: list[Bank]
    admin: Any
    manager: Any
    viewer: Any
    outsider: Any


@pytest.fixture
def fleet(db: Any) -> Fleet:
    """Three sites with one bank each; manager of sites 1-2, viewer of site 1, outsider of none."""
    sites = [make_site(f"Site {i}", slug=f"s{i}") for i in (1, 2, 3)]
    banks = [make_bank(site, batteries=3) for site in sites]
    admin = make_user("admin", superuser=True)
    manager = make_user("manager")
    viewer = make_user("viewer")
    outsider = make_user("outsider")
    grant(manager, sites[0], Role.MANAGER)
    grant(manager, sites[1], Role.MANAGER)
    grant(viewer, sites[0], Role.VIEWER)
    return Fleet(sites, banks, admin, manager, viewer, outsider)


def database_url_for_subprocess() -> str:
    """DATABASE_URL of the database this test runs on, for servers and workers it starts.

    Under pytest-django that is the test database (``test_<name>``); the host may be the Unix
    socket directory of the embedded server.
    """
    from urllib.parse import quote

    from django.conf import settings

    db = settings.DATABASES["default"]
    host = db["HOST"] or ""
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    if host.startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={quote(host)}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgresql://{auth}@{host}{port}/{db['NAME']}"


def redis_url() -> str | None:
    """A reachable Redis (``REDIS_URL`` or the local default), else None."""
    import os
    import socket
    from urllib.parse import urlsplit

    url = (
        os.environ.get("TEST_REDIS_URL")
        or os.environ.get("REDIS_URL")
        or "redis://127.0.0.1:6379/14"
    )
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1
        ):
            return url
    except OSError:
        return None
