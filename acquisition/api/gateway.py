"""The edge agent's endpoints: ingest and configuration (plain Django views, gateway token auth).

Not DRF on purpose: the ingest is the hot path (a DRF serializer costs ~31 us per reading, orjson
plus plain checks ~1 us; DESIGN.md), and both endpoints authenticate a gateway, not a user.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from acquisition.agentconfig import build_config
from acquisition.ingest import ingest
from acquisition.validation import BadRequest, parse_envelope, parse_json
from sites.models import Gateway, hash_token


def json_response(body: Any, status: int = 200, **headers: str) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), content_type="application/json", status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _unauthorized(message: str) -> HttpResponse:
    return json_response({"error": message}, 401, WWW_Authenticate='Bearer realm="bms-portal"')


def authenticate_gateway(request: HttpRequest) -> Gateway | HttpResponse:
    """The gateway of the request's Bearer token, or a 401 reply naming what is wrong."""
    header = request.headers.get("Authorization")
    if not header:
        return _unauthorized("missing Authorization header (expected 'Bearer <gateway token>')")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return _unauthorized("malformed Authorization header (expected 'Bearer <gateway token>')")
    gateway = Gateway.objects.by_token(token)
    if gateway is not None:
        return gateway
    if Gateway.objects.filter(token_hash=hash_token(token), revoked_at__isnull=False).exists():
        return _unauthorized("gateway token revoked")
    return _unauthorized("unknown gateway token")


@csrf_exempt
@require_POST
@never_cache
def ingest_view(request: HttpRequest) -> HttpResponse:
    """``POST /api/v1/ingest/``: docs/ingest-protocol.md."""
    gateway = authenticate_gateway(request)
    if isinstance(gateway, HttpResponse):
        return gateway
    limit = settings.INGEST_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_big = {"error": f"body over the limit of {limit} bytes; send fewer scans per batch"}
    if declared > limit:
        return json_response(too_big, 413)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        return json_response(too_big, 413)
    try:
        envelope = parse_envelope(parse_json(raw))
    except BadRequest as exc:
        return json_response({"error": exc.error, "detail": exc.detail}, 400)
    return json_response(ingest(gateway, envelope))


@require_GET
@never_cache
def agent_config_view(request: HttpRequest) -> HttpResponse:
    """``GET /api/v1/agent/config/``: the gateway's configuration and its version."""
    gateway = authenticate_gateway(request)
    if isinstance(gateway, HttpResponse):
        return gateway
    return json_response(build_config(gateway))
