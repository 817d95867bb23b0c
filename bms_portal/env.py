"""Typed helpers that read settings from environment variables.

Each helper raises ``ImproperlyConfigured`` naming the variable when a value is missing or
malformed,
so a bad deployment fails at start-up with a message that says what to fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    """A string; ``NAME_FILE`` (a path) is read instead when set, for secrets."""
    file_var = os.environ.get(f"{name}_FILE")
    if file_var:
        try:
            return Path(file_var).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_var!r} cannot be read: {exc}") from exc
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_database_url(url: str, *, name: str = "DATABASE_URL") -> dict[str, object]:
    """A ``postgres://`` / ``postgresql://`` URL -> a Django ``DATABASES`` entry.

    The host may be a socket directory given as ``?host=/path`` (as the embedded server reports it).
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"{name} must start with postgresql:// (got scheme {parts.scheme!r}); "
            "PostgreSQL is the only supported database"
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.pop("host", None) or (unquote(parts.hostname) if parts.hostname else "")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise ImproperlyConfigured(f"{name} names no database (postgresql://user@host:port/NAME)")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has a malformed port") from None
    options: dict[str, object] = dict(query)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": dbname,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port or ""),
        "OPTIONS": options,
    }


def cache_settings(redis_url: str) -> dict[str, object]:
    """``CACHES`` and ``SESSION_ENGINE`` for a ``REDIS_URL`` (empty: none).

    Redis when there is one: sessions are then read from it and written through to the database
    (they survive a Redis restart), one database round trip less on every signed-in page and API
    call. Without it, a database table (bms_portal/migrations/0003_cache_table, or
    ``manage.py createcachetable``) and database sessions.
    """
    if redis_url:
        cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
        engine = "django.contrib.sessions.backends.cached_db"
    else:
        cache = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "bms_cache"}
        engine = "django.contrib.sessions.backends.db"
    return {"CACHES": {"default": {**cache, "KEY_PREFIX": "bms"}}, "SESSION_ENGINE": engine}
