"""Sign-in rate limiting, and the client address as the portal sees it behind its proxy.

After ``LOGIN_RATE_LIMIT_ATTEMPTS`` failed sign-ins for one username from one client address
within ``LOGIN_RATE_LIMIT_WINDOW_S`` seconds, every further attempt for that pair - the right
password included - is refused until the window has passed. Other usernames, and the same
username from another address, are not affected. The check lives in the authentication backend,
so it covers every form that calls ``authenticate()`` (the portal's sign-in page and the admin's);
``LoginRateLimitMiddleware`` turns the refused form into a ``429`` with ``Retry-After``.

Counters live in the Django cache (Redis in production, the database table otherwise), so every
gunicorn worker and web node shares them. Each value carries its own window end, so backends
whose ``incr`` resets the expiry (the database cache) keep a fixed window too.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or the entry of ``X-Forwarded-For`` added by our own
    proxies when the portal runs behind them (``API_NUM_PROXIES``, as the API throttles do)."""
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    rest: dict[str, Any] = settings.REST_FRAMEWORK
    proxies = int(rest.get("NUM_PROXIES") or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addrs = [a.strip() for a in forwarded.split(",") if a.strip()]
        if addrs:
            candidate = addrs[-min(proxies, len(addrs))]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                log.warning("ignoring malformed X-Forwarded-For entry %r", candidate[:60])
    return remote


def _key(username: str, ip: str | None) -> str:
    raw = f"{username.strip().lower()}|{ip or '-'}".encode()
    return "login-fail:" + hashlib.sha256(raw).hexdigest()[:40]


def blocked_for(username: str, ip: str | None, now: float | None = None) -> int:
    """Seconds until this username may try again from this address (0: not blocked)."""
    now = time.time() if now is None else now
    state = cache.get(_key(username, ip))
    if not state:
        return 0
    count, until = state
    if count < settings.LOGIN_RATE_LIMIT_ATTEMPTS or until <= now:
        return 0
    return max(1, math.ceil(until - now))


def record_failure(username: str, ip: str | None, now: float | None = None) -> int:
    """Count one failed sign-in; returns the failures in the current window."""
    now = time.time() if now is None else now
    key = _key(username, ip)
    count, until = cache.get(key) or (0, 0.0)
    if until <= now:
        count, until = 0, now + settings.LOGIN_RATE_LIMIT_WINDOW_S
    count += 1
    cache.set(key, (count, until), timeout=max(1, math.ceil(until - now)))
    if count == settings.LOGIN_RATE_LIMIT_ATTEMPTS:
        log.warning(
            "sign-in of %r from %s blocked for %d s after %d failures",
            username[:150],
            ip,
            math.ceil(until - now),
            count,
        )
    return count


def reset(username: str, ip: str | None) -> None:
    """Forget the failures of a pair (after a successful sign-in)."""
    cache.delete(_key(username, ip))


class RateLimitedModelBackend(ModelBackend):
    """Django's username/password backend with the sign-in rate limit in front of it."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(self._username_field(), "")
        if not username:
            return super().authenticate(request, username, password, **kwargs)
        ip = client_ip(request)
        wait = blocked_for(username, ip)
        if wait:
            if request is not None:
                request.login_blocked_for = wait  # type: ignore[attr-defined]
                if hasattr(request, "_messages"):
                    minutes = math.ceil(wait / 60)
                    messages.error(
                        request,
                        f"Too many failed sign-ins. Try again in {minutes} minute(s).",
                    )
            raise PermissionDenied("sign-in rate limit")  # stops the other backends too
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            record_failure(username, ip)
        else:
            reset(username, ip)
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return str(get_user_model().USERNAME_FIELD)


class LoginRateLimitMiddleware:
    """Answer a sign-in refused by the rate limit with ``429 Too Many Requests`` and
    ``Retry-After`` (the page itself is the sign-in form with its error)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        wait = getattr(request, "login_blocked_for", 0)
        if wait and response.status_code == 200:
            response.status_code = 429
            response.reason_phrase = "Too Many Requests"
            response["Retry-After"] = str(wait)
        return response
