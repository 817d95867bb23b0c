"""Fleet model rules that protect the data: tokens, addresses, scan interval, replacements."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from sites import actions
from sites.choices import BatteryStatus
from sites.models import Battery, BatteryReplacement, Gateway, hash_token
from tests.conftest import make_bank, make_gateway, make_site

pytestmark = pytest.mark.django_db


def test_gateway_token_is_stored_hashed_and_authenticates():
    gateway, token = make_gateway(make_site())
    stored = Gateway.objects.get(pk=gateway.pk)
    assert token not in (stored.token_hash, stored.token_prefix * 10)
    assert stored.token_hash == hash_token(token)
    assert Gateway.objects.by_token(token) == gateway
    assert Gateway.objects.by_token(token + "x") is None


def test_revoked_or_rotated_token_no_longer_authenticates():
    gateway, token = make_gateway(make_site())
    new_token = actions.rotate_gateway_token(gateway)
    assert Gateway.objects.by_token(token) is None
    assert Gateway.objects.by_token(new_token) == gateway
    actions.revoke_gateway_token(gateway)
    assert Gateway.objects.by_token(new_token) is None


def test_scan_interval_below_ten_seconds_is_refused():
    site = make_site()
    with pytest.raises(ValidationError, match="scan_interval_s"):
        make_gateway(site, scan_interval_s=5)
    gateway, _ = make_gateway(site)
    with pytest.raises(IntegrityError, match="gateway_scan_interval_min"), transaction.atomic():
        Gateway.objects.filter(pk=gateway.pk).update(scan_interval_s=3)


def test_two_batteries_cannot_share_a_bmu_address_on_one_bus():
    bank = make_bank(make_site(), batteries=2)
    first = bank.batteries.first()
    clash = Battery(
        bank=bank, position=2, model=first.model, bus=first.bus, bmu_address=first.bmu_address
    )
    with pytest.raises(ValidationError, match="already used"):
        clash.full_clean()
    with (
        pytest.raises(IntegrityError, match="battery_bus_bmu_address_unique"),
        transaction.atomic(),
    ):
        Battery.objects.filter(bank=bank, position=2).update(bmu_address=first.bmu_address)


def test_a_cmu_address_is_not_reusable_by_a_bmu_on_the_same_bus():
    bank = make_bank(make_site(), batteries=1, cmu_address=1)
    battery = bank.batteries.get()
    battery.bmu_address = 1
    with pytest.raises(ValidationError, match="already used"):
        battery.full_clean()


def test_bmu_address_must_be_a_modbus_slave_address():
    bank = make_bank(make_site(), batteries=1)
    battery = bank.batteries.get()
    battery.bmu_address = 248
    with pytest.raises(ValidationError, match="bmu_address"):
        battery.full_clean()


def test_replacing_a_battery_keeps_the_position_history():
    bank = make_bank(make_site(), batteries=2)
    old = bank.batteries.get(position=2)
    new = actions.replace_battery(
        old, serial="NEW-1", replaced_on=dt.date(2026, 5, 1), reason="DCR +55 %"
    )
    old.refresh_from_db()
    assert old.status == BatteryStatus.REPLACED
    assert (new.position, new.bmu_address, new.status) == (
        2,
        old.bmu_address,
        BatteryStatus.IN_SERVICE,
    )
    assert new.dcr_baseline_mohm is None  # set again once the new block has settled
    record = BatteryReplacement.objects.get(bank=bank, position=2)
    assert (record.removed, record.installed, record.reason) == (old, new, "DCR +55 %")
