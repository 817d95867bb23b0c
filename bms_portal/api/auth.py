"""``Authorization: Token <key>`` (or ``Bearer <key>``) with a personal API token.

A revoked or expired token is refused at once (401); a header with another scheme is left to the
next authentication class (the portal session).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from bms_portal.api import tokens
from bms_portal.models import ApiToken

KEYWORDS = ("token", "bearer")


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates as the user who owns the token; ``request.auth`` is the ``ApiToken``."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower().decode(errors="replace") not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "malformed Authorization header: expected 'Token <key>'", code="invalid_token"
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "the key has characters no key has", code="invalid_token"
            ) from None
        return self.authenticate_key(key)

    def authenticate_key(self, key: str) -> tuple[Any, ApiToken]:
        token = tokens.find_token(key)
        if token is None:
            raise exceptions.AuthenticationFailed("unknown token", code="invalid_token")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("token revoked", code="token_revoked")
        if not token.is_active:
            raise exceptions.AuthenticationFailed("token expired", code="token_expired")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("user inactive", code="user_inactive")
        tokens.note_use(token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        """Makes unauthenticated requests a 401 (not 403), with this challenge."""
        return 'Token realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The token in the OpenAPI schema (Swagger UI's "Authorize" sends it as Bearer)."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token: `Authorization: Bearer <key>` or `Token <key>`.",
        }
