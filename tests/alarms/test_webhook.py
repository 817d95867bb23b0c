"""Signed webhooks, checked by a tiny HTTP receiver on loopback that verifies the HMAC."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from alarms.choices import AttemptStatus, Channel, DeliveryStatus
from alarms.models import Notification, Subscription
from alarms.notifications.webhook import SIGNATURE_HEADER, verify
from tests.alarms.conftest import evaluate

SECRET = "s3cret-shared-with-the-receiver"


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    answer = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = verify(SECRET, body, self.headers[SIGNATURE_HEADER])
        type(self).received.append(
            {"ok": ok, "json": json.loads(body), "event": self.headers["X-BMS-Event"]}
        )
        self.send_response(self.answer if ok else 401)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    Receiver.answer = 204
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _hook(plant, url, secret=SECRET):
    return Subscription.objects.create(
        site=plant.site, channel=Channel.WEBHOOK, webhook_url=url, secret=secret
    )


def test_a_webhook_is_posted_with_a_valid_hmac_signature(
    plant, receiver, django_capture_on_commit_callbacks
):
    _hook(plant, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(plant, timezone.now(), {3: {"voltage": 14.5}})
    (got,) = Receiver.received
    assert got["ok"], "signature verified with the shared secret"
    assert got["event"] == "alarm"
    (alarm,) = got["json"]["alarms"]
    assert alarm["kind"] == "voltage_high"
    assert alarm["battery"]["position"] == 3
    assert alarm["value"] == 14.5
    assert alarm["url"].endswith(f"/batteries/{plant.battery(3).pk}/")
    assert Notification.objects.get().status == DeliveryStatus.SENT


def test_a_receiver_refusing_the_signature_is_a_failed_attempt(
    plant, receiver, django_capture_on_commit_callbacks
):
    _hook(plant, receiver, secret="not-the-receivers-secret")
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(plant, timezone.now(), {3: {"voltage": 14.5}})
    n = Notification.objects.get()
    assert n.status == DeliveryStatus.RETRY
    attempt = n.attempt_rows.get()
    assert (attempt.status, attempt.error) == (
        AttemptStatus.ERROR,
        "RuntimeError: HTTP 401 Unauthorized",
    )
