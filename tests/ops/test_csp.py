"""Content-Security-Policy: on every page, strict for scripts, and the Dash charts still load."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bms_portal.csp import script_hash

pytestmark = pytest.mark.django_db

_SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.S)
_EXECUTABLE_TYPES = ("", "text/javascript", "application/javascript", "module")


def _policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split("; ")}


def _inline_scripts(html: str) -> list[str]:
    """Bodies of inline scripts a browser would execute (not src=, not JSON data blocks)."""
    found = []
    for attrs, body in _SCRIPT.findall(html):
        kind = re.search(r'type="([^"]*)"', attrs)
        if "src=" not in attrs and (kind.group(1) if kind else "") in _EXECUTABLE_TYPES:
            found.append(body)
    return found


@pytest.fixture
def manager_client(client: Any, fleet: Any) -> Any:
    client.force_login(fleet.manager)
    return client


def test_pages_carry_a_strict_policy(manager_client: Any, fleet: Any) -> None:
    for url in ("/", f"/sites/{fleet.sites[0].slug}/", "/accounts/login/"):
        policy = _policy(manager_client.get(url))
        assert policy["default-src"] == ["'self'"]
        assert "'unsafe-inline'" not in policy["script-src"]
        assert "'unsafe-eval'" not in policy["script-src"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]


def test_every_inline_script_of_the_chart_pages_is_allowed_by_hash(
    manager_client: Any, fleet: Any
) -> None:
    bank = fleet.banks[0]
    battery = bank.batteries.first()
    for url in (f"/banks/{bank.pk}/", f"/batteries/{battery.pk}/"):
        response = manager_client.get(url)
        assert response.status_code == 200
        scripts = _inline_scripts(response.content.decode())
        assert "var renderer = new DashRenderer();" in scripts  # Dash's bootstrap
        allowed = _policy(response)["script-src"]
        for body in scripts:
            assert script_hash(body) in allowed, f"inline script not allowed on {url}: {body!r}"


def test_the_dash_app_endpoints_still_answer(manager_client: Any, fleet: Any) -> None:
    battery = fleet.banks[0].batteries.first()
    manager_client.get(f"/batteries/{battery.pk}/")  # registers the app's state
    base = "/django_plotly_dash/app/battery_history/"
    assert manager_client.get(base + "_dash-layout").status_code == 200
    assert manager_client.get(base + "_dash-dependencies").status_code == 200


def test_json_responses_carry_no_policy(manager_client: Any) -> None:
    response = manager_client.get("/healthz")
    assert "Content-Security-Policy" not in response


def test_report_only_mode_uses_the_report_only_header(manager_client: Any, settings: Any) -> None:
    settings.CSP_REPORT_ONLY = True
    settings.CSP_REPORT_URI = "/csp-report"
    response = manager_client.get("/")
    assert "Content-Security-Policy" not in response
    assert "report-uri /csp-report" in response["Content-Security-Policy-Report-Only"]
