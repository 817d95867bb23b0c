"""Alarm API and pages are scoped: other sites 404, viewers cannot acknowledge."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from alarms.choices import AlarmState, RuleKind
from alarms.models import Alarm
from tests.alarms.conftest import T0, store
from tests.conftest import make_gateway


@pytest.fixture
def alarms(fleet):
    """One active critical alarm on the first battery of each of the three sites."""
    from alarms import actions

    out = []
    for site, bank in zip(fleet.sites, fleet.banks, strict=True):
        gateway = bank.bus.gateway if bank.bus else make_gateway(site)[0]
        batteries = list(bank.batteries.order_by("position"))
        plant = type("P", (), {"batteries": batteries, "bank": bank, "gateway": gateway})
        store(plant, T0, {1: {"voltage": 14.5}}, {"string_voltage": 13.62 * len(batteries)})
        actions.evaluate_batch(
            {"gateway": gateway.pk, "batteries": [b.pk for b in batteries], "banks": [bank.pk]},
            now=T0,
        )
        out.append(Alarm.objects.get(site=site, kind=RuleKind.VOLTAGE_HIGH))
    return out


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_list_shows_only_alarms_of_visible_sites(fleet, alarms):
    ids = {a["id"] for a in _api(fleet.manager).get("/api/v1/alarms/").json()["results"]}
    assert ids == {alarms[0].pk, alarms[1].pk}
    assert len(_api(fleet.admin).get("/api/v1/alarms/").json()["results"]) == 3
    assert _api(fleet.outsider).get("/api/v1/alarms/").json()["results"] == []


def test_the_list_filters_by_site_severity_state_and_kind(fleet, alarms):
    api = _api(fleet.admin)
    site2 = fleet.sites[1].pk
    got = api.get(f"/api/v1/alarms/?site={site2}&severity=critical&state=active&kind=voltage_high")
    assert [a["id"] for a in got.json()["results"]] == [alarms[1].pk]
    assert api.get("/api/v1/alarms/?state=cleared").json()["results"] == []
    since = api.get("/api/v1/alarms/?since=2030-01-01T00:00:00Z").json()["results"]
    assert since == []


def test_an_alarm_of_another_site_is_404(fleet, alarms):
    assert _api(fleet.manager).get(f"/api/v1/alarms/{alarms[2].pk}/").status_code == 404
    response = _api(fleet.manager).post(f"/api/v1/alarms/{alarms[2].pk}/acknowledge/")
    assert response.status_code == 404


def test_a_viewer_cannot_acknowledge_an_alarm_of_their_own_site(fleet, alarms):
    response = _api(fleet.viewer).post(f"/api/v1/alarms/{alarms[0].pk}/acknowledge/")
    assert response.status_code == 403
    alarms[0].refresh_from_db()
    assert alarms[0].state == AlarmState.ACTIVE


def test_a_manager_acknowledges_with_a_note(fleet, alarms):
    response = _api(fleet.manager).post(
        f"/api/v1/alarms/{alarms[0].pk}/acknowledge/", {"note": "on my way"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["acknowledged_by"], body["ack_note"]) == (
        "acknowledged",
        "manager",
        "on my way",
    )
    again = _api(fleet.manager).post(f"/api/v1/alarms/{alarms[0].pk}/acknowledge/")
    assert again.status_code == 409


def test_the_alarm_pages_are_scoped(client, fleet, alarms):
    client.force_login(fleet.manager)
    page = client.get("/alarms/")
    assert page.status_code == 200
    assert fleet.sites[0].name in page.content.decode()
    assert fleet.sites[2].name not in page.content.decode()
    assert client.get(f"/alarms/{alarms[2].pk}/").status_code == 404
    assert client.get(f"/alarms/site/{fleet.sites[2].slug}/").status_code == 404
    site_page = client.get(f"/alarms/site/{fleet.sites[0].slug}/")
    assert site_page.status_code == 200
    assert "Dry contacts" in site_page.content.decode()


def test_the_acknowledge_form_works_for_managers_and_is_refused_to_viewers(client, fleet, alarms):
    client.force_login(fleet.viewer)
    detail = client.get(f"/alarms/{alarms[0].pk}/").content.decode()
    assert "Acknowledge</button>" not in detail
    assert client.post(f"/alarms/{alarms[0].pk}/acknowledge/").status_code == 403
    client.force_login(fleet.manager)
    assert "Acknowledge</button>" in client.get(f"/alarms/{alarms[0].pk}/").content.decode()
    response = client.post(f"/alarms/{alarms[0].pk}/acknowledge/", {"note": "seen"})
    assert response.status_code == 302
    alarms[0].refresh_from_db()
    assert (alarms[0].state, alarms[0].acknowledged_by) == (AlarmState.ACKNOWLEDGED, fleet.manager)


def test_the_threshold_page_shows_values_and_sources(client, fleet):
    battery = fleet.banks[0].batteries.first()
    client.force_login(fleet.viewer)
    page = client.get(f"/alarms/batteries/{battery.pk}/thresholds/").content.decode()
    assert "block voltage high" in page
    assert "built-in default (VRLA)" in page
    other = fleet.banks[2].batteries.first()
    assert client.get(f"/alarms/batteries/{other.pk}/thresholds/").status_code == 404


def test_the_alarm_list_api_costs_a_constant_number_of_queries(
    fleet, alarms, django_assert_max_num_queries
):
    api = _api(fleet.admin)
    with django_assert_max_num_queries(6):
        api.get("/api/v1/alarms/")
