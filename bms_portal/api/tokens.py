"""Personal API tokens: issue, revoke, look up, and note their use (the operations, no HTTP)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bms_portal.models import ApiToken, hash_api_key

#: ``last_used_at`` is written at most this often per token (one conditional UPDATE).
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
#: Tokens a user may hold at once (revoked ones do not count).
MAX_ACTIVE_TOKENS = 50


class TokenLimitReached(Exception):
    """The user already holds ``MAX_ACTIVE_TOKENS`` usable tokens."""


@transaction.atomic
def create_token(
    user: Any, name: str, expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns it and its key in clear (shown once, stored hashed)."""
    if ApiToken.objects.filter(user=user).active().count() >= MAX_ACTIVE_TOKENS:
        raise TokenLimitReached(f"at most {MAX_ACTIVE_TOKENS} active tokens; revoke unused ones")
    token = ApiToken(user=user, name=name, expires_at=expires_at)
    key = token.set_new_key()
    token.save()
    return token, key


def revoke_token(token: ApiToken) -> None:
    """Revoke at once: the next request with the key is a 401. A second revoke changes nothing."""
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    token.refresh_from_db(fields=["revoked_at"])


def find_token(key: str) -> ApiToken | None:
    """The token of a key (revoked and expired ones included), with its user; None if unknown."""
    return ApiToken.objects.select_related("user").filter(key_hash=hash_api_key(key)).first()


def note_use(token: ApiToken, now: dt.datetime | None = None) -> None:
    """Set ``last_used_at``, at most once a minute per token, whichever worker gets there first.

    The in-memory value skips the query on most requests; the conditional UPDATE keeps concurrent
    workers from writing the row on every request.
    """
    now = now or timezone.now()
    cutoff = now - LAST_USED_RESOLUTION
    if token.last_used_at is not None and token.last_used_at > cutoff:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff)
    ).update(last_used_at=now)
    token.last_used_at = now
