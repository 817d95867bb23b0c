"""Personal API tokens: created (key shown once), used, revoked or expired (401 at once)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from bms_portal.api.tokens import create_token
from bms_portal.models import ApiToken, hash_api_key
from tests.api.conftest import API, token_client

pytestmark = pytest.mark.django_db


def _with_key(key: str, scheme: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return client


def test_a_token_created_through_the_api_works_until_it_is_revoked(fleet):
    session = APIClient()
    session.force_login(fleet.viewer)
    created = session.post(f"{API}tokens/", {"name": "BMS export"}, format="json")
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith(body["prefix"]) and body["active"] is True
    stored = ApiToken.objects.get(pk=body["id"])
    assert stored.key_hash == hash_api_key(key) and key not in str(stored.__dict__)
    listed = session.get(f"{API}tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["BMS export"] and "key" not in listed[0]

    script = _with_key(key)
    sites = script.get(f"{API}sites/").json()["results"]
    assert {s["slug"] for s in sites} == {"s1"}

    revoked = session.post(f"{API}tokens/{body['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    refused = script.get(f"{API}sites/")
    assert refused.status_code == 401
    assert refused.json() == {"error": "token_revoked", "detail": "token revoked"}
    assert refused["WWW-Authenticate"] == 'Token realm="api"'


def test_bearer_is_accepted_like_token(fleet):
    _, key = create_token(fleet.manager, "bearer")
    assert _with_key(key, "Bearer").get(f"{API}sites/").status_code == 200


def test_an_expired_token_is_refused(fleet):
    token, key = create_token(fleet.manager, "old")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = _with_key(key).get(f"{API}sites/")
    assert response.status_code == 401
    assert response.json()["error"] == "token_expired"


def test_an_unknown_or_malformed_token_is_refused(fleet):
    assert _with_key("bmsp_nope").get(f"{API}sites/").json()["error"] == "invalid_token"
    malformed = _with_key("a b").get(f"{API}sites/")
    assert malformed.status_code == 401 and malformed.json()["error"] == "invalid_token"


def test_a_token_cannot_create_tokens(fleet):
    response = token_client(fleet.manager).post(f"{API}tokens/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_tokens_of_other_users_are_404(fleet):
    theirs, _ = create_token(fleet.viewer, "viewer's")
    api = token_client(fleet.manager)
    assert api.get(f"{API}tokens/{theirs.pk}/").status_code == 404
    assert api.post(f"{API}tokens/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_new_token_needs_a_name_and_a_future_expiry(fleet):
    session = APIClient()
    session.force_login(fleet.manager)
    past = (timezone.now() - dt.timedelta(days=1)).isoformat()
    response = session.post(f"{API}tokens/", {"name": " ", "expires_at": past}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid" and set(body["detail"]) == {"name", "expires_at"}


def test_last_used_is_written_at_most_once_a_minute(fleet, django_assert_num_queries):
    token, key = create_token(fleet.manager, "busy")
    api = _with_key(key)
    api.get(f"{API}battery-models/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    api.get(f"{API}battery-models/")
    token.refresh_from_db()
    assert token.last_used_at == first  # within the minute: no UPDATE
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    api.get(f"{API}battery-models/")
    token.refresh_from_db()
    assert token.last_used_at > first


def test_the_tokens_page_shows_a_new_key_once_and_revokes(client, fleet):
    client.force_login(fleet.manager)
    page = client.post("/account/tokens/", {"name": "from the page", "expires_in_days": "30"})
    assert page.status_code == 200
    token = ApiToken.objects.get(user=fleet.manager)
    html = page.content.decode()
    assert 'id="new-key"' in html and token.prefix in html
    assert token.expires_at is not None
    again = client.get("/account/tokens/").content.decode()
    assert 'id="new-key"' not in again and "from the page" in again
    response = client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_tokens_page_needs_login_csrf_and_own_tokens(fleet):
    anonymous = Client()
    assert anonymous.get("/account/tokens/").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(fleet.manager)
    assert strict.post("/account/tokens/", {"name": "x"}).status_code == 403
    theirs, _ = create_token(fleet.viewer, "viewer's")
    client = Client()
    client.force_login(fleet.manager)
    assert client.post(f"/account/tokens/{theirs.pk}/revoke/").status_code == 404
