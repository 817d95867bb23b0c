"""Content-Security-Policy header on every HTML response.

Scripts may come only from the portal itself, plus the few inline scripts the pages need, each
allowed by the SHA-256 hash of its exact text (computed here at start-up). There is no
``'unsafe-inline'`` for scripts, so injected markup cannot run code.

- Dash (django-plotly-dash's ``{% plotly_direct %}``) writes ``var renderer = new
  DashRenderer();`` inline: hashed below. Its ``_dash-config`` block is
  ``type="application/json"``: data, never executed, so it needs nothing.
- ``style-src`` allows ``'unsafe-inline'``: Plotly sets ``style`` attributes and inserts
  ``<style>`` elements at run time (as do the Swagger UI and the Django admin), and a style cannot
  run code. Scripts stay strict.
- ``img-src`` allows ``data:`` and ``blob:`` (Plotly's icons and its "download as PNG").

A test (tests/ops/test_csp.py) renders a chart page and checks that every inline script on it is
allowed, so an upgrade of django-plotly-dash that changes its bootstrap fails the suite instead
of leaving a blank chart. ``CSP_EXTRA_SCRIPT_HASHES`` adds hashes without a code change;
``CSP_REPORT_ONLY=1`` sends the policy as ``Content-Security-Policy-Report-Only`` (try a change
first), ``CSP_REPORT_URI`` names where browsers report violations.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

#: Inline scripts the portal's own pages contain, exactly as rendered.
INLINE_SCRIPTS: tuple[str, ...] = (
    # django_plotly_dash.templatetags.plotly_dash.plotly_direct (2.x)
    "var renderer = new DashRenderer();",
)


def script_hash(text: str) -> str:
    """The CSP source expression allowing an inline script with exactly this text."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def build_policy(extra_hashes: Iterable[str] = (), report_uri: str = "") -> str:
    """The policy string: strict for scripts, see the module docstring for every exception."""
    hashes = [script_hash(s) for s in INLINE_SCRIPTS]
    hashes += [h if h.startswith("'") else f"'{h}'" for h in extra_hashes]
    directives = [
        "default-src 'self'",
        "script-src 'self' " + " ".join(hashes),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    if report_uri:
        directives.append(f"report-uri {report_uri}")
    return "; ".join(directives)


class ContentSecurityPolicyMiddleware:
    """Adds the policy to HTML responses that do not set their own (the policy is built once)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.enabled: bool = getattr(settings, "CSP_ENABLED", True)
        self.header = (
            "Content-Security-Policy-Report-Only"
            if getattr(settings, "CSP_REPORT_ONLY", False)
            else "Content-Security-Policy"
        )
        self.policy = build_policy(
            getattr(settings, "CSP_EXTRA_SCRIPT_HASHES", ()),
            getattr(settings, "CSP_REPORT_URI", ""),
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            self.enabled
            and response.get("Content-Type", "").startswith("text/html")
            and "Content-Security-Policy" not in response
            and "Content-Security-Policy-Report-Only" not in response
        ):
            response[self.header] = self.policy
        return response
