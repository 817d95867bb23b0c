"""Report e-mails through a real SMTP server on loopback (aiosmtpd): every attempt recorded,
a failure retried, and (the issue's "Done when") a scheduled report arriving with its PDF and
CSV, whose pages are saved as PNG screenshots under test-output/reports/."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from PIL import Image, ImageStat

from sites.reports import actions, delivery, tasks
from sites.reports.models import ReportDelivery, ReportSubscription
from tests.reports.conftest import NOW, SmtpServer, free_port

OUTPUT = Path(django_settings.BASE_DIR) / "test-output" / "reports"


def subscribe(user: Any, site: Any, **fields: Any) -> ReportSubscription:
    user.email = f"{user.username}@example.test"
    user.save()
    return ReportSubscription.objects.create(
        user=user, site=site, period="weekly", next_run=NOW - dt.timedelta(hours=1), **fields
    )


def attachments(message: Any) -> dict[str, tuple[str, bytes]]:
    return {
        part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
        for part in message.walk()
        if part.get_filename()
    }


def to_pngs(pdf: bytes, name: str) -> list[Path]:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.glob(f"{name}-*.png"):
        old.unlink()
    (OUTPUT / f"{name}.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(OUTPUT / f"{name}.pdf"), str(OUTPUT / name)],
        check=True,
    )
    return sorted(OUTPUT.glob(f"{name}-*.png"))


def test_scheduled_report_arrives_with_pdf_and_csv(
    history, smtp, django_capture_on_commit_callbacks
):
    sub = subscribe(history.manager, history.sites[0])
    with django_capture_on_commit_callbacks(execute=True):
        (delivery_id,) = actions.claim_due(NOW)
    (message,) = smtp.inbox.messages
    assert message["To"] == "manager@example.test"
    assert (
        message["Subject"]
        == "[BMS] Weekly report: Site 1, week 2026-W47 (2026-11-16 to 2026-11-22)"
    )
    files = attachments(message)
    pdf_type, pdf = files["bms-report-site-1-2026-W47.pdf"]
    csv_type, csv_bytes = files["bms-report-site-1-2026-W47.csv"]
    assert (pdf_type, csv_type) == ("application/pdf", "text/csv")
    assert pdf.startswith(b"%PDF") and b"section,site" in csv_bytes
    d = ReportDelivery.objects.get(pk=delivery_id)
    assert (d.status, d.attempts, d.error) == ("sent", 1, "")
    assert d.subscription == sub and d.sent_at and d.duration_ms is not None
    pages = to_pngs(pdf, "scheduled-site-report")
    print(f"\nreport screenshots: {', '.join(str(p) for p in pages)}")
    assert len(pages) >= 3
    for page in pages:
        stats = ImageStat.Stat(Image.open(page).convert("L"))
        assert stats.stddev[0] > 10, f"{page} looks blank"
    # charts draw coloured bars (green/amber/red): find them on some page
    colours = 0
    for page in pages:
        rgb = Image.open(page).convert("RGB")
        counts = rgb.getcolors(rgb.width * rgb.height) or []
        colours += sum(n for n, (r, g, b) in counts if g > 100 and r < 80 and b < 80)
    assert colours > 500, "no chart bars found in the PDF pages"


def test_failed_send_is_recorded_and_retried_until_delivered(
    history, settings, django_capture_on_commit_callbacks
):
    port = free_port()  # nobody listens here yet: the SMTP server is "down"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.REPORTS_RETRY_BASE_S = 60
    subscribe(history.manager, None, send_pdf=False)  # the fleet report, CSV only
    with django_capture_on_commit_callbacks(execute=True):
        (delivery_id,) = actions.claim_due(NOW)
    d = ReportDelivery.objects.get(pk=delivery_id)
    assert (d.status, d.attempts) == ("retry", 1)
    assert "Connection refused" in d.error or "ConnectionRefused" in d.error
    # the attempt ran at max(NOW, the real clock) (a task never acts in the past): retry 60 s on
    attempted = dt.datetime.fromisoformat(d.attempt_log[0]["at"])
    assert attempted >= NOW and d.next_attempt_at == attempted + dt.timedelta(seconds=60)
    assert d.attempt_log[0]["error"] == d.error

    server = SmtpServer(port)
    server.start()
    try:
        assert delivery.deliver(delivery_id, NOW + dt.timedelta(seconds=30)) is None  # not due
        tasks.send_due((attempted + dt.timedelta(minutes=5)).isoformat())  # the beat's backstop
    finally:
        server.stop()
    d.refresh_from_db()
    assert (d.status, d.attempts, d.error) == ("sent", 2, "")
    assert [a["error"] == "" for a in d.attempt_log] == [False, True]
    (message,) = server.inbox.messages
    assert list(attachments(message)) == ["bms-report-fleet-2026-W47.csv"]
    assert delivery.deliver(delivery_id, NOW + dt.timedelta(hours=1)) is None  # sent: never again


def test_user_who_lost_access_fails_for_good(history, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    subscribe(history.viewer, history.sites[0])
    history.viewer.site_memberships.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        (delivery_id,) = actions.claim_due(NOW)
    d = ReportDelivery.objects.get(pk=delivery_id)
    assert d.status == "failed" and "may no longer see" in d.error
