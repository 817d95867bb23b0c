"""One error format for the whole API: ``{"error": "<code>", "detail": <message or field errors>}``.

``exception_handler`` is DRF's ``EXCEPTION_HANDLER``; ``page_not_found`` and friends are the
project's Django error handlers (``bms_portal.urls``), answering in the same format on ``/api/``
paths (an unknown URL, an unhandled exception) and with the usual pages elsewhere. The codes are
listed in ``ERROR_CODES`` and in docs/api.md.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

#: Every ``error`` code the API answers with, and its HTTP status (docs/api.md lists them too).
ERROR_CODES: dict[str, int] = {
    "invalid": 400,
    "parse_error": 400,
    "not_authenticated": 401,
    "invalid_token": 401,
    "token_revoked": 401,
    "token_expired": 401,
    "user_inactive": 401,
    "authentication_failed": 401,
    "permission_denied": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "conflict": 409,
    "unsupported_media_type": 415,
    "throttled": 429,
    "server_error": 500,
}
API_PREFIX = "/api/"


def error_body(code: str, detail: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail}


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    return code if code in ERROR_CODES else str(exc.default_code)


def _as_api_exception(exc: Exception) -> exceptions.APIException | None:
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc if isinstance(exc, exceptions.APIException) else None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped; None (a 500 from ``server_error``) for unexpected exceptions."""
    api_exc = _as_api_exception(exc)
    if api_exc is None:
        return None
    headers: dict[str, str] = {}
    if isinstance(api_exc, exceptions.Throttled) and api_exc.wait is not None:
        headers["Retry-After"] = str(max(1, round(api_exc.wait)))
    if auth_header := getattr(api_exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    set_rollback()
    request = context.get("request")
    renderer = getattr(request, "accepted_renderer", None)
    if request is not None and renderer is not None and renderer.format not in {"json", "api"}:
        # e.g. a CSV download that failed: the error is still JSON
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    body = error_body(_code_of(api_exc), api_exc.detail)
    return Response(body, status=api_exc.status_code, headers=headers)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        detail = "no API endpoint at this address; the endpoints are listed at /api/docs/"
        return JsonResponse(error_body("not_found", detail), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        detail = "unexpected server error; it has been logged"
        return JsonResponse(error_body("server_error", detail), status=500)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("invalid", "bad request"), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        body = error_body("permission_denied", str(exception) or "forbidden")
        return JsonResponse(body, status=403)
    return defaults.permission_denied(request, exception)
