"""A facility manager's morning in a real browser (Debian's headless Chromium via Playwright).

fleet -> site -> bank -> battery with charts that have data drawn, a range change, the live
table's CSV, screenshots of every page at desktop and phone width (390 px, no horizontal
overflow), and the viewer who cannot reach the second site. Screenshots go to
``test-output/browser/`` under the repository (printed at the end).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sites.management.commands.generate_history import generate
from tests.conftest import make_bank, make_bus, make_gateway

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser(portal: str) -> Any:
    """Chromium, started after the data exists: Playwright's sync API runs an event loop in
    this thread, and Django refuses database calls from a thread with a running loop."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def portal(live_server: Any, settings: Any, fleet: Any) -> Any:
    """The live server over the test database, with a bigger bank of history in site 1."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    site = fleet.sites[0]
    bus = make_bus(make_gateway(site)[0])
    make_bank(site, bus=bus, batteries=12, name="String Main")
    generate(site, days=40, raw_hours=6, step=300)
    generate(fleet.sites[1], days=2, raw_hours=2, step=300)
    OUT.mkdir(parents=True, exist_ok=True)
    return live_server.url


def _login(browser: Any, base: str, username: str, viewport: dict[str, int] | None = None) -> Any:
    context = browser.new_context(
        viewport=viewport or {"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    foreign: list[str] = []
    host = urlsplit(base).hostname
    page.on(
        "request", lambda r: urlsplit(r.url).hostname not in (host, None) and foreign.append(r.url)
    )
    page.foreign = foreign
    page.goto(base + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"{username}-pw")
    page.click("form [type=submit]")
    page.wait_for_url(base + "/")
    return page


def _points(page: Any, graph: str) -> int:
    """Markers Plotly drew in a graph's SVG (scatter points or bars)."""
    return page.locator(f"{graph} .scatterlayer path.point, {graph} .barlayer path").count()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def test_manager_journey_and_viewer_scope(browser: Any, portal: str, fleet: Any) -> None:
    page = _login(browser, portal, "manager")

    # fleet
    assert page.locator("#fleet-table tbody tr").count() == 2
    _shot(page, "1-fleet")
    page.click("#fleet-table >> text=Site 1")

    # site dashboard: live table, sorting, refresh without reload, CSV
    page.wait_for_url(f"{portal}/sites/s1/")
    rows = page.locator("#live-table tbody tr")
    assert rows.count() == 15
    page.click("#live-table th[data-key=voltage]")
    volts = [float(v) for v in page.locator("#live-table td[data-key=voltage]").all_inner_texts()]
    assert volts == sorted(volts)
    page.wait_for_selector("#live-table[data-refresh-count]", timeout=20000)
    assert page.locator("#refreshed").inner_text().startswith("updated")
    with page.expect_download() as download_info:
        page.click("#csv-link")
    text = Path(download_info.value.path()).read_text()
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:2] == ["Bank", "Position"] and len(table) == 16
    _shot(page, "2-site")

    # bank view: chart with a point per battery; clicking a point opens that battery
    page.click("#banks >> text=String Main")
    page.wait_for_selector("#bank-chart .scatterlayer path.point")
    assert _points(page, "#bank-chart") == 12
    _shot(page, "3-bank")
    point = page.locator("#bank-chart .scatterlayer path.point").nth(7)
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url(f"{portal}/batteries/*/", timeout=10000)

    # battery: history drawn, range change redraws from rollups
    page.wait_for_selector("#history .scatterlayer path.point")
    assert _points(page, "#history") > 0
    assert "raw readings" in page.locator("#history-source").inner_text()
    assert page.locator("#comparison .scatterlayer path.js-line").count() == 2
    _shot(page, "4-battery-day")
    page.click("#range >> text=Month")
    page.wait_for_selector("#history-source:has-text('hourly rollups')")
    page.wait_for_selector("#history .scatterlayer path.js-line")
    assert page.locator("#history .scatterlayer path.js-line").first.get_attribute("d")
    _shot(page, "5-battery-month")
    assert page.foreign == []

    # phone width: every page without horizontal overflow
    phone = _login(browser, portal, "manager", PHONE)
    battery_url = page.url
    bank_url = f"{portal}/banks/{fleet.banks[0].pk}/"
    for name, url in (
        ("fleet", "/"),
        ("site", "/sites/s1/"),
        ("bank", bank_url),
        ("battery", battery_url),
    ):
        phone.goto(url if url.startswith("http") else portal + url)
        phone.wait_for_timeout(1500)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, name
        _shot(phone, f"6-phone-{name}")

    # the viewer sees site 1 only
    viewer = _login(browser, portal, "viewer")
    assert viewer.locator("#fleet-table tbody tr").count() == 1
    assert viewer.goto(f"{portal}/sites/s2/").status == 404
    assert viewer.goto(f"{portal}/banks/{fleet.banks[1].pk}/").status == 404
    print(f"\nscreenshots in {OUT}")
