"""Gateways through the API: admins create them and rotate or revoke their tokens."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, token_client

pytestmark = pytest.mark.django_db


def _config(client, token: str) -> int:
    return client.get(f"{API}agent/config/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code


def test_an_admin_creates_a_gateway_rotates_and_revokes_its_token(client, fleet):
    api = token_client(fleet.admin)
    created = api.post(
        f"{API}gateways/", {"site": fleet.sites[0].pk, "name": "cabinet 2"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    first = body["token"]
    assert first.startswith(body["token_prefix"]) and body["revoked"] is False
    assert "token" not in api.get(f"{API}gateways/{body['id']}/").json()
    assert _config(client, first) == 200

    rotated = api.post(f"{API}gateways/{body['id']}/rotate-token/").json()
    assert rotated["token"] != first
    assert _config(client, first) == 401
    assert _config(client, rotated["token"]) == 200

    revoked = api.post(f"{API}gateways/{body['id']}/revoke/").json()
    assert revoked["revoked"] is True
    assert _config(client, rotated["token"]) == 401


def test_a_duplicate_gateway_name_is_a_400(fleet):
    api = token_client(fleet.admin)
    existing = fleet.sites[0].gateways.first()
    response = api.post(
        f"{API}gateways/", {"site": fleet.sites[0].pk, "name": existing.name}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid"


def test_the_gateway_list_filters_by_site(fleet):
    api = token_client(fleet.admin)
    rows = api.get(f"{API}gateways/", {"site": fleet.sites[1].pk}).json()["results"]
    assert {row["site"] for row in rows} == {fleet.sites[1].pk}
