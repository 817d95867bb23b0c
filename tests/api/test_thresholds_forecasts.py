"""Threshold overrides (scoped edit, effective values with their source), forecasts, remaining
life and the replacement plan: only what the caller may see, changed only by managers."""

from __future__ import annotations

import pytest

from alarms.models import Threshold
from alarms.thresholds import effective_thresholds
from bms_portal.models import AuditEntry
from tests.api.conftest import API, forecast_rows, token_client

pytestmark = pytest.mark.django_db

OVERRIDE = {"kind": "temperature_high", "severity": "warning", "limit": 31.5}


def test_manager_overrides_a_site_threshold_and_the_battery_inherits_it(fleet):
    site = fleet.sites[0]
    api = token_client(fleet.manager)
    created = api.post(f"{API}thresholds/", {**OVERRIDE, "site": site.pk}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["level"] == "site"
    battery = fleet.banks[0].batteries.order_by("position").first()

    rule = next(
        r
        for r in effective_thresholds(battery)
        if r.kind == "temperature_high" and r.severity == "warning"
    )
    assert rule.limit == 31.5 and rule.source == f"site {site.name}"
    rows = api.get(f"{API}batteries/{battery.pk}/thresholds/").json()
    row = next(r for r in rows if r["kind"] == "temperature_high" and r["severity"] == "warning")
    assert row["limit"] == 31.5 and row["source"] == f"site {site.name}"
    assert row["sources"]["delay_s"].startswith("built-in")

    pk = created.json()["id"]
    changed = api.patch(f"{API}thresholds/{pk}/", {"limit": 30.0}, format="json")
    assert changed.status_code == 200 and changed.json()["limit"] == 30.0
    assert api.delete(f"{API}thresholds/{pk}/").status_code == 204
    assert not Threshold.objects.filter(pk=pk).exists()
    actions = list(
        AuditEntry.objects.filter(object_id=str(pk), source="api").values_list("action", flat=True)
    )
    assert len(actions) == 3, actions


def test_duplicates_and_two_levels_are_400_not_500(fleet):
    api = token_client(fleet.manager)
    site, bank = fleet.sites[0], fleet.banks[0]
    assert (
        api.post(f"{API}thresholds/", {**OVERRIDE, "site": site.pk}, format="json").status_code
        == 201
    )
    again = api.post(f"{API}thresholds/", {**OVERRIDE, "site": site.pk}, format="json")
    assert again.status_code == 400 and again.json()["error"] == "invalid"
    both = api.post(
        f"{API}thresholds/", {**OVERRIDE, "site": site.pk, "bank": bank.pk}, format="json"
    )
    assert both.status_code == 400


def test_viewer_reads_but_may_not_change(fleet):
    site = fleet.sites[0]
    row = Threshold.objects.create(site=site, **OVERRIDE)
    api = token_client(fleet.viewer)
    assert api.get(f"{API}thresholds/{row.pk}/").status_code == 200
    assert api.patch(f"{API}thresholds/{row.pk}/", {"limit": 1.0}, format="json").status_code == 403
    assert api.delete(f"{API}thresholds/{row.pk}/").status_code == 403
    denied = api.post(f"{API}thresholds/", {**OVERRIDE, "bank": fleet.banks[0].pk}, format="json")
    assert denied.status_code == 403
    assert denied.json()["error"] == "permission_denied"
    assert Threshold.objects.get(pk=row.pk).limit == 31.5


def test_other_sites_and_fleet_defaults(fleet):
    other = Threshold.objects.create(site=fleet.sites[2], **OVERRIDE)
    chem = Threshold.objects.create(chemistry="vrla", **OVERRIDE)
    manager, admin = token_client(fleet.manager), token_client(fleet.admin)
    assert manager.get(f"{API}thresholds/{other.pk}/").status_code == 404
    assert manager.get(f"{API}thresholds/{chem.pk}/").status_code == 404
    listed = {r["id"] for r in manager.get(f"{API}thresholds/").json()["results"]}
    assert not listed & {other.pk, chem.pk}
    # another site's objects do not exist for the manager; fleet-wide defaults: admins only
    foreign = manager.post(
        f"{API}thresholds/", {**OVERRIDE, "site": fleet.sites[2].pk}, format="json"
    )
    assert foreign.status_code == 400
    default = manager.post(f"{API}thresholds/", {**OVERRIDE, "chemistry": "vla"}, format="json")
    assert default.status_code == 403
    assert (
        admin.post(f"{API}thresholds/", {**OVERRIDE, "chemistry": "vla"}, format="json").status_code
        == 201
    )
    battery = fleet.banks[2].batteries.first()
    assert manager.get(f"{API}batteries/{battery.pk}/thresholds/").status_code == 404


def test_forecasts_remaining_life_and_plan_list_only_visible_batteries(fleet):
    own = forecast_rows(fleet, 0)
    other = forecast_rows(fleet, 2)
    manager, admin = token_client(fleet.manager), token_client(fleet.admin)

    forecasts = manager.get(f"{API}forecasts/", {"parameter": "dcr"}).json()["results"]
    assert [f["id"] for f in forecasts] == own[0]
    assert forecasts[0]["q50"] == [4.6, 5.0] and forecasts[0]["horizons"] == [30, 90]
    assert manager.get(f"{API}forecasts/{other[0][0]}/").status_code == 404
    assert manager.get(f"{API}forecasts/", {"battery": other[1][0]}).json()["results"] == []

    lives = manager.get(f"{API}remaining-life/").json()["results"]
    assert [r["battery"] for r in lives] == own[1]
    assert lives[0]["cause"] == "dry_out" and lives[0]["evidence"]
    assert manager.get(f"{API}remaining-life/", {"site": fleet.sites[2].pk}).json()["results"] == []
    assert manager.get(f"{API}remaining-life/{other[1][0]}/").status_code == 404

    plan = manager.get(f"{API}replacement-plan/", {"months": 3}).json()["results"]
    assert [r["battery"] for r in plan] == own[1] and plan[0]["window"] == "3 months"
    assert len(admin.get(f"{API}replacement-plan/").json()["results"]) == 2
    assert manager.get(f"{API}replacement-plan/", {"months": 5}).status_code == 400
    csv = manager.get(f"{API}replacement-plan/", {"format": "csv"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().splitlines()
    assert lines[0].startswith("site,bank") and len(lines) == 2


def test_site_report_pdf_and_csv_for_visible_sites_only(fleet):
    viewer = token_client(fleet.viewer)
    url = f"{API}reports/site/{fleet.sites[0].pk}/"
    csv = viewer.get(url, {"period": "daily", "date": "2026-11-20", "format": "csv"})
    assert csv.status_code == 200, csv.content
    assert csv["Content-Type"].startswith("text/csv")
    assert "attachment" in csv["Content-Disposition"]
    pdf = viewer.get(url, {"period": "weekly"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert viewer.get(url, {"period": "yearly"}).status_code == 400
    assert viewer.get(url, {"date": "1800-01-01"}).json()["error"] == "invalid"
    other = viewer.get(f"{API}reports/site/{fleet.sites[1].pk}/", {"format": "csv"})
    assert other.status_code == 404 and other.json()["error"] == "not_found"


def test_fleet_report_covers_exactly_the_callers_sites(fleet):
    url = f"{API}reports/fleet/"
    viewer = token_client(fleet.viewer)
    csv = viewer.get(url, {"period": "daily", "date": "2026-11-20", "format": "csv"})
    assert csv.status_code == 200, csv.content
    assert "attachment" in csv["Content-Disposition"] and "fleet" in csv["Content-Disposition"]
    text = csv.content.decode()
    assert fleet.sites[0].name in text and fleet.sites[1].name not in text
    manager = token_client(fleet.manager).get(url, {"period": "daily", "format": "csv"})
    assert all(s.name in manager.content.decode() for s in fleet.sites[:2])
    pdf = viewer.get(url, {"period": "monthly"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert viewer.get(url, {"period": "hourly"}).json()["error"] == "invalid"


def test_report_errors_are_json_even_for_an_unknown_format(fleet):
    viewer = token_client(fleet.viewer)
    for url in (f"{API}reports/fleet/", f"{API}reports/site/{fleet.sites[0].pk}/"):
        bad = viewer.get(url, {"format": "xlsx"})
        assert bad.status_code == 404 and bad["Content-Type"].startswith("application/json")
        assert bad.json()["error"] == "not_found"
        invalid = viewer.get(url, {"period": "hourly"})
        assert invalid.status_code == 400 and invalid.json()["error"] == "invalid"
