"""The edge agents' ingest POSTs go straight to their view; every other request to Django.

Every scan of every gateway is one ``POST /api/v1/ingest/``. Django's request handler costs that
request ~0.9 ms of the web process's CPU (URL resolution, twelve middleware, response
processing): about a fifth of the web side's CPU for a 240-reading scan (in-process, 400
requests each way in alternating blocks: median 7.47 -> 6.59 ms of CPU per request, the test's
own request building included). docs/storage.md has the ``make bench`` figures.

None of the middleware does anything for this endpoint: no session, user, CSRF (token auth,
``csrf_exempt``), messages, static files, Dash, rate-limited sign-in or replica reads (it
writes); CSP and X-Frame-Options only matter for HTML. What the fast path keeps of Django's
handling, so the endpoint answers exactly as before:

- the ``request_started`` / ``request_finished`` signals (a database connection that is broken
  or older than ``CONN_MAX_AGE`` is closed between requests, query logs reset);
- ``SecurityMiddleware``'s response headers (``X-Content-Type-Options: nosniff``, ...);
- an unexpected exception is logged on ``django.request`` and answered as Django answers it
  (``response_for_exception``: 500, ``got_request_exception`` sent);
- anything the fast path would judge differently goes to Django instead, before the body is
  read: another method (405 there), a ``Host`` not in ``ALLOWED_HOSTS`` (400),
  plain HTTP while ``SECURE_SSL_REDIRECT`` is on (the redirect).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import get_script_prefix, reverse, set_script_prefix

StartResponse = Callable[..., Any]


class AgentFastPath:
    """WSGI application: ``POST`` to the ingest URL -> the view; the rest -> ``django_app``."""

    def __init__(self, django_app: WSGIHandler) -> None:
        self.django_app = django_app
        self._path: str | None = None  # the ingest URL's path, resolved on first use
        self._security = SecurityMiddleware(lambda request: HttpResponse())

    @property
    def path(self) -> str:
        if self._path is None:  # without the deployment's SCRIPT_NAME, like PATH_INFO
            self._path = "/" + reverse("ingest")[len(get_script_prefix()) :]
        return self._path

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != self.path:
            return self.django_app(environ, start_response)
        request = WSGIRequest(environ)
        if not self._plain(request):
            return self.django_app(environ, start_response)
        from acquisition.api.gateway import ingest_view

        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            response = ingest_view(request)
        except Exception as exc:  # answered and logged as Django's handler does
            response = response_for_exception(request, exc)
        response = self._security.process_response(request, response)
        response._resource_closers.append(request.close)  # Django's handler does the same
        start_response(
            f"{response.status_code} {response.reason_phrase}",
            [
                *response.items(),
                *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
            ],
        )
        return response  # the server's close() sends request_finished

    def _plain(self, request: WSGIRequest) -> bool:
        """Whether Django's middleware would let the request through unchanged."""
        if self._security.process_request(request) is not None:  # the HTTPS redirect
            return False
        try:
            request.get_host()
        except DisallowedHost:
            return False
        return True
