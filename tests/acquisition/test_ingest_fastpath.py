"""The WSGI application's fast path: ingest POSTs reach their view outside Django's handler and
answer exactly as through it; every other request is Django's (bms_portal/fastpath.py).

In-process WSGI calls here; the end-to-end tests (agent -> gunicorn) run the same application
over real HTTP.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import RequestFactory

from acquisition.models import LatestReading, Reading
from bms_portal.fastpath import AgentFastPath
from bms_portal.wsgi import application
from tests.acquisition.conftest import body, full_scan, now_ms

INGEST = "/api/v1/ingest/"


@contextlib.contextmanager
def _test_connection_kept() -> Iterator[None]:
    """As Django's test client does: the request signals must not close the test's connection
    (it holds the test's transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


class Reply:
    def __init__(self, status: str, headers: list[tuple[str, str]], content: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.headers = dict(headers)
        self.content = content

    def json(self) -> Any:
        return orjson.loads(self.content)


def call(app: Any, method: str, payload: Any = None, *, token: str | None, **extra: Any) -> Reply:
    """One request through the WSGI application ``app``, closed as a server closes it."""
    factory = RequestFactory()
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    request = factory.generic(method, INGEST, data, "application/json", **auth, **extra)
    started: list[tuple[str, list[tuple[str, str]]]] = []
    with _test_connection_kept():
        result = app(request.environ, lambda status, headers: started.append((status, headers)))
        try:
            content = b"".join(result)
        finally:
            result.close()  # type: ignore[attr-defined]
    ((status, headers),) = started
    return Reply(status, headers, content)


@pytest.fixture
def django_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests the fast path handed to Django (method and path)."""
    calls: list[str] = []
    inner = application.django_app

    def spy(environ: dict[str, Any], start_response: Any) -> Any:
        calls.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return inner(environ, start_response)

    monkeypatch.setattr(application, "django_app", spy)
    return calls


def test_an_ingest_post_is_stored_without_django_s_handler(setup: Any, django_calls: list[str]):
    t0 = now_ms()
    reply = call(application, "POST", body(full_scan(setup, t0)), token=setup.token)
    assert reply.status_code == 200, reply.content
    assert reply.json()["accepted"] == 5
    assert django_calls == []
    assert Reading.objects.filter(battery__in=setup.batteries, ts=t0).count() == 4
    assert LatestReading.objects.get(battery=setup.batteries[0]).ts == t0
    # What Django's middleware and the view's decorators put on the reply is still there.
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-cache" in reply.headers["Cache-Control"]


@pytest.mark.parametrize(
    ("payload", "token", "status"),
    [
        (b'{"scans": [', "valid", 400),  # malformed JSON
        ({"scans": "no"}, "valid", 400),  # wrong type
        ({"scans": []}, "wrong", 401),
        ({"scans": []}, None, 401),
    ],
)
def test_errors_answer_as_through_django(
    setup: Any, django_calls: list[str], payload: Any, token: str | None, status: int
) -> None:
    token = {"valid": setup.token, "wrong": "not-a-token"}.get(token or "")
    fast = call(application, "POST", payload, token=token)
    through_django = call(application.django_app, "POST", payload, token=token)
    assert django_calls == ["POST /api/v1/ingest/"]  # only the reference call above
    assert fast.status_code == through_django.status_code == status
    assert fast.json() == through_django.json()
    assert fast.json()["error"]
    for header in ("Content-Type", "WWW-Authenticate", "X-Content-Type-Options"):
        assert fast.headers.get(header) == through_django.headers.get(header), header


def test_requests_the_fast_path_would_judge_differently_go_to_django(
    setup: Any, django_calls: list[str]
) -> None:
    payload = body(full_scan(setup, now_ms()))
    assert call(application, "GET", None, token=setup.token).status_code == 405
    bad_host = call(application, "POST", payload, token=setup.token, HTTP_HOST="evil.example")
    assert bad_host.status_code == 400
    assert django_calls == [f"GET {INGEST}", f"POST {INGEST}"]
    assert not Reading.objects.exists()


def test_plain_http_is_redirected_when_https_is_required(setup: Any, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True  # read once, when the middleware is built
    app = AgentFastPath(WSGIHandler())
    payload = body(full_scan(setup, now_ms()))
    redirected = call(app, "POST", payload, token=setup.token)
    assert redirected.status_code == 301
    assert redirected.headers["Location"] == f"https://testserver{INGEST}"
    assert not Reading.objects.exists()
    secure = call(app, "POST", payload, token=setup.token, **{"wsgi.url_scheme": "https"})
    assert secure.status_code == 200
    assert secure.json()["accepted"] == 5


def test_an_unexpected_error_is_logged_and_answered_like_django(
    setup: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("acquisition.api.gateway.ingest", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        reply = call(application, "POST", body(full_scan(setup, now_ms())), token=setup.token)
    assert reply.status_code == 500
    logged = [r for r in caplog.records if r.name == "django.request"]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "disk on fire" in str(logged[0].exc_info[1])


def test_the_request_signals_are_sent_so_database_connections_are_recycled(setup: Any) -> None:
    seen: list[str] = []

    def started(**kwargs: Any) -> None:
        seen.append("started")

    def finished(**kwargs: Any) -> None:
        seen.append("finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        call(application, "POST", body(full_scan(setup, now_ms())), token=setup.token)
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert seen == ["started", "finished"]
