"""On-demand downloads and the subscriptions page are scoped: another site is a 404, the fleet
report lists only the sites the user may see."""

from __future__ import annotations

import csv
import io

from sites.reports.models import ReportSubscription
from tests.conftest import make_user


def test_manager_downloads_the_pdf_of_their_site(client, history):
    client.force_login(history.manager)
    response = client.get(
        "/reports/download/", {"site": "s1", "period": "weekly", "date": "2026-11-18"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert 'filename="bms-report-site-1-2026-W47.pdf"' in response["Content-Disposition"]


def test_manager_of_sites_1_and_2_gets_404_for_site_3(client, history):
    client.force_login(history.manager)
    for fmt in ("pdf", "csv"):
        response = client.get("/reports/download/", {"site": "s3", "format": fmt})
        assert response.status_code == 404
    response = client.get("/reports/download/", {"site": "no-such-site"})
    assert response.status_code == 404


def test_fleet_report_lists_only_visible_sites(client, history):
    client.force_login(history.manager)
    response = client.get("/reports/download/", {"period": "weekly", "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    sites = {r["site"] for r in rows if r["site"]}
    assert sites == {"Site 1", "Site 2"}


def test_outsider_fleet_report_is_empty_and_bad_period_is_400(client, history):
    client.force_login(history.outsider)
    response = client.get("/reports/download/", {"format": "csv"})
    assert response.status_code == 200
    assert response.content.decode().splitlines()[1:] == []
    assert client.get("/reports/download/", {"period": "hourly"}).status_code == 400


def test_anonymous_is_sent_to_login(client, history):
    response = client.get("/reports/download/", {"site": "s1"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_subscribe_only_to_visible_sites_and_stop_only_own(client, history):
    client.force_login(history.manager)
    page = client.get("/reports/")
    assert page.status_code == 200 and b"Site 3" not in page.content
    bad = client.post("/reports/", {"site": history.sites[2].pk, "period": "daily",
                                    "send_pdf": "on"})  # fmt: skip
    assert bad.status_code == 200 and not ReportSubscription.objects.exists()
    ok = client.post("/reports/", {"site": history.sites[0].pk, "period": "weekly",
                                   "send_pdf": "on", "send_csv": "on"})  # fmt: skip
    assert ok.status_code == 302
    sub = ReportSubscription.objects.get()
    assert sub.user == history.manager and sub.active
    other = make_user("other")
    client.force_login(other)
    assert client.post(f"/reports/{sub.pk}/stop/").status_code == 404
    client.force_login(history.manager)
    assert client.post(f"/reports/{sub.pk}/stop/").status_code == 302
    sub.refresh_from_db()
    assert not sub.active
