"""The audit log: admin changes of gateways, thresholds, memberships and users write who, when,
and the values before and after; secrets never appear in clear."""

from __future__ import annotations

from typing import Any

import pytest

from alarms.choices import RuleKind, Severity
from alarms.models import Threshold
from bms_portal.models import AuditEntry
from sites.choices import Role
from sites.models import SiteMembership
from tests.conftest import make_gateway
from tests.ops.helpers import admin_form, admin_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Any, fleet: Any) -> Any:
    client.force_login(fleet.admin)
    return client


def _entries(obj: Any) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk)
        ).order_by("id")
    )


def test_changing_a_gateway_records_before_after_and_who(admin_client: Any, fleet: Any) -> None:
    gateway, _token = make_gateway(fleet.sites[0], scan_interval_s=10)

    admin_save(admin_client, f"/admin/sites/gateway/{gateway.pk}/change/", scan_interval_s="30")

    [entry] = _entries(gateway)
    assert entry.action == "change"
    assert entry.actor == fleet.admin and entry.actor_name == "admin"
    assert entry.before == {"scan_interval_s": 10}
    assert entry.after == {"scan_interval_s": 30}
    assert entry.ip == "127.0.0.1" and entry.source == "admin"


def test_a_new_gateway_is_recorded_without_its_token(admin_client: Any, fleet: Any) -> None:
    data = {
        "site": str(fleet.sites[0].pk),
        "name": "gw-new",
        "scan_interval_s": "10",
        "heartbeat_s": "300",
        "dcr_interval_h": "24",
        "buses-TOTAL_FORMS": "0",
        "buses-INITIAL_FORMS": "0",
    }
    response = admin_client.post("/admin/sites/gateway/add/", data)
    assert response.status_code == 302

    entry = AuditEntry.objects.get(object_type="sites.gateway", action="create")
    assert entry.after["name"] == "gw-new"
    assert entry.after["token_hash"].startswith("<redacted ")


def test_rotating_a_token_in_the_admin_is_recorded(admin_client: Any, fleet: Any) -> None:
    gateway, _token = make_gateway(fleet.sites[0])
    admin_client.post(
        "/admin/sites/gateway/",
        {"action": "rotate_token", "_selected_action": [str(gateway.pk)]},
    )

    [entry] = _entries(gateway)
    assert entry.source == "admin action"
    assert set(entry.after) == {"token_hash", "token_prefix", "token_created_at"}
    assert entry.before["token_hash"] != entry.after["token_hash"]


def test_changing_a_threshold_records_the_limit(admin_client: Any, fleet: Any) -> None:
    threshold = Threshold.objects.create(
        kind=RuleKind.VOLTAGE_HIGH, severity=Severity.WARNING, site=fleet.sites[0], limit=14.4
    )

    admin_save(admin_client, f"/admin/alarms/threshold/{threshold.pk}/change/", limit="14.1")

    [entry] = _entries(threshold)
    assert (entry.before, entry.after) == ({"limit": 14.4}, {"limit": 14.1})
    assert entry.actor == fleet.admin


def test_changing_a_membership_records_the_role(admin_client: Any, fleet: Any) -> None:
    membership = SiteMembership.objects.get(user=fleet.viewer, site=fleet.sites[0])

    admin_save(
        admin_client, f"/admin/sites/sitemembership/{membership.pk}/change/", role=Role.MANAGER
    )

    [entry] = _entries(membership)
    assert entry.before == {"role": Role.VIEWER}
    assert entry.after == {"role": Role.MANAGER}


def test_a_membership_granted_on_the_site_page_is_recorded(admin_client: Any, fleet: Any) -> None:
    site = fleet.sites[2]
    url = f"/admin/sites/site/{site.pk}/change/"
    prefix = "memberships"
    data = admin_form(admin_client, url)
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(total + 1),
            f"{prefix}-{total}-user": str(fleet.outsider.pk),
            f"{prefix}-{total}-role": Role.VIEWER,
            f"{prefix}-{total}-site": str(site.pk),
        }
    )
    assert admin_client.post(url, data).status_code == 302

    membership = SiteMembership.objects.get(user=fleet.outsider, site=site)
    [entry] = _entries(membership)
    assert entry.action == "create" and entry.after["role"] == Role.VIEWER
    assert entry.actor == fleet.admin


def test_deleting_a_membership_keeps_what_it_was(admin_client: Any, fleet: Any) -> None:
    membership = SiteMembership.objects.get(user=fleet.viewer, site=fleet.sites[0])
    pk = membership.pk

    response = admin_client.post(f"/admin/sites/sitemembership/{pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    entry = AuditEntry.objects.get(object_type="sites.sitemembership", object_id=str(pk))
    assert entry.action == "delete" and entry.after is None
    assert entry.before["user_id"] == fleet.viewer.pk


def test_making_a_user_staff_is_recorded_without_the_password(
    admin_client: Any, fleet: Any
) -> None:
    admin_save(admin_client, f"/admin/auth/user/{fleet.viewer.pk}/change/", is_staff="on")

    [entry] = _entries(fleet.viewer)
    assert entry.before["is_staff"] is False and entry.after["is_staff"] is True
    assert "password" not in entry.after


def test_saving_without_a_change_writes_nothing(admin_client: Any, fleet: Any) -> None:
    gateway, _token = make_gateway(fleet.sites[0])
    admin_save(admin_client, f"/admin/sites/gateway/{gateway.pk}/change/")
    assert _entries(gateway) == []
