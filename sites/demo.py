"""The demo fleet: three sites with simulators and agents on loopback.

Used by ``manage.py seed_demo`` (and by tests that want a realistic fleet). Demo passwords are
created here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import zlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from acquisition.simulator import physics
from sites import actions
from sites.choices import BusKind, Chemistry, Role, UnitType
from sites.models import (
    Bank,
    Battery,
    BatteryModel,
    Bus,
    Gateway,
    Site,
    SiteMembership,
)

SIM_BASE_PORT = 15020  # simulator of demo site i listens on 127.0.0.1:SIM_BASE_PORT + i
SCADA_BASE_PORT = 15120  # agent SCADA server of demo site i
RELAY_ADDRESS = 247

CATALOGUE = [
    # manufacturer, model, chemistry, nominal V, Ah, unit type, float V per unit, typical DCR mOhm
    ("Yuasa", "NP100-12", Chemistry.VRLA, "12", "100", UnitType.H, "13.650", 4.2),
    ("EnerSys", "PowerSafe 12V155F", Chemistry.VRLA, "12", "155", UnitType.H, "13.620", 3.1),
    ("Narada", "6-GFM-200", Chemistry.VRLA, "6", "200", UnitType.H, "6.810", 1.6),
    ("Saft", "SBM 161", Chemistry.NICD, "1.2", "161", UnitType.L, "1.420", 0.85),
    ("Hoppecke", "6 OPzS 420", Chemistry.VLA, "2", "420", UnitType.L, "2.230", 0.45),
    ("Victron", "LFP 12.8V 100Ah", Chemistry.LI_ION, "12.8", "100", UnitType.H, "13.800", 2.2),
]

SITES = [
    (
        "Alder Street UPS Room",
        "alder-street",
        "Europe/London",
        "12 Alder Street, Leeds",
        53.80,
        -1.55,
    ),
    ("Birch Hill Substation", "birch-hill", "Europe/Berlin", "Birkenhuegel 4, Kassel", 51.31, 9.49),
    (
        "Cedar Point Telecom Shelter",
        "cedar-point",
        "America/Chicago",
        "Cedar Point Rd, Ohio",
        41.48,
        -82.68,
    ),
]

USERS = [("admin", True, None), ("manager", False, Role.MANAGER), ("viewer", False, Role.VIEWER)]


@dataclass
class DemoSite:
    site: Site
    gateway: Gateway
    token: str
    scenario: dict[str, Any]
    sim_port: int
    scada_port: int


def _models() -> list[tuple[BatteryModel, float]]:
    out = []
    for maker, name, chem, nominal, ah, unit, float_v, dcr in CATALOGUE:
        model, _ = BatteryModel.objects.update_or_create(
            manufacturer=maker,
            model=name,
            defaults={
                "chemistry": chem,
                "nominal_voltage": Decimal(nominal),
                "capacity_ah": Decimal(ah),
                "unit_type": unit,
                "float_voltage": Decimal(float_v),
            },
        )
        out.append((model, dcr))
    return out


@transaction.atomic
def seed(rng_seed: int = 42) -> list[DemoSite]:
    """Create (or refresh) the demo fleet and users; returns each site with a fresh agent token."""
    rng = random.Random(rng_seed)
    catalogue = _models()
    today = timezone.now().date()
    demo_sites = []
    for index, (name, slug, tz, address, lat, lon) in enumerate(SITES):
        site, _ = Site.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "time_zone": tz,
                "address": address,
                "latitude": Decimal(str(lat)),
                "longitude": Decimal(str(lon)),
                "contact_name": "Facility desk",
                "contact_email": f"facility+{slug}@example.com",
            },
        )
        gateway = Gateway.objects.filter(site=site, name="edge-1").first()
        if gateway is None:
            gateway, token = actions.create_gateway(site, "edge-1", scan_interval_s=10)
        else:
            token = actions.rotate_gateway_token(gateway)
        sim_port = SIM_BASE_PORT + index
        bus, _ = Bus.objects.update_or_create(
            gateway=gateway,
            name="lan",
            defaults={
                "kind": BusKind.TCP,
                "host": "127.0.0.1",
                "port": sim_port,
                "timeout_ms": 500,
            },
        )
        Gateway.objects.filter(pk=gateway.pk).update(relay_bus=bus, relay_address=RELAY_ADDRESS)
        scenario = _seed_banks(site, bus, catalogue, rng, today, index)
        demo_sites.append(
            DemoSite(site, gateway, token, scenario, sim_port, SCADA_BASE_PORT + index)
        )
    _seed_users([d.site for d in demo_sites])
    return demo_sites


def _seed_banks(
    site: Site,
    bus: Bus,
    catalogue: list[tuple[BatteryModel, float]],
    rng: random.Random,
    today: dt.date,
    site_index: int,
) -> dict[str, Any]:
    """Banks and batteries of one site, plus the simulator scenario that matches them."""
    if Bank.objects.filter(site=site).exists():
        banks = list(Bank.objects.filter(site=site).order_by("cmu_address"))
    else:
        banks = []
        address = 1
        for b in range(rng.randint(2, 4)):
            model, _ = catalogue[(site_index * 2 + b) % len(catalogue)]
            count = rng.randint(24, 40)
            nominal = model.nominal_voltage * count
            bank = Bank.objects.create(
                site=site,
                name=f"String {chr(ord('A') + b)}",
                bus=bus,
                cmu_address=address,
                battery_model=model,
                nominal_voltage=nominal,
                float_voltage=(model.float_voltage or model.nominal_voltage) * count,
                positions=count,
            )
            address += 1
            install = today - dt.timedelta(days=rng.randint(200, 2500))
            dcr = dict((m.pk, d) for m, d in catalogue)[model.pk]
            for position in range(1, count + 1):
                baseline = dcr * rng.uniform(0.93, 1.07)
                Battery.objects.create(
                    bank=bank,
                    position=position,
                    model=model,
                    bus=bus,
                    bmu_address=address,
                    serial=f"{site.slug[:3].upper()}-{bank.name[-1]}{position:03d}"
                    f"-{rng.randint(10000, 99999)}",
                    install_date=install,
                    dcr_baseline_mohm=Decimal(f"{baseline:.3f}"),
                    dcr_baseline_set_at=timezone.make_aware(
                        dt.datetime.combine(install + dt.timedelta(days=182), dt.time(12))
                    ),
                )
                address += 1
            banks.append(bank)
    return scenario_for(site, banks)


def dry_out_days(age_days: float, target: float = 1.7) -> int:
    """Days of dry-out that bring a block of this age to about ``target`` x its baseline DCR.

    Far enough to be diagnosed and to cross the warning line, short of the 2 x that reads as an
    open cell (physics: dry-out adds 20 % at once and its baseline again every 30 days).
    """
    ageing = physics.ageing_factor(age_days * 0.9 / 365)  # rooms run a little below 25 C
    return int(min(30, max(5, 30 * (target / ageing - 1.2))))


def scenario_for(site: Site, banks: list[Bank]) -> dict[str, Any]:
    """The simulator scenario that serves exactly this site's banks at their addresses."""
    scenario_banks = []
    faults = []
    for bank in banks:
        batteries = list(Battery.objects.in_service().filter(bank=bank).order_by("bmu_address"))
        model = bank.battery_model or batteries[0].model
        first = batteries[0]
        baseline = float(first.dcr_baseline_mohm or 1)
        scenario_banks.append(
            {
                "cmu": bank.cmu_address,
                "unit_type": model.unit_type,
                "nominal_voltage": float(model.nominal_voltage),
                "first_address": first.bmu_address,
                "count": len(batteries),
                "capacity_ah": float(model.capacity_ah),
                "dcr_baseline_mohm": round(baseline, 3),
                "age_days": (
                    timezone.now().date() - (first.install_date or timezone.now().date())
                ).days,
                "float_voltage": float(model.float_voltage or model.nominal_voltage),
            }
        )
    if site.slug == SITES[0][1] and banks:
        # one visibly weak battery in the first demo site: position 7 of string A has been drying
        # out for a few weeks, so the aged history (simulate_history) shows the onset
        weak = Battery.objects.in_service().get(bank=banks[0], position=7)
        days = dry_out_days(scenario_banks[0]["age_days"])
        faults.append(
            {
                "address": weak.bmu_address,
                "kind": "dry_out",
                "after_s": -days * 86400,
                "severity": 1.0,
            }
        )
    return {
        "time_factor": 1.0,
        "seed": zlib.crc32(site.slug.encode()),  # the same units in every demo and test
        "banks": scenario_banks,
        "relay": RELAY_ADDRESS,
        "ambient_c": 23.0,
        "faults": faults,
        "load_events": [],
    }


def _seed_users(sites: list[Site]) -> None:
    user_model = get_user_model()
    for username, is_admin, role in USERS:
        user, _ = user_model.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.is_superuser = user.is_staff = is_admin
        user.set_password(username)  # demo only: nothing else creates a default password
        user.save()
        if role is None:
            continue
        granted = sites[:2] if role == Role.MANAGER else sites[:1]
        SiteMembership.objects.filter(user=user).exclude(site__in=granted).delete()
        for site in granted:
            SiteMembership.objects.update_or_create(user=user, site=site, defaults={"role": role})


def write_runtime_files(demo_sites: list[DemoSite], directory: Path, portal_url: str) -> list[Path]:
    """Write each site's simulator scenario and agent config (with its token) to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for demo in demo_sites:
        slug = demo.site.slug
        scenario_path = directory / f"sim-{slug}.json"
        scenario_path.write_text(json.dumps(demo.scenario, indent=2))
        state_dir = directory / f"agent-{slug}"
        state_dir.mkdir(exist_ok=True)
        config_path = directory / f"agent-{slug}.toml"
        config_path.write_text(
            f'portal_url = "{portal_url}"\n'
            f'token = "{demo.token}"\n'
            f'state_dir = "{state_dir}"\n'
            f'scada_listen = "127.0.0.1:{demo.scada_port}"\n'
            'log_level = "INFO"\n'
        )
        config_path.chmod(0o600)
        (directory / f"sim-{slug}.port").write_text(str(demo.sim_port))
        written += [scenario_path, config_path]
    return written
