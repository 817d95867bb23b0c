"""Rate limits per user, per personal token and per anonymous IP (``REST_FRAMEWORK`` rates).

Fixed windows: a rate of ``1000/hour`` allows 1000 requests per clock hour; a refused request
gets 429 with ``Retry-After`` = seconds to the next window. The counters are shared by every web
worker: Redis (the cache's atomic INCR) when ``REDIS_URL`` is set, else one upsert on
``ApiRateWindow`` in PostgreSQL (Django's database cache would cost six queries per request).

Rates are read from ``DEFAULT_THROTTLE_RATES`` on each request (DRF's throttles read them once
at import), so a settings override applies at once; a rate of None switches that limit off.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from bms_portal.models import ApiRateWindow, ApiToken

if TYPE_CHECKING:  # rest_framework.views imports the throttles: no import cycle at run time
    from rest_framework.request import Request
    from rest_framework.views import APIView

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_UPSERT = f"""
INSERT INTO {ApiRateWindow._meta.db_table} AS w (key, window_start, hits)
VALUES (%s, to_timestamp(%s), 1)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN w.window_start = EXCLUDED.window_start THEN w.hits + 1 ELSE 1 END,
    window_start = EXCLUDED.window_start
RETURNING hits
"""  # noqa: S608 (the table name is ours)


def parse_rate(rate: str) -> tuple[int, int]:
    """``"1000/hour"`` -> (1000, 3600)."""
    num, period = rate.split("/")
    return int(num), _PERIODS[period[0]]


def hit(key: str, window_start: int, duration: int) -> int:
    """Count one request of ``key`` in the window starting at ``window_start`` (epoch seconds);
    returns the window's count so far, this request included."""
    cache = caches["default"]
    if isinstance(cache, DatabaseCache):
        with connection.cursor() as cursor:
            if connection.in_atomic_block:
                cursor.execute(_UPSERT, [key, window_start])
                return int(cursor.fetchone()[0])
            # Its own transaction (autocommit): do not wait for the WAL flush (~3 ms, most of a
            # cached GET). A crash can lose the last fraction of a second of counts, never
            # anyone else's data; one round trip (the SET is local to this implicit transaction).
            cursor.execute("SET LOCAL synchronous_commit TO OFF;" + _UPSERT, [key, window_start])
            cursor.cursor.nextset()  # psycopg's cursor: on to the upsert's result
            return int(cursor.fetchone()[0])
    cache_key = f"throttle:{key}:{window_start}"
    cache.add(cache_key, 0, timeout=duration + 1)
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # expired between add and incr: a new window
        cache.set(cache_key, 1, timeout=duration + 1)
        return 1


class _WindowThrottle(BaseThrottle):
    scope = ""
    wait_s: float | None = None

    def ident(self, request: Request) -> Any:
        """What is counted (a user id, a token id, an IP); None: this limit does not apply."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: APIView) -> bool:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        ident = self.ident(request) if rate else None
        if rate is None or ident is None:
            return True
        limit, duration = parse_rate(rate)
        now = time.time()
        window_start = int(now // duration * duration)
        if hit(f"{self.scope}:{ident}", window_start, duration) <= limit:
            return True
        self.wait_s = window_start + duration - now
        return False

    def wait(self) -> float | None:
        return None if self.wait_s is None else math.ceil(self.wait_s)


class AnonThrottle(_WindowThrottle):
    """Callers who are not signed in, per client IP."""

    scope = "anon"

    def ident(self, request: Request) -> Any:
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)


class UserThrottle(_WindowThrottle):
    """A signed-in user, over the portal session and all their tokens together."""

    scope = "user"

    def ident(self, request: Request) -> Any:
        return request.user.pk if request.user and request.user.is_authenticated else None


class TokenThrottle(_WindowThrottle):
    """One personal API token (a script cannot use up its owner's whole allowance)."""

    scope = "token"

    def ident(self, request: Request) -> Any:
        return request.auth.pk if isinstance(request.auth, ApiToken) else None
