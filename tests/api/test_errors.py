"""Every API error is JSON ``{"error": <code>, "detail": ...}`` (docs/api.md)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from bms_portal.api.errors import ERROR_CODES, server_error
from tests.api.conftest import API, token_client

pytestmark = pytest.mark.django_db


def _error(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == code
    assert code in ERROR_CODES
    return body


def test_400_names_the_field_or_parameter(fleet):
    api = token_client(fleet.manager)
    battery = fleet.banks[0].batteries.first()
    body = _error(api.get(f"{API}batteries/{battery.pk}/readings/?interval=week"), 400, "invalid")
    assert list(body["detail"]) == ["interval"]
    body = _error(api.get(f"{API}batteries/", {"status": "melted"}), 400, "invalid")
    assert "status" in body["detail"]


def test_401_without_credentials_with_a_challenge(fleet):
    response = APIClient().get(f"{API}sites/")
    _error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Token realm="api"'


def test_404_for_an_unknown_id_and_an_unknown_address(fleet):
    api = token_client(fleet.manager)
    _error(api.get(f"{API}sites/999999/"), 404, "not_found")
    _error(api.get(f"{API}no-such-thing/"), 404, "not_found")
    _error(api.get(f"{API}sites/?page=99"), 404, "not_found")


def test_405_and_406(fleet):
    api = token_client(fleet.manager)
    _error(api.delete(f"{API}sites/{fleet.sites[0].pk}/"), 405, "method_not_allowed")
    _error(api.get(f"{API}sites/", HTTP_ACCEPT="text/csv"), 406, "not_acceptable")


def test_a_failed_csv_download_answers_json(fleet):
    api = token_client(fleet.manager)
    battery = fleet.banks[0].batteries.first()
    response = api.get(f"{API}batteries/{battery.pk}/readings/", {"format": "csv", "start": "x"})
    _error(response, 400, "invalid")


def test_500_on_api_paths_is_json_and_html_elsewhere():
    factory = RequestFactory()
    response = server_error(factory.get(f"{API}sites/"))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b'"server_error"' in response.content
    assert server_error(factory.get("/sites/s1/"))["Content-Type"].startswith("text/html")
