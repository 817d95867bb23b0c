"""Domain operations on the fleet. Views, admin actions and commands call these."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from sites.choices import BatteryStatus
from sites.models import Battery, BatteryReplacement, Bus, Gateway, Site


@transaction.atomic
def create_gateway(site: Site, name: str, **fields: Any) -> tuple[Gateway, str]:
    """Create a gateway; returns it and its token in clear (shown once, stored hashed)."""
    gateway = Gateway(site=site, name=name, **fields)
    token = gateway.set_new_token()
    gateway.full_clean()
    gateway.save()
    return gateway, token


@transaction.atomic
def rotate_gateway_token(gateway: Gateway) -> str:
    token = gateway.set_new_token()
    gateway.save(update_fields=["token_hash", "token_prefix", "token_created_at", "revoked_at"])
    return token


def revoke_gateway_token(gateway: Gateway) -> None:
    Gateway.objects.filter(pk=gateway.pk).update(revoked_at=timezone.now())


@transaction.atomic
def replace_battery(
    old: Battery,
    *,
    serial: str,
    replaced_on: dt.date,
    reason: str = "",
    user: Any = None,
    model: Any = None,
) -> Battery:
    """Take ``old`` out of service and install a new battery at its position and BMU address.

    The new battery's DCR baseline is left empty: it is set about six months after installation
    (IEEE 1188 practice), when the block has settled.
    """
    old = Battery.objects.select_for_update().get(pk=old.pk)
    bus: Bus | None = old.bus
    address = old.bmu_address
    old.status = BatteryStatus.REPLACED
    old.save(update_fields=["status"])
    new = Battery.objects.create(
        bank=old.bank,
        position=old.position,
        model=model or old.model,
        bus=bus,
        bmu_address=address,
        serial=serial,
        install_date=replaced_on,
        status=BatteryStatus.IN_SERVICE,
    )
    BatteryReplacement.objects.create(
        bank=old.bank,
        position=old.position,
        removed=old,
        installed=new,
        replaced_on=replaced_on,
        reason=reason,
        performed_by=user if user is not None and user.is_authenticated else None,
    )
    return new
