"""The chart pages in a real browser with the Content-Security-Policy on: no violation, the
Dash charts draw (Debian's headless Chromium, as tests/browser)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from sites.management.commands.generate_history import generate
from tests.browser.test_manager_journey import ARGS, CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_LISTEN = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def test_chart_pages_run_under_the_policy_without_violations(
    live_server: Any, settings: Any, fleet: Any
) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: install Debian's chromium")
    settings.ALLOWED_HOSTS = ["*"]
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    generate(fleet.sites[0], days=2, raw_hours=2, step=300)
    bank = fleet.banks[0]
    battery = bank.batteries.first()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.add_init_script(_LISTEN)
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        page.goto(live_server.url + "/accounts/login/")
        page.fill("input[name=username]", "manager")
        page.fill("input[name=password]", "manager-pw")
        page.click("form [type=submit]")
        page.wait_for_url(live_server.url + "/")
        for url, graph in (
            (f"/banks/{bank.pk}/", "#bank-chart"),
            (f"/batteries/{battery.pk}/", "#history"),
        ):
            response = page.goto(live_server.url + url)
            assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
            page.wait_for_selector(f"{graph} .scatterlayer path.point", timeout=20000)
            assert page.evaluate("window.__cspViolations") == [], url
        browser.close()
    assert not [c for c in console if "Content Security Policy" in c], console
