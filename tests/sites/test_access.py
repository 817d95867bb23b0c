"""Who sees what: pages and API, lists and details, including guessed ids (404, never 403)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sites.models import Battery

pytestmark = pytest.mark.django_db


def _login(client, user):
    client.force_login(user)
    return client


def _visible_slugs_on_fleet_page(client) -> set[str]:
    html = client.get(reverse("sites:fleet")).content.decode()
    return {slug for slug in ("s1", "s2", "s3") if f"/sites/{slug}/" in html}


def test_manager_sees_exactly_sites_one_and_two_on_the_fleet_page(client, fleet):
    assert _visible_slugs_on_fleet_page(_login(client, fleet.manager)) == {"s1", "s2"}


def test_viewer_sees_exactly_site_one_on_the_fleet_page(client, fleet):
    assert _visible_slugs_on_fleet_page(_login(client, fleet.viewer)) == {"s1"}


def test_admin_sees_every_site_on_the_fleet_page(client, fleet):
    assert _visible_slugs_on_fleet_page(_login(client, fleet.admin)) == {"s1", "s2", "s3"}


def test_anonymous_visitor_is_sent_to_the_login_page(client, fleet):
    response = client.get(reverse("sites:site", args=["s1"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("who", "site_index", "status"),
    [
        ("manager", 0, 200),
        ("manager", 1, 200),
        ("manager", 2, 404),
        ("viewer", 0, 200),
        ("viewer", 1, 404),
        ("viewer", 2, 404),
        ("outsider", 0, 404),
        ("admin", 2, 200),
    ],
)
def test_site_bank_and_battery_pages_answer_404_outside_the_users_sites(
    client, fleet, who, site_index, status
):
    _login(client, getattr(fleet, who))
    site = fleet.sites[site_index]
    bank = fleet.banks[site_index]
    battery = Battery.objects.filter(bank=bank).first()
    for url in (
        reverse("sites:site", args=[site.slug]),
        reverse("sites:bank", args=[bank.pk]),
        reverse("sites:battery", args=[battery.pk]),
    ):
        assert client.get(url).status_code == status, url


def _api_ids(client, path: str) -> set[int]:
    response = client.get(path)
    assert response.status_code == 200
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("who", "visible"),
    [("manager", [0, 1]), ("viewer", [0]), ("admin", [0, 1, 2]), ("outsider", [])],
)
def test_api_lists_hold_exactly_the_users_sites(client, fleet, who, visible):
    _login(client, getattr(fleet, who))
    assert _api_ids(client, "/api/v1/sites/") == {fleet.sites[i].pk for i in visible}
    assert _api_ids(client, "/api/v1/banks/") == {fleet.banks[i].pk for i in visible}
    expected_batteries = set(
        Battery.objects.filter(bank__in=[fleet.banks[i] for i in visible]).values_list(
            "pk", flat=True
        )
    )
    assert _api_ids(client, "/api/v1/batteries/") == expected_batteries


@pytest.mark.parametrize(("who", "hidden"), [("manager", 2), ("viewer", 1), ("viewer", 2)])
def test_api_details_of_another_site_answer_404_by_guessed_id(client, fleet, who, hidden):
    _login(client, getattr(fleet, who))
    battery = Battery.objects.filter(bank=fleet.banks[hidden]).first()
    assert client.get(f"/api/v1/sites/{fleet.sites[hidden].pk}/").status_code == 404
    assert client.get(f"/api/v1/banks/{fleet.banks[hidden].pk}/").status_code == 404
    assert client.get(f"/api/v1/batteries/{battery.pk}/").status_code == 404


def test_api_token_authentication_is_scoped_too(client, fleet):
    from bms_portal.api.tokens import create_token

    _, key = create_token(fleet.viewer, "script")
    response = client.get("/api/v1/sites/", HTTP_AUTHORIZATION=f"Token {key}")
    assert {row["slug"] for row in response.json()["results"]} == {"s1"}


def test_viewer_cannot_change_anything_through_the_api(client, fleet):
    _login(client, fleet.viewer)
    site = fleet.sites[0]
    assert client.patch(
        f"/api/v1/sites/{site.pk}/", {"name": "x"}, content_type="application/json"
    ).status_code in (403, 405)
    assert client.delete(f"/api/v1/sites/{site.pk}/").status_code in (403, 405)
    site.refresh_from_db()
    assert site.name == "Site 1"


def test_viewer_cannot_enter_the_admin(client, fleet):
    _login(client, fleet.viewer)
    response = client.get("/admin/sites/site/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_manager_sees_only_own_sites_in_the_admin_and_cannot_open_others(client, fleet):
    from django.contrib.auth.models import Permission

    fleet.manager.is_staff = True
    fleet.manager.save()
    fleet.manager.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_site", "change_site", "view_battery"])
    )
    _login(client, fleet.manager)
    html = client.get("/admin/sites/site/").content.decode()
    assert "Site 1" in html and "Site 2" in html and "Site 3" not in html
    other = client.get(f"/admin/sites/site/{fleet.sites[2].pk}/change/")
    assert other.status_code == 302  # the admin redirects: "doesn't exist. Perhaps it was deleted?"
    batteries = client.get("/admin/sites/battery/").content.decode()
    assert "Site 3" not in batteries


def test_staff_viewer_sees_but_cannot_change_their_site_in_the_admin(client, fleet):
    from django.contrib.auth.models import Permission

    fleet.viewer.is_staff = True
    fleet.viewer.save()
    fleet.viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_site", "change_site"])
    )
    _login(client, fleet.viewer)
    response = client.post(
        f"/admin/sites/site/{fleet.sites[0].pk}/change/", {"name": "renamed", "slug": "s1"}
    )
    assert response.status_code == 403
    fleet.sites[0].refresh_from_db()
    assert fleet.sites[0].name == "Site 1"
